"""The replicator at its edges: bad replicas and endpoints, big pages and transactions,
the lock page, and the real Litestream VFS reading what we wrote."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import ltx
from ltx.codec import lock_pgno
from ltx.errors import AccessDeniedError, FormatError, StorageError
from ltx.replication import Replicator
from ltx.replication._capture import _snapshot
from ltx.storage import RetryPolicy
from ltx.testing import run_sql_transaction
from tests.conftest import needs_litestream
from tests.litestream_harness import restore, vfs_query
from tests.replicate.replicate_helpers import app_db, image, replica_image, same_db, target

KINDS = ["file", pytest.param("s3", marks=pytest.mark.servers)]


def _rows(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
    return list(conn.execute("SELECT k, hex(v) FROM t ORDER BY k"))


def test_replica_under_a_regular_file_is_a_typed_error(tmp_path: Path) -> None:
    """A replica folder that cannot be made (its parent is a file; fails even as root):
    a StorageError naming the path, and the database is untouched."""
    db = tmp_path / "app.db"
    app = app_db(db)
    run_sql_transaction(app, [("insert", 1, 300)])
    before = _rows(app)
    (tmp_path / "plain").write_text("not a folder")
    url = (tmp_path / "plain" / "replica").as_uri()
    with pytest.raises(StorageError, match=r"plain/replica"):
        Replicator(db, url, sync_interval=3600).open().sync()
    assert _rows(app) == before
    good = (tmp_path / "good").as_uri()
    with Replicator(db, good, sync_interval=3600):
        pass
    assert same_db(replica_image(good, 1), image(app))


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """``folder`` made read-only for real: chmod, or ``chattr +i`` as root (which
    ignores modes); skips where neither holds."""
    as_root = os.geteuid() == 0
    if as_root:
        if shutil.which("chattr") is None:
            pytest.skip("root ignores modes and chattr is missing")
        made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    else:
        folder.chmod(0o555)
        made = True
    try:
        probe = folder / "probe"
        try:
            probe.touch()
        except OSError:
            pass
        else:
            probe.unlink()
            made = False
        if not made:
            pytest.skip(f"cannot make {folder} read-only here")
        yield
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
        else:
            folder.chmod(0o755)


def test_read_only_database_folder(tmp_path: Path) -> None:
    """The database's folder not writable: with the app running (its -wal and -shm are
    there) the replicator needs nothing more; with the app closed it cannot make them,
    a StorageError naming the database, and the database is untouched."""
    folder = tmp_path / "data"
    folder.mkdir()
    db, url = folder / "app.db", (tmp_path / "replica").as_uri()
    app = app_db(db)
    run_sql_transaction(app, [("insert", 1, 300)])
    with _read_only(folder), Replicator(db, url, sync_interval=3600) as rep:
        assert rep.last is not None and rep.last.txid == 1
    rows = _rows(app)
    app.close()
    before = db.read_bytes()
    with _read_only(folder), pytest.raises(StorageError, match=re.escape(str(db))):
        Replicator(db, url, sync_interval=3600).open()
    assert db.read_bytes() == before
    assert _rows(sqlite3.connect(db)) == rows


@pytest.mark.parametrize("lease", [True, False])
def test_read_only_replica(tmp_path: Path, lease: bool) -> None:
    """A replica the replicator may not write to (every folder of it read-only): an
    AccessDeniedError naming it (from the lease, or without one from the upload), no
    file added, and the database untouched; writable again, the next replicator
    continues at the next TXID with every commit."""
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    app = app_db(db)
    with Replicator(db, replica.as_uri(), sync_interval=3600) as rep:
        run_sql_transaction(app, [("insert", 1, 300)])
        rep.sync()
    top = rep.last.txid if rep.last is not None else 0
    run_sql_transaction(app, [("insert", 2, 300)])
    rows = _rows(app)
    files = sorted(p.relative_to(replica) for p in replica.rglob("*"))
    with contextlib.ExitStack() as stack:
        for folder in [replica, *[p for p in replica.rglob("*") if p.is_dir()]]:
            stack.enter_context(_read_only(folder))
        with pytest.raises(AccessDeniedError, match=re.escape(str(replica))):
            Replicator(db, replica.as_uri(), sync_interval=3600, lease=lease).start()
    assert sorted(p.relative_to(replica) for p in replica.rglob("*")) == files
    assert _rows(app) == rows
    with Replicator(db, replica.as_uri(), sync_interval=3600) as rep:
        pass
    assert rep.last is not None and rep.last.txid == top + 1 and not rep.last.snapshot
    assert same_db(replica_image(replica.as_uri(), top + 1), image(app))


@pytest.mark.parametrize("endpoint", ["closed", "silent"])
def test_unreachable_endpoint_fails_within_the_retry_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    """s3:// to a closed local port, or to one that accepts connections and never
    answers: the retry policy's deadline ends it (a typed StorageError naming the
    endpoint); a silent endpoint's call is cut at the deadline, not held for the S3
    client's read timeout, and nothing hangs."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        if endpoint == "silent":
            s.listen(16)
        db = tmp_path / "app.db"
        app_db(db)
        url = f"s3://bucket/db?endpoint=http://127.0.0.1:{port}&region=us-east-1"
        retry = RetryPolicy(attempts=50, max_delay=0.2, deadline=1.0)
        rep = Replicator(db, url, sync_interval=3600, replica_options={"retry": retry})
        got: list[BaseException] = []
        worker = threading.Thread(target=lambda: _catch(rep.open, got), daemon=True)
        worker.start()
        worker.join(120)
        assert not worker.is_alive(), "Replicator.open() hung on an unreachable endpoint"
    (err,) = got
    assert isinstance(err, StorageError) and f"127.0.0.1:{port}" in str(err)
    if endpoint == "silent":
        assert "FSTimeoutError" in str(err)  # cut by the deadline, not a read timeout
    assert rep.db is None


def _catch(fn: Callable[[], object], got: list[BaseException]) -> None:
    try:
        fn()
    except BaseException as exc:
        got.append(exc)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_newest_replica_file_stops_the_replicator(tmp_path: Path, damage: str) -> None:
    """A replica whose newest file does not read: the replicator stops with a
    FormatError naming that file and writes nothing past it (docs/tutorials/replicate.md)."""
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    app = app_db(db)
    with Replicator(db, replica.as_uri(), sync_interval=3600) as rep:
        for i in range(3):
            run_sql_transaction(app, [("insert", i, 200)])
            rep.sync()
    files = sorted((replica / "ltx" / "0").iterdir())
    newest = files[-1]
    if damage == "garbage":
        newest.write_bytes(b"\x00not an ltx file" * 20)
    else:
        newest.write_bytes(newest.read_bytes()[:10])
    run_sql_transaction(app, [("insert", 99, 200)])
    rows = _rows(app)
    with pytest.raises(FormatError, match=newest.name):
        Replicator(db, replica.as_uri(), sync_interval=3600).open()
    assert sorted((replica / "ltx" / "0").iterdir()) == files
    assert _rows(app) == rows
    newest.unlink()  # the way out the docs give: the next start continues above the rest
    with Replicator(db, replica.as_uri(), sync_interval=3600) as rep:
        pass
    assert rep.last is not None and rep.last.txid == len(files)
    assert same_db(replica_image(replica.as_uri(), rep.last.txid), image(app))


def test_64k_pages(tmp_path: Path) -> None:
    """A database with 64 KiB pages reads back at every TXID as the app saw it."""
    db, url = tmp_path / "app.db", (tmp_path / "replica").as_uri()
    app = app_db(db, page_size=65536)
    truth: dict[int, bytes] = {}
    with Replicator(db, url, sync_interval=3600, min_checkpoint_pages=4) as rep:
        truth[rep.position.txid] = image(app)  # type: ignore[union-attr]
        for i in range(8):
            run_sql_transaction(app, [("insert", i, 70_000 + i), ("update", i // 2, 300)])
            for s in rep.sync():
                truth[s.txid] = image(app)
    assert len(image(app)) // 65536 > 4
    for txid, want in truth.items():
        assert same_db(replica_image(url, txid), want), txid


@pytest.mark.slow
@pytest.mark.interop
@needs_litestream
@pytest.mark.parametrize("kind", KINDS)
def test_big_transaction_restores_with_litestream(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """50 MiB in one commit is one level-0 file; ``litestream restore -txid N`` gives the
    database as it was at that commit."""
    db = tmp_path / "app.db"
    url, opts, env = target(kind, request, tmp_path)
    app = app_db(db)
    truth: dict[int, bytes] = {}
    with Replicator(db, url, sync_interval=3600, replica_options=opts) as rep:
        truth[rep.position.txid] = image(app)  # type: ignore[union-attr]
        app.execute("BEGIN")
        for i in range(50):
            app.execute("INSERT INTO t VALUES (?, randomblob(1 << 20))", (i,))
        app.execute("COMMIT")
        n = rep.position.txid + 1  # type: ignore[union-attr]
        truth[n] = image(app)
        big, *after = rep.sync()  # then our checkpoint's restart: a file of its own
        assert big.txid == n
        for s in after:
            truth[s.txid] = image(app)
        assert big.transactions == 1 and big.pages > 50 * 256
        run_sql_transaction(app, [("insert", 1000, 500)])
        for s in rep.sync():
            truth[s.txid] = image(app)
    for txid, want in truth.items():
        out = tmp_path / f"restored-{txid}.db"
        proc = restore(url, out, txid=txid, env=env)
        assert proc.returncode == 0, proc.stderr
        assert same_db(out.read_bytes(), want), f"litestream restore -txid {txid}"


class _HugeDatabase:
    """A database file of ``pages`` pages that reads as one shared page (no GiB in RAM)."""

    def __init__(self, page_size: int, pages: int) -> None:
        self.page_size, self.pages = page_size, pages
        self.page = bytes(page_size)
        self.reads: list[int] = []

    def db_page_size(self) -> int:
        return self.page_size

    def db_size(self) -> int:
        return self.page_size * self.pages

    def read_db(self, offset: int, size: int) -> bytes:
        self.reads.append(offset // self.page_size + 1)
        return self.page


@pytest.mark.parametrize("page_size", [4096, 65536])
def test_snapshot_of_a_database_over_1gib_skips_the_lock_page(page_size: int) -> None:
    """A 1 GiB+ database (faked: the snapshot code path over a file that spans byte
    2**30) holds every page but the lock page, which is never read."""
    lock = lock_pgno(page_size)
    assert (lock - 1) * page_size == 1 << 30
    db = _HugeDatabase(page_size, lock + 2)
    cap = _snapshot(db, None, None, 7)  # type: ignore[arg-type]
    assert cap.snapshot and cap.commit == lock + 2 and cap.txid == 7
    pgnos = [p for p, _ in cap.pages]  # a snapshot's pages are read as iterated
    assert lock not in pgnos and lock not in db.reads
    assert pgnos == [p for p in range(1, lock + 3) if p != lock] == db.reads
    assert len(cap.pages) == len(pgnos)


@pytest.mark.interop
@needs_litestream
@pytest.mark.parametrize(
    "kind", ["file", pytest.param("s3", marks=[pytest.mark.servers, pytest.mark.slow])]
)
def test_litestream_vfs_reads_what_ltx_open_reads(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a replica our replicator wrote (a snapshot, increments, a restart), the real
    Litestream VFS and ``ltx.open()`` give the same query results at the latest TXID."""
    db = tmp_path / "app.db"
    url, opts, env = target(kind, request, tmp_path)
    for k, v in env.items():  # the VFS subprocess takes the S3 keys from the environment
        monkeypatch.setenv(k, v)
    app = app_db(db)
    with Replicator(
        db, url, sync_interval=3600, min_checkpoint_pages=10, replica_options=opts
    ) as rep:
        for i in range(30):
            run_sql_transaction(app, [("insert", i % 20, 100 + 97 * i), ("delete", i % 7, 0)])
            rep.sync()
    latest = ltx.open(url, **opts).view().txid
    assert latest > 3
    (tmp_path / "ours.db").write_bytes(replica_image(url, latest, **opts))
    ours = sqlite3.connect(tmp_path / "ours.db")
    sql = "SELECT k, hex(v) FROM t ORDER BY k"
    want = [tuple(r) for r in ours.execute(sql)]
    assert want == _rows(app)
    assert vfs_query(url, sql) == want
    count = "SELECT count(*), sum(length(v)) FROM t"
    assert vfs_query(url, count) == [tuple(ours.execute(count).fetchone())]
