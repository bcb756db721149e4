"""Compaction inside the replicator: levels, snapshots and L0 retention on every target."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

import ltx
from ltx.compaction import LevelsConfig
from ltx.errors import UsageError
from ltx.replication import Replicator
from ltx.testing import run_sql_transaction
from tests.conftest import needs_litestream
from tests.litestream_harness import restore
from tests.replicate.replicate_helpers import app_db, image, replica_image, same_db

SHORT = LevelsConfig([dt.timedelta(seconds=1)], l0_retention=dt.timedelta(seconds=2))


class Clock:
    """A clock the test moves by hand (seconds since the epoch)."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


def _run(tmp_path: Path, urls: list[str]) -> dict[int, bytes]:
    """Sync 12 transactions half a second apart, compacting when due; the truth per TXID."""
    app = app_db(tmp_path / "app.db")
    clock = Clock()
    truth: dict[int, bytes] = {}
    rep = Replicator(tmp_path / "app.db", *urls, levels=SHORT, clock=clock).open()
    for s in rep.sync():
        truth[s.txid] = image(app)
    for i in range(12):
        run_sql_transaction(app, [("insert", i, 300 + 40 * i), ("update", i // 2, 120)])
        clock.now += 0.5
        for s in rep.sync():
            truth[s.txid] = image(app)
        rep.compact_if_due()
    rep.stop()
    return truth


def test_levels_compact_and_retain_l0(tmp_path: Path) -> None:
    """L1 files and a snapshot appear; old L0 files go, the newest stays; every target
    gets the same; each restore point left reads back as the app's database."""
    urls = [(tmp_path / n).as_uri() for n in ("a", "b")]
    truth = _run(tmp_path, urls)
    last = max(truth)
    for url in urls:
        r = ltx.open(url)
        files = r.refresh()
        l0 = [f.max_txid for f in files if f.level == 0]
        l1 = [f for f in files if f.level == 1]
        assert l1 and max(f.max_txid for f in l1) >= last - 2
        assert any(f.level == 9 for f in files)
        assert last in l0 and 2 not in l0 and 3 not in l0
        points = [p.txid for p in r.history()]
        assert last in points and len(points) >= 3
        for txid in points:
            assert same_db(replica_image(url, txid), truth[txid]), (url, txid)
        report = r.verify(deep=True)
        assert report.ok, report


@pytest.mark.interop
@needs_litestream
def test_litestream_restores_compacted_replica(tmp_path: Path) -> None:
    """``litestream restore`` of the latest TXID and of an older one still in history."""
    url = (tmp_path / "replica").as_uri()
    truth = _run(tmp_path, [url])
    points = [p.txid for p in ltx.open(url).history()]
    for txid in (points[-1], points[len(points) // 2]):
        out = tmp_path / f"restored-{txid}.db"
        done = restore(url, out, txid=txid)
        assert done.returncode == 0, done.stderr
        assert same_db(out.read_bytes(), truth[txid]), txid


def test_levels_off_and_invalid(tmp_path: Path) -> None:
    """``levels=False`` writes only level 0; anything but a LevelsConfig is refused."""
    app = app_db(tmp_path / "app.db")
    url = (tmp_path / "replica").as_uri()
    rep = Replicator(tmp_path / "app.db", url, levels=False).open()
    run_sql_transaction(app, [("insert", 1, 100)])
    rep.sync()
    assert rep.compact_if_due() == [] and rep.compact() == []
    rep.stop()
    assert {f.level for f in ltx.open(url).refresh()} == {0}
    with pytest.raises(UsageError, match="levels"):
        Replicator(tmp_path / "app.db", url, levels="daily")  # type: ignore[arg-type]
    assert Replicator(tmp_path / "app.db", url).levels == LevelsConfig.default()


def test_schedule_windows() -> None:
    """Compaction runs at once, then once per window of the shortest interval (the
    level-0 retention check's 15 s with Litestream's defaults), aligned to the clock."""
    from ltx.replication._levels import Schedule

    clock = Clock()
    clock.now = 999_999_997.0  # 7 s into a 15 s window (the epoch is a boundary)
    sched = Schedule(LevelsConfig.default(), clock)
    assert sched.due() is not None and sched.due() is None
    clock.now = 1_000_000_004.9
    assert sched.due() is None
    clock.now = 1_000_000_005.0  # the window's boundary
    assert sched.due() is not None and sched.next == 1_000_000_020.0
    fast = Schedule(SHORT, clock)
    assert fast.due() is not None and fast.next == clock.now + 1


def test_failed_compaction_is_reported_and_syncs_go_on(tmp_path: Path) -> None:
    """A compaction that fails goes to ``on_error``; the thread keeps syncing."""
    app = app_db(tmp_path / "app.db")
    url = (tmp_path / "replica").as_uri()
    errors: list[BaseException] = []
    rep = Replicator(tmp_path / "app.db", url, sync_interval=0.05, levels=SHORT)
    rep.on_error = errors.append

    def broken(now: object = None) -> list[object]:
        raise UsageError("compaction broke")

    rep.compact = broken  # type: ignore[assignment,method-assign]
    with rep:
        deadline = time.monotonic() + 20
        for i in range(5):
            run_sql_transaction(app, [("insert", i, 100)])
            while rep.files_written < i + 2 and time.monotonic() < deadline:
                time.sleep(0.02)
        truth = image(app)
    assert errors and all("compaction broke" in str(e) for e in errors)
    assert rep.position is not None
    assert same_db(replica_image(url, rep.position.txid), truth)
    assert rep.files_written >= 6


def test_compaction_reads_back_no_level0_file_it_uploaded(tmp_path: Path) -> None:
    """A remote target keeps what the syncs uploaded until the compactor has merged it:
    no read of a level-0 file reaches the store (a GET each on S3), and the result is
    the same replica."""
    from ltx.testing.faults import CountingFileSystem

    class Reads(CountingFileSystem):
        def _before(self, name: str, args: tuple[object, ...]) -> None:
            super()._before(name, args)
            if name in ("cat_file", "open") and args:
                read.append(str(args[0]))

    read: list[str] = []
    url = f"memory://recent-{tmp_path.name}/db"
    app = app_db(tmp_path / "app.db")
    clock = Clock()
    rep = Replicator(tmp_path / "app.db", url, levels=SHORT, clock=clock).open()
    store = rep.targets.replicas[0].store  # type: ignore[union-attr]
    store.fs = store.backend.fs = Reads(store.fs)
    truth = {s.txid: image(app) for s in rep.sync()}
    for i in range(8):
        run_sql_transaction(app, [("insert", i, 300 + 40 * i), ("update", i // 2, 120)])
        clock.now += 0.5
        truth.update({s.txid: image(app) for s in rep.sync()})
        rep.compact_if_due()
    rep.stop()
    level0 = [p for p in read if p.startswith(store.level_path(0))]
    # Level 1 took every level-0 file from memory; only the level-9 snapshot read the
    # first one (the snapshot at TXID 1) a second time, from the store.
    assert len(level0) <= 1, level0
    assert store.recent is not None and store.recent.hits >= 8
    r = ltx.open(url)
    assert any(f.level == 1 for f in r.refresh())
    for txid in [p.txid for p in r.history()]:
        assert same_db(replica_image(url, txid), truth[txid]), txid
