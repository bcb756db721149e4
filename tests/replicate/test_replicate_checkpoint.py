"""How our checkpoint spares the app: most frames are copied while only a read
transaction of ours pins the WAL, the write lock is held for the last few, and the WAL
file is cut back only past ``truncate_pages`` (Litestream's TRUNCATE threshold)."""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest

from ltx.replication import Replicator, Synced
from ltx.replication._checkpoint import PINNED_WAIT
from ltx.replication._source import BUSY_WAIT, Database
from tests.replicate.replicate_helpers import app_db, image, insert, replica_image, same_db


def _backfilled(db: Path) -> int:
    """``nBackfill`` of SQLite's checkpoint info in the -shm (frames copied to the db)."""
    raw = Path(f"{db}-shm").read_bytes()[96:100]
    return int.from_bytes(raw, sys.byteorder)


def test_precopy_copies_nothing_past_the_pinned_snapshot(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    app = app_db(db)
    for k in range(5):
        insert(app, k)
    source = Database(db)
    try:
        with source.reading() as release:
            pinned = source.index_header()
            for k in range(5, 10):  # the app goes on writing: no lock of ours stops it
                insert(app, k)
            source.precopy()
            assert pinned is not None and _backfilled(db) == pinned.frames
            release()
            after = source.index_header()
        assert after is not None and after.salts == pinned.salts  # not restarted
        assert after.frames > pinned.frames
    finally:
        source.close()


def test_app_commits_during_the_precopy_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the frames are copied the app holds no wait for us: a commit with no busy
    timeout goes through, and the checkpoint's last frames under the lock include it."""
    db, url = tmp_path / "app.db", (tmp_path / "replica").as_uri()
    app = app_db(db)
    eager = sqlite3.connect(db, isolation_level=None, timeout=0)
    written: list[Synced] = []
    rep = Replicator(db, url, min_checkpoint_pages=10**9, on_sync=written.append).open()
    for k in range(20):
        insert(app, k)
    rep.sync()
    assert rep.db is not None
    real = rep.db.precopy

    def app_commits_meanwhile() -> None:
        insert(eager, 100)
        real()
        insert(eager, 101)

    monkeypatch.setattr(rep.db, "precopy", app_commits_meanwhile)
    assert rep.checkpoint()
    monkeypatch.undo()
    rep.sync()
    rep.stop()
    assert [s.txid for s in written if s.snapshot] == [1]
    assert same_db(replica_image(url, None), image(app))


@pytest.mark.parametrize(("truncate_pages", "cut"), [(10**6, False), (30, True)])
def test_wal_cut_back_only_past_truncate_pages(
    tmp_path: Path, truncate_pages: int, cut: bool
) -> None:
    db, url = tmp_path / "app.db", (tmp_path / "replica").as_uri()
    app = app_db(db)
    rep = Replicator(db, url, min_checkpoint_pages=10**9, truncate_pages=truncate_pages).open()
    app.execute("BEGIN")
    for k in range(60):  # about 60 pages of WAL
        insert(app, k)
    app.execute("COMMIT")
    rep.sync()
    grown = Path(f"{db}-wal").stat().st_size
    assert rep.checkpoint()
    size = Path(f"{db}-wal").stat().st_size
    assert (size < grown // 10) if cut else (size == grown)
    insert(app, 1000)
    rep.sync()
    rep.stop()
    assert same_db(replica_image(url, None), image(app))


def test_an_app_blocking_checkpoint_waits_for_our_pin_at_most_pinned_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An app's FULL checkpoint holds the write lock and waits for every reader, ours
    too, while we wait for that lock: ours gives up after ``PINNED_WAIT`` (not the 5 s
    busy timeout) and lets go of the WAL; the next sync goes on."""
    db, url = tmp_path / "app.db", (tmp_path / "replica").as_uri()
    app = app_db(db)
    rep = Replicator(db, url, min_checkpoint_pages=10**9).open()
    for k in range(20):
        insert(app, k)
    rep.sync()
    assert rep.db is not None
    other = sqlite3.connect(db, isolation_level=None, timeout=30, check_same_thread=False)
    took: list[float] = []

    def app_checkpoint() -> None:
        start = time.monotonic()
        other.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
        took.append(time.monotonic() - start)

    thread = threading.Thread(target=app_checkpoint)
    real = rep.db.precopy

    def app_checkpoints_meanwhile() -> None:
        insert(app, 100)
        real()
        thread.start()
        time.sleep(0.3)  # it holds the write lock now, waiting for our reader

    monkeypatch.setattr(rep.db, "precopy", app_checkpoints_meanwhile)
    assert not rep.checkpoint()
    thread.join(30)
    monkeypatch.undo()
    assert took and took[0] < PINNED_WAIT + 2 < BUSY_WAIT
    insert(app, 101)
    rep.sync()
    rep.stop()
    assert same_db(replica_image(url, None), image(app))
