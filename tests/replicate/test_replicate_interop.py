"""Our replicas restored by the real ``litestream restore -txid N``, for every TXID we
wrote, equal the database as the app saw it after that sync; ``ltx.open`` agrees."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ltx
from ltx.replication import Replicator
from ltx.testing import run_sql_transaction
from ltx.times import UTC
from tests.conftest import needs_litestream
from tests.litestream_harness import restore
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
    rep.stop()
    _check(url, kwargs, env, truth, tmp_path, stride=1 if kind == "file" else 5)


@pytest.mark.parametrize("kind", ["file", pytest.param("s3", marks=pytest.mark.servers)])
def test_four_writers_and_restarts_under_load(kind: str, request: Any, tmp_path: Path) -> None:
    """Four connections insert while the replicator runs in its thread and is stopped
    and started again twice; every TXID restores to an intact database whose rows only
    grow, and the last one holds every row the writers saw committed."""
    url, kwargs, env = target(kind, request, tmp_path)
    db = tmp_path / "app.db"
    app_db(db).close()
    done: list[int] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        conn = app_db(db, autocheckpoint=1000)
        conn.execute("PRAGMA busy_timeout=10000")
        for i in range(60):
            key = n * 1000 + i
            conn.execute("INSERT INTO t VALUES (?, ?)", (key, bytes(300 + i)))
            with lock:
                done.append(key)
        conn.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    keeper = sqlite3.connect(db)  # keeps the WAL while replicators come and go
    opts = {"sync_interval": 0.05, "replica_options": kwargs, "min_checkpoint_pages": 50}
    rep = Replicator(db, url, **opts).start()
    for t in threads:
        t.start()
    for _ in range(2):
        threads[0].join(0.3)
        rep.stop()
        rep = Replicator(db, url, **opts).start()
    for t in threads:
        t.join()
    rep.stop()
    keeper.close()
    top = ltx.open(url, **kwargs).refresh()
    last = max(f.max_txid for f in top)
    prev: set[int] = set()
    for txid in range(1, last + 1):
        out = tmp_path / f"r{txid}.db"
        proc = restore(url, out, txid=txid, env=env)
        assert proc.returncode == 0, proc.stderr
        conn = sqlite3.connect(out)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = {k for (k,) in conn.execute("SELECT k FROM t")}
        assert prev <= rows
        prev = rows
    assert prev == set(done)


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
