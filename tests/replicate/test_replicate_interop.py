"""Our replicas restored by the real ``litestream restore -txid N``, for every TXID we
wrote, equal the database as the app saw it after that sync; ``ltx.open`` agrees."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ltx
from ltx.replication import Replicator
from ltx.testing import run_sql_transaction
from ltx.times import UTC, format_timestamp
from tests.conftest import needs_litestream
from tests.litestream_harness import restore, vfs_images
from tests.replicate.replicate_helpers import app_db, image, replica_image, same_db, target

pytestmark = [pytest.mark.interop, needs_litestream]

Truth = dict[int, bytes]


def _step(app: sqlite3.Connection, rep: Replicator, truth: Truth) -> None:
    for s in rep.sync():
        truth[s.txid] = image(app)


def mixed(app: sqlite3.Connection, rep: Replicator, truth: Truth) -> None:
    rnd = random.Random(3)
    for i in range(14):
        ops = [
            (
                rnd.choice(["insert", "insert", "update", "delete"]),
                rnd.randrange(40),
                rnd.randrange(4000),
            )
            for _ in range(rnd.randrange(1, 6))
        ]
        run_sql_transaction(app, ops)
        if i % 2:
            _step(app, rep, truth)


def vacuum(app: sqlite3.Connection, rep: Replicator, truth: Truth) -> None:
    for i in range(30):
        run_sql_transaction(app, [("insert", i, 3000)])
    _step(app, rep, truth)
    run_sql_transaction(app, [("delete", i, 0) for i in range(25)])
    _step(app, rep, truth)
    app.execute("VACUUM")
    _step(app, rep, truth)
    run_sql_transaction(app, [("insert", 99, 10)])
    _step(app, rep, truth)


def app_checkpoints(app: sqlite3.Connection, rep: Replicator, truth: Truth) -> None:
    for i, mode in enumerate(["PASSIVE", "FULL", "RESTART", "TRUNCATE"] * 2):
        run_sql_transaction(app, [("insert", i, 2000), ("update", i // 2, 50)])
        if i % 2:
            _step(app, rep, truth)
        app.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        run_sql_transaction(app, [("insert", 50 + i, 500)])
        _step(app, rep, truth)


def own_checkpoints(app: sqlite3.Connection, rep: Replicator, truth: Truth) -> None:
    rep.min_checkpoint_pages = 12
    for i in range(40):
        run_sql_transaction(app, [("insert", i % 35, 1500 + i), ("delete", (i * 3) % 35, 0)])
        _step(app, rep, truth)


WORKLOADS: dict[str, Callable[[sqlite3.Connection, Replicator, Truth], None]] = {
    "mixed": mixed,
    "vacuum": vacuum,
    "app_checkpoints": app_checkpoints,
    "own_checkpoints": own_checkpoints,
}


def _check(
    url: str, kwargs: dict[str, Any], env: dict[str, str], truth: Truth, tmp: Path, stride: int = 1
) -> None:
    """Every TXID (every ``stride``-th and the last, where each restore is slow)."""
    last = max(truth)
    assert sorted(truth) == list(range(1, last + 1))
    for txid, want in sorted(truth.items()):
        if txid % stride and txid != last:
            continue
        out = tmp / f"restored-{txid}.db"
        proc = restore(url, out, txid=txid, env=env)
        assert proc.returncode == 0, proc.stderr
        assert same_db(out.read_bytes(), want), f"litestream restore -txid {txid}"
        assert same_db(replica_image(url, txid, **kwargs), want), f"ltx.open at {txid}"
        assert sqlite3.connect(out).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _vfs_agrees(url: str, truth: Truth, tmp: Path) -> None:
    """The real Litestream VFS reads, at the latest TXID and at one in the middle (picked
    by a level-0 file's time), the pages ``ltx.open`` reads at the TXID the VFS chose,
    which are the app's database at that TXID. The VFS gives page 1 in rollback-journal
    mode with a random change counter, so SQLite sizes the file by the VFS's highest
    indexed page, which a shrink (VACUUM) does not lower (vfs.go v0.5.16, ``FileSize``):
    the pages past the header's page count are left out."""
    l0 = {f.max_txid: f for f in ltx.open(url).files() if f.level == 0}
    mid = l0[sorted(l0)[len(l0) // 2]].created_at
    seen = vfs_images(url, [format_timestamp(int(mid.timestamp() * 1000)), "latest"], tmp)
    assert seen[0][0] < seen[-1][0] == max(truth)
    for txid, path in seen:
        got, want = path.read_bytes(), replica_image(url, txid)
        assert got[18:20] == b"\x01\x01"  # the VFS shows rollback-journal mode
        got = got[:18] + want[18:20] + got[20 : len(want)]
        assert same_db(got, want), f"the VFS and ltx.open at {txid}"
        assert same_db(got, truth[txid]), f"the VFS at {txid}"


@pytest.mark.parametrize("kind", ["file", pytest.param("s3", marks=pytest.mark.servers)])
@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_restore_every_txid(kind: str, workload: str, request: Any, tmp_path: Path) -> None:
    url, kwargs, env = target(kind, request, tmp_path)
    db = tmp_path / "app.db"
    app = app_db(db, autocheckpoint=1000)
    truth: Truth = {}
    rep = Replicator(db, url, replica_options=kwargs).open()
    _step(app, rep, truth)
    WORKLOADS[workload](app, rep, truth)
    # stop's last sync may write our WAL restart's write (nothing visible changes)
    rep.on_sync = lambda s: truth.setdefault(s.txid, image(app))
    rep.stop()
    _check(url, kwargs, env, truth, tmp_path, stride=1 if kind == "file" else 5)
    if kind == "file":
        _vfs_agrees(url, truth, tmp_path)


def _change_page_size(app: sqlite3.Connection, page_size: int) -> None:
    """What an app must do to change the page size: leave WAL mode, VACUUM, come back."""
    app.execute("PRAGMA journal_mode=delete")
    app.execute(f"PRAGMA page_size={page_size}")
    app.execute("VACUUM")
    app.execute("PRAGMA journal_mode=wal")


@pytest.mark.parametrize("kind", ["file", pytest.param("s3", marks=pytest.mark.servers)])
def test_page_size_change_while_stopped(kind: str, request: Any, tmp_path: Path) -> None:
    """In WAL mode VACUUM keeps the page size; an app changes it by leaving WAL mode,
    VACUUMing and coming back. Done while the replicator is stopped, the next start
    writes a snapshot in the new page size at the next TXID, and every TXID (both page
    sizes) restores with ``litestream restore -txid N`` as the app saw it; compaction
    then runs, and the latest restores too."""
    url, kwargs, env = target(kind, request, tmp_path)
    db = tmp_path / "app.db"
    app = app_db(db)
    truth: Truth = {}
    rep = Replicator(db, url, replica_options=kwargs).open()
    for i in range(3):
        run_sql_transaction(app, [("insert", i, 5000), ("update", 0, 100 * i)])
        _step(app, rep, truth)
    app.execute("PRAGMA page_size=8192")
    app.execute("VACUUM")
    assert app.execute("PRAGMA page_size").fetchone() == (4096,)  # WAL mode keeps it
    _step(app, rep, truth)
    rep.stop()
    _change_page_size(app, 8192)
    assert app.execute("PRAGMA page_size").fetchone() == (8192,)
    run_sql_transaction(app, [("insert", 10, 3000)])
    rep = Replicator(db, url, replica_options=kwargs).open()
    top = max(truth)
    (snap,) = rep.sync()
    assert snap.txid == top + 1 and snap.snapshot, snap
    truth[snap.txid] = image(app)
    for i in range(2):
        run_sql_transaction(app, [("update", 10, 200 + i), ("delete", i, 0)])
        _step(app, rep, truth)
    rep.stop()
    _check(url, kwargs, env, truth, tmp_path)
    assert ltx.open(url, **kwargs).view().page_size == 8192
    # compaction and retention go on: each level continues from a full file of the
    # new page size, so none merges two page sizes
    later = dt.datetime.now(UTC) + dt.timedelta(hours=2)
    with Replicator(db, url, replica_options=kwargs, sync_interval=3600) as rep:
        assert rep.compact(later)
    out = tmp_path / "compacted.db"
    proc = restore(url, out, env=env)
    assert proc.returncode == 0, proc.stderr
    assert same_db(out.read_bytes(), truth[max(truth)])
    assert same_db(replica_image(url, max(truth), **kwargs), truth[max(truth)])


def test_page_size_change_survives_a_crash_before_its_level0_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the snapshot files of a page-size change but before its level-0
    file: the next replicator writes the next snapshot above them, and every TXID
    restores with ``litestream restore -txid N`` (N itself from the level-9 snapshot)."""
    from ltx.replication._targets import Targets

    db, url = tmp_path / "app.db", (tmp_path / "replica").as_uri()
    app = app_db(db)
    truth: Truth = {}
    rep = Replicator(db, url, owner="me").open()
    for i in range(3):
        run_sql_transaction(app, [("insert", i, 5000)])
        _step(app, rep, truth)
    rep.stop()
    _change_page_size(app, 8192)
    changed = max(truth) + 1
    truth[changed] = image(app)
    real = Targets._put_one

    def dies(r: Any, txid: int, *a: Any) -> None:
        if txid == changed:
            raise KeyboardInterrupt("killed")
        real(r, txid, *a)

    monkeypatch.setattr(Targets, "_put_one", staticmethod(dies))
    crashed = Replicator(db, url, owner="me").open()
    with pytest.raises(KeyboardInterrupt):
        crashed.sync()
    assert crashed.db is not None
    crashed.db.close()  # dead: nothing more from it
    monkeypatch.setattr(Targets, "_put_one", staticmethod(real))
    run_sql_transaction(app, [("insert", 10, 3000)])
    rep = Replicator(db, url, owner="me").open()
    (snap,) = rep.sync()
    assert snap.txid == changed + 1 and snap.snapshot
    truth[snap.txid] = image(app)
    run_sql_transaction(app, [("update", 10, 100)])
    _step(app, rep, truth)
    rep.stop()
    level0 = tmp_path / "replica" / "ltx" / "0"
    assert not (level0 / f"{changed:016x}-{changed:016x}.ltx").exists()
    for txid, want in sorted(truth.items()):
        out = tmp_path / f"restored-{txid}.db"
        proc = restore(url, out, txid=txid)
        assert proc.returncode == 0, proc.stderr
        assert same_db(out.read_bytes(), want), f"litestream restore -txid {txid}"
