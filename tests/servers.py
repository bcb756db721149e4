"""Local test servers on 127.0.0.1: moto (S3), wsgidav (WebDAV), gcp-storage-emulator (GCS),
asyncssh (SFTP), Azurite (Azure Blob Storage) and s3rver (S3, for benchmarks), both
installed from npm into the suite's cache.

Each starts on a free port as a subprocess and stops when the context exits.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        try:
            if url.startswith("tcp://"):
                host, port = url[len("tcp://") :].split(":")
                socket.create_connection((host, int(port)), timeout=1).close()
            else:
                urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not start")


@contextlib.contextmanager
def _serve(args: list[str], probe: str, log: Path) -> Iterator[None]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    with open(log, "wb") as fh:
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=env)
        try:
            _wait(probe, proc)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _exe(name: str) -> str:
    """A console script of this Python: on PATH, else in its scripts folder."""
    import sysconfig

    return shutil.which(name) or str(Path(sysconfig.get_path("scripts")) / name)


@contextlib.contextmanager
def moto_server(workdir: Path) -> Iterator[str]:
    """Yields the endpoint URL of a moto S3 server."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with _serve(
        [_exe("moto_server"), "-H", "127.0.0.1", "-p", str(port)], url, workdir / "moto.log"
    ):
        yield url


@contextlib.contextmanager
def webdav_server(workdir: Path) -> Iterator[str]:
    """Yields the base URL of a wsgidav server over an empty folder (anonymous access).

    Served by gunicorn: under wsgidav's default cheroot, Go's WebDAV client (litestream)
    meets "400 Malformed Request-Line" and broken pipes on reused connections."""
    port = free_port()
    root = workdir / "webdav-root"
    root.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    args = [
        _exe("wsgidav"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--root",
        str(root),
        "--auth",
        "anonymous",
        "--no-config",
        "--server",
        "gunicorn",
        "-q",
    ]
    with _serve(args, url + "/", workdir / "wsgidav.log"):
        yield url


@contextlib.contextmanager
def gcs_server(workdir: Path) -> Iterator[str]:
    """Yields the endpoint URL of gcp-storage-emulator (in memory)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        _exe("gcp-storage-emulator"),
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--in-memory",
    ]
    with _serve(args, url + "/storage/v1/b", workdir / "gcs.log"):
        yield url


@contextlib.contextmanager
def sftp_server(workdir: Path) -> Iterator[str]:
    """Yields ``sftp://ltx:secret@127.0.0.1:PORT`` of an asyncssh server over an empty folder."""
    import sys

    port = free_port()
    root = workdir / "sftp-root"
    root.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, str(Path(__file__).with_name("sftp_server.py")), str(port), str(root)]
    with _serve(args, f"tcp://127.0.0.1:{port}", workdir / "sftp.log"):
        yield f"sftp://ltx:secret@127.0.0.1:{port}"


AZURITE_VERSION = "3.37.0"
# Azurite's well-known development account (public, in Microsoft's docs): not a secret.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


class ToolMissing(RuntimeError):
    """A tool the suite would install with is absent (npm); outside CI the tests skip."""


def _npm_tool_works(folder: Path, binary: str, version: str) -> bool:
    exe = folder / "node_modules" / ".bin" / binary
    if not exe.is_file():
        return False
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() == version


def npm_tool(package: str, version: str, binary: str) -> str:
    """Path to ``binary`` of the pinned npm ``package``, installed into the suite's cache on
    first use (``~/.cache/ltx-tests/<package>-<version>`` or ``$LTX_TESTS_CACHE``).

    Safe across processes: a lock file serialises installs, and the install lands in a
    temp folder renamed into place once it works. npm's own cache stays inside ours.
    """
    from tests.legacy_harness import CACHE_DIR

    target = CACHE_DIR / f"{package}-{version}"
    exe = str(target / "node_modules" / ".bin" / binary)
    if _npm_tool_works(target, binary, version):
        return exe
    npm = shutil.which("npm")
    if npm is None:
        raise ToolMissing(f"npm is not on PATH: cannot install {package}")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / f".{package}-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _npm_tool_works(target, binary, version):
            return exe
        tmp = Path(tempfile.mkdtemp(dir=CACHE_DIR, prefix=f".install-{package}-"))
        try:
            args = [npm, "install", "--prefix", str(tmp), "--no-audit", "--no-fund",
                    "--no-update-notifier", "--cache", str(CACHE_DIR / ".npm"),
                    f"{package}@{version}"]  # fmt: skip
            done = subprocess.run(args, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                raise RuntimeError(f"npm install {package} failed: {done.stderr[-2000:]}")
            if not _npm_tool_works(tmp, binary, version):
                raise RuntimeError(f"{package}@{version} has no working {binary}")
            shutil.rmtree(target, ignore_errors=True)
            tmp.chmod(0o755)
            tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return exe


def azurite_blob() -> str:
    """Path to the pinned ``azurite-blob`` (``npm_tool``)."""
    return npm_tool("azurite", AZURITE_VERSION, "azurite-blob")


S3RVER_VERSION = "3.7.1"
S3RVER_KEY = "S3RVER"  # s3rver's one account: access key id and secret are both this


@contextlib.contextmanager
def s3rver_server(workdir: Path) -> Iterator[str]:
    """Yields the endpoint URL of s3rver (npm ``s3rver``, "Fake S3 server for node"), which
    serves ranged GETs from the stored file (moto reads the whole object for each); its
    credentials are ``S3RVER_KEY`` for both id and secret; path-style buckets only."""
    exe = npm_tool("s3rver", S3RVER_VERSION, "s3rver")
    port = free_port()
    data = workdir / "s3rver"
    data.mkdir(exist_ok=True)
    args = [exe, "-d", str(data), "-a", "127.0.0.1", "-p", str(port), "--silent",
            "--no-vhost-buckets"]  # fmt: skip
    with _serve(args, f"tcp://127.0.0.1:{port}", workdir / "s3rver.log"):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def azurite_server(workdir: Path) -> Iterator[str]:
    """Yields the blob endpoint ``http://127.0.0.1:PORT/devstoreaccount1`` of Azurite
    (in memory, no telemetry, any API version the clients send)."""
    exe = azurite_blob()
    port = free_port()
    args = [
        exe,
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--loose",
        "--silent",
    ]
    with _serve(args, f"tcp://127.0.0.1:{port}", workdir / "azurite.log"):
        yield f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
