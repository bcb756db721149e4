"""The WAL restart after our checkpoint: taken as continuing our position exactly when
every commit since is in the new WAL, whoever restarted it.

A writer whose read transaction began before our full checkpoint finished does not
restart the WAL when it writes: it appends to the old one. If the app's own checkpoint
then copies that write too and its next write restarts the WAL, there was one restart
after ours, yet the new WAL does not continue our position: the appended transaction is
in neither (the crash test once restored such a TXID: "Page N is never used"). And the
WAL header's checkpoint sequence counts the restarts of the connection that wrote it,
so it cannot say whose restart it was.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ltx.replication import Replicator, Synced
from tests.replicate.replicate_helpers import app_db, image, insert, replica_image, same_db


def test_app_write_appended_to_the_old_wal_is_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, url = tmp_path / "app.db", (tmp_path / "replica").as_uri()
    app = app_db(db)
    other = sqlite3.connect(db, isolation_level=None)  # the app's autocheckpoint
    rep = Replicator(db, url, min_checkpoint_pages=10**9).open()
    for k in range(20):
        insert(app, k)
    rep.sync()
    assert rep.db is not None
    real_bump = rep.db.bump

    def app_races_the_restart(*, truncate: bool = False) -> None:
        """Between our write lock's release and our restart write: the app's write
        (its read began before our checkpoint ended) lands in the old WAL, the app's
        checkpoint copies it, and the app's next write restarts the WAL."""
        app.execute("UPDATE t SET v = ? WHERE k = 5", (b"changed" * 400,))
        app.execute("COMMIT")
        assert other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[0] == 0
        app.execute("BEGIN IMMEDIATE")
        insert(app, 101)
        app.execute("COMMIT")
        real_bump(truncate=truncate)

    app.execute("BEGIN")
    app.execute("SELECT count(*) FROM t").fetchone()  # the read that predates our checkpoint
    monkeypatch.setattr(rep.db, "bump", app_races_the_restart)
    rep.checkpoint()
    monkeypatch.setattr(rep.db, "bump", real_bump)
    rep.sync()
    rep.stop()
    assert same_db(replica_image(url, None), image(app))


def test_restarts_by_other_connections_do_not_force_snapshots(tmp_path: Path) -> None:
    """The app restarted the WAL before we started (its connection's count of restarts
    is in the WAL header); our own checkpoints then go on with incremental files."""
    db, url = tmp_path / "app.db", (tmp_path / "replica").as_uri()
    app = app_db(db)
    for k in range(3):
        insert(app, k)
        app.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()  # its next write restarts
    written: list[Synced] = []
    rep = Replicator(db, url, min_checkpoint_pages=4, on_sync=written.append).open()
    for k in range(3, 30):
        insert(app, k)
        rep.sync()
    rep.stop()
    assert [s.txid for s in written if s.snapshot] == [1]
    assert same_db(replica_image(url, None), image(app))
