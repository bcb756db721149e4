"""Snapshots the replicator writes: streamed in bounded memory, staged beside the
database only after checking the folder has room."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import ltx
from ltx.errors import NoSpaceError
from ltx.replication import Replicator
from ltx.testing import run_sql_transaction
from tests.fuzz.hostile import measure
from tests.replicate.replicate_helpers import app_db, image, replica_image, same_db

MIB = 1 << 20


def _big_db(path: Path, mib: int) -> None:
    """A WAL database of about ``mib`` MiB of incompressible rows, checkpointed."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)")
    for i in range(mib + 1):
        conn.execute("INSERT INTO t VALUES (?, randomblob(?))", (i, MIB - 4096))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def test_snapshot_memory_is_bounded(tmp_path: Path) -> None:
    """The first sync of a 64 MiB database (a snapshot) grows peak RSS far less than the
    database; no staged file is left behind; the replica reads back the database."""
    db = tmp_path / "big.db"
    _big_db(db, 64)
    assert db.stat().st_size >= 64 * MIB
    body = """
        from ltx.replication import Replicator
        url = "file://" + path + ".replica"
        rep = Replicator(path, url, levels=False, lease=False).open()
        assert rep.sync()[0].snapshot
        rep.stop()
    """
    got = measure(body, db, timeout=300)
    assert got.error is None
    print(f"snapshot of {db.stat().st_size / MIB:.0f} MiB: peak RSS growth {got.rss_mib:.1f} MiB")
    assert got.rss_mib < 24, got
    assert not [n for n in os.listdir(tmp_path) if "ltx-stage" in n]
    url = f"file://{db}.replica"
    with sqlite3.connect(db) as conn:
        want = conn.serialize()
    assert same_db(replica_image(url, 1), want)


def test_no_room_to_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Too little free space beside the database: NoSpaceError naming the folder, before
    anything is staged or uploaded; with room again, the next sync writes the snapshot."""
    db, url = tmp_path / "app.db", (tmp_path / "replica").as_uri()
    app = app_db(db)
    run_sql_transaction(app, [("insert", 1, 3000)])
    real = shutil.disk_usage

    def full(folder: Any) -> Any:
        return real(folder)._replace(free=4096)

    monkeypatch.setattr(shutil, "disk_usage", full)
    rep = Replicator(db, url, levels=False)
    with pytest.raises(NoSpaceError) as info:
        rep.sync()
    assert info.value.path == str(tmp_path) and str(tmp_path) in str(info.value)
    assert info.value.free == 4096 and info.value.needed > 4096
    assert isinstance(info.value, OSError)
    assert not ltx.open(url).refresh()
    assert [n for n in os.listdir(tmp_path) if "ltx-stage" in n] == []
    monkeypatch.setattr(shutil, "disk_usage", real)
    assert rep.sync()[0].snapshot
    rep.stop()
    assert same_db(replica_image(url, 1), image(app))


def test_stale_staged_file_is_removed(tmp_path: Path) -> None:
    """A staged file a killed replicator left beside the database goes on the next open."""
    db, url = tmp_path / "app.db", (tmp_path / "replica").as_uri()
    app_db(db)
    stale = tmp_path / ".app.db-ltx-stage-dead.ltx"
    stale.write_bytes(b"x" * 100)
    Replicator(db, url, levels=False).open().stop()
    assert not stale.exists()


def test_target_behind_gets_large_files_through_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A target that lacks files another has gets them byte for byte; files past
    ``COPY_IN_MEMORY`` go through a staged file beside the database, removed after."""
    from ltx.replication import _targets

    db = tmp_path / "app.db"
    a, b = (tmp_path / "a").as_uri(), (tmp_path / "b").as_uri()
    app = app_db(db)
    rep = Replicator(db, a, levels=False).open()
    for i in range(3):
        run_sql_transaction(app, [("insert", i, 2000)])
        rep.sync()
    rep.stop()
    monkeypatch.setattr(_targets, "COPY_IN_MEMORY", 0)
    both = Replicator(db, a, b, levels=False).open()
    both.stop()
    ra, rb = ltx.open(a), ltx.open(b)
    fa, fb = ra.refresh(), rb.refresh()
    assert [f.sort_key for f in fa] == [f.sort_key for f in fb] and len(fa) >= 3
    for f, g in zip(fa, fb, strict=True):
        assert ra.store.read(f.path) == rb.store.read(g.path)
    assert [n for n in os.listdir(tmp_path) if "ltx-stage" in n] == []


def test_snapshot_of_a_large_wal_is_bounded(tmp_path: Path) -> None:
    """A first sync (a snapshot) of a database whose newest pages are all in a 64 MiB
    WAL reads those pages from the WAL as it encodes them: peak RSS grows far less than
    the WAL, and the replica reads back the database as the app sees it."""
    db = tmp_path / "walled.db"
    app = app_db(db)
    for i in range(64):
        app.execute("INSERT INTO t VALUES (?, randomblob(?))", (i, MIB - 4096))
    wal = Path(f"{db}-wal").stat().st_size
    assert wal >= 64 * MIB
    body = """
        from ltx.replication import Replicator
        url = "file://" + path + ".replica"
        rep = Replicator(path, url, levels=False, lease=False, min_checkpoint_pages=1 << 30)
        assert rep.open().sync()[0].snapshot
        rep.stop()
    """
    got = measure(body, db, timeout=300)
    assert got.error is None
    print(f"snapshot with a {wal / MIB:.0f} MiB WAL: peak RSS growth {got.rss_mib:.1f} MiB")
    assert got.rss_mib < 32, got  # 82 MiB when the snapshot kept the WAL's pages
    assert same_db(replica_image(f"file://{db}.replica", 1), image(app))
