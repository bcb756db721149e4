"""The replicator driven step by step: TXIDs, snapshots, checkpoints, restarts."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ltx
from ltx.codec import HEADER_SIZE, Header
from ltx.errors import (
    DatabaseFormatError,
    LeaseHeldError,
    LeaseLostError,
    NotFoundError,
    TransientStorageError,
    UsageError,
)
from ltx.replication import Replicator
from ltx.testing import run_sql_transaction
from tests.replicate.replicate_helpers import app_db, image, replica_image, same_db


def _header(url: str, txid: int) -> Header:
    r = ltx.open(url)
    path = r.store.file_path(0, txid, txid)
    return Header.from_bytes(r.store.read_range(path, 0, HEADER_SIZE))


def _ops(i: int) -> list[tuple[str, int, int]]:
    return [("insert", i % 30, 200 + (i * 37) % 3000), ("update", (i * 7) % 30, 100)]


def test_txids_header_fields_and_pages(tmp_path: Path) -> None:
    """Snapshot at TXID 1, then one incremental file per sync with Litestream's fields;
    every TXID reads back as the database was after that sync."""
    db, url = tmp_path / "app.db", (tmp_path / "replica").as_uri()
    app = app_db(db)
    truth: dict[int, bytes] = {}
    with Replicator(db, url, sync_interval=3600) as rep:
        truth[rep.position.txid] = image(app)  # type: ignore[union-attr]
        for i in range(12):
            run_sql_transaction(app, _ops(i))
            if i % 3 == 2:
                run_sql_transaction(app, [("delete", i % 30, 0)])
            for s in rep.sync():
                truth[s.txid] = image(app)
    assert sorted(truth) == list(range(1, 14))
    first = _header(url, 1)
    assert first.is_snapshot and first.no_checksum
    h = _header(url, 5)
    assert h.min_txid == h.max_txid == 5 and h.no_checksum and not h.is_snapshot
    assert h.wal_offset >= 32 and h.wal_size > 0 and (h.wal_salt1, h.wal_salt2) != (0, 0)
    nxt = _header(url, 6)
    assert nxt.wal_offset == h.wal_offset + h.wal_size
    for txid, want in truth.items():
        assert same_db(replica_image(url, txid), want), txid


def test_own_checkpoints_restart_without_snapshots(tmp_path: Path) -> None:
    """Past the page threshold we checkpoint and restart the WAL ourselves: the files
    after the first stay incremental and the WAL stays small."""
    db, url = tmp_path / "app.db", (tmp_path / "replica").as_uri()
    app = app_db(db)
    truth: dict[int, bytes] = {}
    rep = Replicator(db, url, min_checkpoint_pages=20).open()
    written = rep.sync()
    for i in range(60):
        run_sql_transaction(app, _ops(i))
        for s in rep.sync():
            truth[s.txid] = image(app)
            written.append(s)
    rep.stop()
    snaps = [s for s in written if s.snapshot]
    assert [s.txid for s in snaps] == [1]
    assert Path(f"{db}-wal").stat().st_size < 40 * 4120
    for txid, want in truth.items():
        assert same_db(replica_image(url, txid), want), txid


def test_foreign_checkpoint_gives_a_snapshot(tmp_path: Path) -> None:
    db, url = tmp_path / "app.db", (tmp_path / "replica").as_uri()
    app = app_db(db)
    rep = Replicator(db, url).open()
    rep.sync()
    run_sql_transaction(app, _ops(1))
    rep.sync()
    app.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    run_sql_transaction(app, _ops(2))
    (s,) = rep.sync()
    assert s.snapshot and "did not run" in s.reason
    assert same_db(replica_image(url, s.txid), image(app))
    rep.stop()


def test_restart_continues_and_behind_replica_goes_above(tmp_path: Path) -> None:
    """A new replicator resumes where the WAL still matches; a database behind its
    replica (restored from an old copy) continues above the replica's TXIDs (#781)."""
    db, url = tmp_path / "app.db", (tmp_path / "replica").as_uri()
    app = app_db(db)
    with Replicator(db, url, sync_interval=3600) as rep:
        run_sql_transaction(app, _ops(1))
        rep.sync()
    run_sql_transaction(app, _ops(2))  # while no replicator runs, WAL kept by the app
    rep2 = Replicator(db, url).open()
    (s,) = rep2.sync()
    assert (s.txid, s.snapshot) == (3, False)
    rep2.stop()
    app.close()
    db.unlink()
    old = tmp_path / "old.db"
    ltx.open(url).restore(old, txid=1)
    old.rename(db)
    app = app_db(db)
    run_sql_transaction(app, _ops(3))
    rep3 = Replicator(db, url).open()
    (s,) = rep3.sync()
    assert s.txid == 4 and s.snapshot
    assert same_db(replica_image(url, 4), image(app))
    rep3.stop()


def test_bad_databases(tmp_path: Path) -> None:
    """Each bad database path is a typed error naming it; the file is left as it was
    (a rollback-journal database stays one) and no replica is written."""
    replica = tmp_path / "replica"
    url = replica.as_uri()
    with pytest.raises(NotFoundError, match=r"missing\.db"):
        Replicator(tmp_path / "missing.db", url).open()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"hello" * 100)
    with pytest.raises(DatabaseFormatError, match=r"junk\.db"):
        Replicator(junk, url).open()
    assert junk.read_bytes() == b"hello" * 100
    folder = tmp_path / "folder.db"
    folder.mkdir()
    with pytest.raises(UsageError, match=r"folder\.db: a folder"):
        Replicator(folder, url).open()
    rollback = tmp_path / "rb.db"
    sqlite3.connect(rollback).execute("CREATE TABLE x(y)").connection.commit()
    before = rollback.read_bytes()
    with pytest.raises(UsageError, match=r"rb\.db: not in WAL mode"):
        Replicator(rollback, url).open()
    assert rollback.read_bytes() == before
    assert sqlite3.connect(rollback).execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("rb.db-", "junk.db-"))]
    assert not replica.exists() or not ltx.open(url).refresh()


def test_one_replicator_per_replica_and_lease_loss(tmp_path: Path) -> None:
    """A second replicator fails at once naming the holder; a holder whose lease was
    taken over stops before its next write and tells the app."""
    db, url = tmp_path / "app.db", (tmp_path / "replica").as_uri()
    app = app_db(db)
    lost: list[Exception] = []
    first = Replicator(db, url, owner="first", lease_ttl=1.0, on_lease_lost=lost.append).open()
    first.sync()
    with pytest.raises(LeaseHeldError, match="first") as err:
        Replicator(db, url, owner="second").open()
    assert err.value.holder == "first"
    time.sleep(1.2)  # the first one paused past its TTL
    second = Replicator(db, url, owner="second").open()
    second.sync()
    run_sql_transaction(app, _ops(1))
    with pytest.raises(LeaseLostError):
        first.sync()
    assert len(lost) == 1
    top = max(f.max_txid for f in ltx.open(url).refresh())
    (s,) = second.sync()
    assert s.txid == top + 1
    first.stop()
    second.stop()


def test_transient_faults_lose_nothing(tmp_path: Path) -> None:
    """A quarter of storage calls fail: syncs that give up are run again, a failed upload
    is retried with the same bytes, and every TXID reads back as the app saw it."""
    from ltx.replica import Replica
    from ltx.storage import RetryPolicy, open_store
    from ltx.testing.faults import FaultyFileSystem

    db, url = tmp_path / "app.db", "memory://ltx-tests/faults"
    app = app_db(db)
    faulty = FaultyFileSystem(open_store(url).fs, rate=0.25)
    store = open_store(url, filesystem=faulty, retry=RetryPolicy(attempts=2, base_delay=0.001))
    rep = Replicator(db, Replica(store), min_checkpoint_pages=15)
    truth: dict[int, bytes] = {}
    failures = 0
    for i in range(40):
        if i:
            run_sql_transaction(app, _ops(i))
        while True:
            try:
                rep.sync()
                break
            except TransientStorageError:
                failures += 1
        assert rep.position is not None  # the app waited: every new TXID is its state now
        for txid in range(max(truth, default=0) + 1, rep.position.txid + 1):
            truth[txid] = image(app)
    faulty.rate = 0.0
    rep.stop()
    assert faulty.faults > 0 and failures > 0
    top = max(f.max_txid for f in ltx.open(url).refresh())
    assert top == max(truth)
    for txid in range(1, top + 1):
        if txid in truth:
            assert same_db(replica_image(url, txid), truth[txid]), txid


def test_attached_to_apsw_syncs_after_each_commit(tmp_path: Path) -> None:
    """On an apsw app, our own connections are apsw too; the WAL hook wakes the thread
    after each commit (and turns off that connection's autocheckpoint)."""
    apsw = pytest.importorskip("apsw")
    db, url = tmp_path / "app.db", (tmp_path / "replica").as_uri()
    conn = apsw.Connection(str(db))
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)")
    with Replicator(db, url, connect=apsw.Connection, sync_interval=3600) as rep:
        rep.attach(conn)
        for i in range(5):
            conn.execute("INSERT INTO t VALUES (?, ?)", (i, b"z" * 500))
            deadline = time.monotonic() + 10
            while (
                rep.position is None
                or rep.position.commit < 2
                or (replica_rows(url) < i + 1 and time.monotonic() < deadline)
            ):
                time.sleep(0.02)
        assert replica_rows(url) == 5


def replica_rows(url: str) -> int:
    """Rows of t in the replica's latest state."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "r.db"
        ltx.open(url).restore(out)
        conn = sqlite3.connect(out)
        try:
            return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])
        except sqlite3.OperationalError:
            return 0
        finally:
            conn.close()


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=6), st.integers(0, 5))
def test_two_captures_joined_equal_one(tmp_path_factory, keys: list[int], deletes: int) -> None:
    """The checkpoint's file joins what was read before SQLite's write lock and what
    committed after: the joined file is the one a single capture over both gives."""
    from ltx.replication._capture import capture, joined
    from ltx.replication._source import Database

    tmp = tmp_path_factory.mktemp("join")
    app = app_db(tmp / "app.db")
    run_sql_transaction(app, [("insert", k, 900) for k in range(40)])
    db = Database(tmp / "app.db")
    try:
        with db.reading():
            start = capture(db, None)  # a snapshot: our position
        assert start is not None
        run_sql_transaction(app, [("insert", k, 100 + 37 * k) for k in keys])
        a = capture(db, start.end)
        run_sql_transaction(app, [("delete", k, 0) for k in range(deletes * 8)])
        run_sql_transaction(app, [("update", k, 3000) for k in keys])
        assert a is not None
        one = capture(db, start.end)
        both = joined(a, capture(db, a.end))
    finally:
        db.close()
    assert one is not None and both is not None
    assert (both.txid, both.commit, both.wal, both.end, both.transactions) == (
        one.txid,
        one.commit,
        one.wal,
        one.end,
        one.transactions,
    )
    assert both.pages == one.pages
