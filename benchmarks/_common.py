"""Shared benchmark helpers: build a large SQLite database, run commands for time and peak
RSS, and compare outputs. Puts the repository root on sys.path so benchmarks import the
test helpers as ``tests.servers`` / ``tests.litestream_harness``."""

from __future__ import annotations

import filecmp
import importlib.util
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

S3_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}


def ltx_cli() -> list[str]:
    """``python -m ltx`` (or ``-m ltx.cli`` for trees before ``ltx/__main__.py`` existed)."""
    mod = "ltx" if importlib.util.find_spec("ltx.__main__") is not None else "ltx.cli"
    return [sys.executable, "-m", mod]


def same_file(a: Path, b: Path) -> bool:
    """Byte-identical (streamed, not read into memory)."""
    return filecmp.cmp(a, b, shallow=False)


def s3_client(endpoint: str, env: dict[str, str] = S3_ENV):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def make_db(path: Path, mib: int, *, page_size: int = 4096, seed: int = 1) -> int:
    """A SQLite file of about ``mib`` MiB of random blobs (rollback journal); returns rows."""
    rnd = random.Random(seed)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute(f"PRAGMA page_size={page_size}")
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
    rows = (mib << 20) // 3000
    con.execute("BEGIN")
    for i in range(rows):
        con.execute(
            "INSERT INTO t (id, v) VALUES (?, ?)", (i + 1, rnd.randbytes(1500) + bytes(1400))
        )
    con.execute("COMMIT")
    con.execute("PRAGMA journal_mode=DELETE")
    con.close()
    return rows


def run_measured(args: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run a command; return (seconds, peak RSS in MiB, stdout). Raises on failure."""
    dt, rss, out, _ = run_limited(args, env)
    return dt, rss, out


def run_limited(
    args: list[str],
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    on_line: Callable[[str], None] | None = None,
) -> tuple[float, int, str, bool]:
    """Run a command; return (seconds, peak RSS in MiB, stdout, timed_out).

    Peak RSS is the child's own VmHWM, polled from /proc until it exits (wait4's
    ru_maxrss would include the parent's RSS inherited at fork). After ``timeout``
    seconds the child is killed and what it printed so far is returned with
    ``timed_out`` True; otherwise a non-zero exit raises RuntimeError. ``on_line`` is
    called with each line of stdout as it arrives.
    """
    import threading

    t0 = time.perf_counter()
    if env is None:
        env = clean_env()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    hwm = 0
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []

    def drain(stream: object, into: list[bytes]) -> None:
        if on_line is None or stream is proc.stderr:
            into.append(stream.read())  # type: ignore[attr-defined]
            return
        for line in stream:  # type: ignore[attr-defined]
            into.append(line)
            on_line(line.decode(errors="replace"))

    readers = [
        threading.Thread(target=drain, args=(proc.stdout, out_chunks)),
        threading.Thread(target=drain, args=(proc.stderr, err_chunks)),
    ]
    for r in readers:
        r.start()
    timed_out = False
    while proc.poll() is None:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    hwm = max(hwm, int(line.split()[1]))
        except OSError:
            pass
        if timeout is not None and time.perf_counter() - t0 > timeout:
            timed_out = True
            proc.kill()
            proc.wait()
            break
        time.sleep(0.01)
    dt = time.perf_counter() - t0
    for r in readers:
        r.join()
    err = b"".join(err_chunks).decode(errors="replace")
    if proc.returncode != 0 and not timed_out:
        raise RuntimeError(f"{args[:3]} failed: {err[-1500:]}")
    return dt, hwm // 1024, b"".join(out_chunks).decode(), timed_out


_DROPPED = ("AWS_CA_BUNDLE", "PYTHONDONTWRITEBYTECODE")


def wait_until(cond: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``cond`` every 20 ms until it is true; RuntimeError naming ``what`` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for measured children. PYTHONDONTWRITEBYTECODE is dropped: with it
    every Python child compiles each module it imports (~0.7 s here), which an installed
    library never does; ``warm_bytecode`` writes the caches once before measuring."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
    env.update(extra or {})
    return env


def warm_bytecode() -> None:
    """Import what the measured children import once, so their bytecode caches exist."""
    subprocess.run(
        [sys.executable, "-c", "import ltx.cli, ltx.sqlite, ltx.changes, ltx.replica, apsw"],
        env=clean_env(),
        check=True,
    )


# Timed lookups shared by the VFS benchmarks: a script defines `con` and `ids`, then this.
TIMED_LOOKUPS = """
def run():
    t = time.perf_counter()
    for i in ids:
        assert len(list(con.execute("SELECT v FROM t WHERE id = ?", (i,)))) == 1
    return time.perf_counter() - t
cold = run(); warm = run()
print(json.dumps({"open": time.perf_counter() - t0 - cold - warm, "cold": cold, "warm": warm}))
"""


# The real Litestream VFS extension, loaded with apsw in the subprocess.
def _litestream_vfs_lookup() -> str:
    from tests.litestream_harness import OPEN_LITESTREAM_VFS

    return (
        "import json, sys, time\nt0 = time.perf_counter()\n"
        "url, ids = sys.argv[1], json.loads(sys.argv[2])\n" + OPEN_LITESTREAM_VFS + TIMED_LOOKUPS
    )


LITESTREAM_VFS_LOOKUP = _litestream_vfs_lookup()


def copy_to_s3(src_url: str, dst_url: str, env: dict[str, str] = S3_ENV) -> None:
    """Copy a replica file by file to S3 with its creation times (moto: metadata)."""
    from ltx.storage import open_store

    src, dst = open_store(src_url), open_store(dst_url, env=env)
    for f in src.list_files():
        with tempfile.NamedTemporaryFile() as tmp:
            src.fs.get_file(f.path, tmp.name)
            ts = int(f.created_at.timestamp() * 1000)
            dst.write(f.level, f.min_txid, f.max_txid, Path(tmp.name), timestamp_ms=ts)
