"""Storage projection: the pure compaction planner run forward in time over a model of
a replica's files, at a given write rate (one level-0 file per write).

Stepping 30 days tick by tick costs tens of seconds; once the file set is in its
steady state it repeats every snapshot interval, so ``project`` steps only until
the end's phase is reached after a warm-up (snapshot retention plus two snapshot
intervals) and carries the rest over: standing objects and bytes as at the same
phase, writes and deletes at the rate of the last period. ``exact=True`` steps
through every tick, which the tests compare with.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import attrs

from ltx.codec import SNAPSHOT_LEVEL, FileInfo
from ltx.compaction import CompactStep, DeleteStep, LevelsConfig, SnapshotStep, plan_compaction

__all__ = ["Projection", "project"]


@attrs.frozen
class Projection:
    """Standing objects and bytes per level after ``days``, and the writes (PUTs) and
    deletes made on the way; ``simulated_days`` says how far the planner was stepped."""

    days: float
    objects: int
    bytes: int
    puts: int
    deletes: int
    per_level: dict[int, tuple[int, int]]
    simulated_days: float


@attrs.define
class _Model:
    files: dict[tuple[int, int, int], FileInfo]
    position: int
    puts: int = 0
    deletes: int = 0
    carry: float = 0.0

    def add(self, f: FileInfo) -> None:
        self.files[(f.level, f.min_txid, f.max_txid)] = f
        self.puts += 1

    def apply(self, steps: Iterable[object], now: dt.datetime, db_bytes: int) -> None:
        for step in steps:
            if isinstance(step, CompactStep):
                size = min(sum(f.size for f in step.inputs), db_bytes)
                self.add(FileInfo(step.level, step.min_txid, step.max_txid, size, now, ""))
            elif isinstance(step, SnapshotStep):
                self.add(FileInfo(SNAPSHOT_LEVEL, 1, step.max_txid, db_bytes, now, ""))
            elif isinstance(step, DeleteStep):
                for f in step.files:
                    if self.files.pop((f.level, f.min_txid, f.max_txid), None) is not None:
                        self.deletes += 1

    def write(self, start: dt.datetime, tick: dt.timedelta, rate: float, size: int) -> None:
        """The level-0 files of one tick's writes, spread over the tick."""
        self.carry += rate * tick.total_seconds()
        n = int(self.carry)
        self.carry -= n
        for i in range(n):
            self.position += 1
            made = start + tick * ((i + 1) / n)
            self.add(FileInfo(0, self.position, self.position, size, made, ""))

    def standing(self) -> tuple[int, int, dict[int, tuple[int, int]]]:
        per: dict[int, tuple[int, int]] = {}
        for f in self.files.values():
            n, b = per.get(f.level, (0, 0))
            per[f.level] = (n + 1, b + f.size)
        return len(self.files), sum(f.size for f in self.files.values()), dict(sorted(per.items()))


def _step(
    model: _Model, config: LevelsConfig, t: dt.datetime, tick: dt.timedelta, **w: int | float
) -> None:
    model.write(t - tick, tick, float(w["rate"]), int(w["size"]))
    steps = plan_compaction(config, list(model.files.values()), t)
    model.apply(steps, t, int(w["db_bytes"]))


def project(
    config: LevelsConfig,
    files: Iterable[FileInfo],
    start: dt.datetime,
    *,
    writes_per_second: float,
    bytes_per_write: int,
    db_bytes: int,
    days: float,
    exact: bool = False,
) -> Projection:
    """Where ``files`` go in ``days`` at ``writes_per_second`` (each write a level-0 file
    of ``bytes_per_write``; compactions hold at most ``db_bytes``; snapshots ``db_bytes``)."""
    listed = list(files)
    model = _Model({(f.level, f.min_txid, f.max_txid): f for f in listed}, 0)
    model.position = max((f.max_txid for f in listed), default=0)
    tick = min((*config.intervals, config.snapshot_interval))
    period = config.snapshot_interval
    end = start + dt.timedelta(days=days)
    warm = config.snapshot_retention + 2 * period
    stop, skipped = end, 0
    if not exact and end - start > warm + period:
        skipped = int((end - start - warm) / period)  # whole periods carried over
        stop = end - skipped * period
    w = {"rate": writes_per_second, "size": bytes_per_write, "db_bytes": db_bytes}
    t, mark = start, None
    while t + tick <= stop:
        t += tick
        _step(model, config, t, tick, **w)
        if skipped and mark is None and t >= stop - period:
            mark = (model.puts, model.deletes)
    objects, total, per = model.standing()
    puts, deletes = model.puts, model.deletes
    if skipped and mark is not None:
        puts += skipped * (model.puts - mark[0])
        deletes += skipped * (model.deletes - mark[1])
    simulated = (t - start).total_seconds() / 86400
    return Projection(days, objects, total, puts, deletes, per, round(simulated, 3))
