"""Stopping the replicator promptly: a running compaction is abandoned, the final sync runs."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import ltx
from ltx.replica import Replica
from ltx.replication import Replicator
from ltx.storage import open_store
from ltx.testing import run_sql_transaction
from ltx.testing.faults import FaultyFileSystem
from tests.replicate.replicate_helpers import app_db, image, replica_image, same_db
from tests.replicate.test_replicate_levels import SHORT, Clock


class SlowLevelZeroReads(FaultyFileSystem):
    """Reads of level-0 files take ``delay`` seconds each once ``slow`` is set."""

    def __init__(self, fs: Any, delay: float) -> None:
        super().__init__(fs)
        self.delay, self.slow, self.reading = delay, False, threading.Event()

    def _before(self, name: str, args: tuple[Any, ...]) -> None:
        super()._before(name, args)
        if self.slow and name in ("cat_file", "open") and "/ltx/0/" in str(args[:1]):
            self.reading.set()
            time.sleep(self.delay)


def _slow_compaction_due(
    tmp_path: Path, name: str, syncs: int
) -> tuple[Replicator, sqlite3.Connection, SlowLevelZeroReads, str, Clock]:
    """A replicator with ``syncs`` level-0 files, compaction due, level-0 reads slow."""
    db, url = tmp_path / "app.db", f"memory://ltx-tests/{name}"
    app = app_db(db)
    slow = SlowLevelZeroReads(open_store(url).fs, delay=0.5)
    clock = Clock()
    rep = Replicator(db, Replica(open_store(url, filesystem=slow)), levels=SHORT, clock=clock)
    rep.open()
    for i in range(syncs):
        run_sql_transaction(app, [("insert", i, 200)])
        clock.now += 0.1
        rep.sync()
    clock.now += 5
    slow.slow = True
    return rep, app, slow, url, clock


def test_stop_abandons_a_slow_compaction(tmp_path: Path) -> None:
    """stop() during a compaction that would take tens of seconds returns soon; the
    abandoned run leaves the replica restorable, the final sync lands, a rerun completes."""
    rep, app, slow, url, clock = _slow_compaction_due(tmp_path, "stop-compaction", 40)
    run_sql_transaction(app, [("insert", 99, 200)])  # for the final sync
    errors: list[BaseException] = []

    def compact() -> None:
        try:
            rep.compact()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    worker = threading.Thread(target=compact)
    worker.start()
    assert slow.reading.wait(30)
    t0 = time.monotonic()
    rep.stop()
    took = time.monotonic() - t0
    worker.join()
    assert errors == []
    assert took < 40 * 0.5 / 2  # far less than the full compaction's reads (loose bound)
    slow.slow = False
    assert same_db(replica_image(url, None), image(app))  # the final sync landed
    survivor = ltx.open(url)
    survivor.compact(SHORT, now=clock.now)
    assert same_db(replica_image(url, None), image(app))


def test_sync_does_not_wait_for_a_compaction(tmp_path: Path) -> None:
    """While a slow compaction runs (on another thread), a sync lands its file."""
    rep, app, slow, url, _ = _slow_compaction_due(tmp_path, "sync-during-compaction", 20)
    worker = threading.Thread(target=rep.compact)
    worker.start()
    assert slow.reading.wait(30)
    run_sql_transaction(app, [("insert", 99, 200)])
    synced = rep.sync()
    assert synced and worker.is_alive()  # landed while the compaction still reads
    rep.stop()
    worker.join()
    slow.slow = False
    assert same_db(replica_image(url, None), image(app))
