"""The compaction planner: (levels config, listed files, now) -> ordered steps, as Litestream.

Rules of this file: a pure function (no storage, no clock). Each step is applied to a
model of the file set before the next is planned, so the plan is what running the
steps one by one would see, and planning again afterwards yields nothing new.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import attrs

from ltx.codec import SNAPSHOT_LEVEL, FileInfo, format_txid, is_contiguous
from ltx.compaction.config import LevelsConfig
from ltx.errors import UsageError
from ltx.times import EPOCH

__all__ = ["Step", "CompactStep", "SnapshotStep", "DeleteStep", "plan_compaction", "truncate"]


def truncate(now: dt.datetime, interval: dt.timedelta) -> dt.datetime:
    """``now`` rounded down to a multiple of ``interval`` since the epoch (UTC), like Go."""
    step = int(interval.total_seconds() * 1_000_000)
    since = (now - EPOCH) // dt.timedelta(microseconds=1)
    return EPOCH + dt.timedelta(microseconds=since - since % step)


def _range(files: Sequence[FileInfo]) -> str:
    return ", ".join(f"{format_txid(f.min_txid)}-{format_txid(f.max_txid)}" for f in files)


@attrs.frozen
class CompactStep:
    """Merge ``inputs`` (level - 1) into one file at ``level``."""

    level: int
    inputs: tuple[FileInfo, ...]
    reason: str

    @property
    def min_txid(self) -> int:
        return self.inputs[0].min_txid

    @property
    def max_txid(self) -> int:
        return self.inputs[-1].max_txid

    def describe(self) -> str:
        """One line for ``--dry-run``."""
        return (
            f"compact L{self.level - 1} -> L{self.level}: {len(self.inputs)} files "
            f"-> {format_txid(self.min_txid)}-{format_txid(self.max_txid)} ({self.reason})"
        )


@attrs.frozen
class SnapshotStep:
    """Write a level-9 snapshot of the database at ``max_txid``."""

    max_txid: int
    reason: str

    def describe(self) -> str:
        return f"snapshot L9: 0000000000000001-{format_txid(self.max_txid)} ({self.reason})"


@attrs.frozen
class DeleteStep:
    """Delete ``files`` (retention)."""

    files: tuple[FileInfo, ...]
    reason: str

    def describe(self) -> str:
        return f"delete {len(self.files)} files: {_range(self.files)} ({self.reason})"


Step = CompactStep | SnapshotStep | DeleteStep


def _newest(files: Sequence[FileInfo]) -> FileInfo | None:
    return max(files, key=lambda f: (f.max_txid, f.created_at)) if files else None


Levels = dict[int, list[FileInfo]]


def _merge_inputs(src: list[FileInfo], dst: list[FileInfo]) -> list[FileInfo]:
    """The contiguous run of ``src`` files that continues what ``dst`` already holds."""
    prev_max = max((f.max_txid for f in dst), default=0)
    inputs: list[FileInfo] = []
    for f in src:
        if f.min_txid < prev_max + 1:
            continue  # at or straddling what the level has: skipped, never split
        if inputs and not is_contiguous(inputs[-1].max_txid, f.min_txid, f.max_txid):
            break
        if not inputs and prev_max and f.min_txid != prev_max + 1:
            break  # a gap after the level's newest file
        inputs.append(f)
    return inputs


def _compactions(config: LevelsConfig, levels: Levels, now: dt.datetime) -> list[Step]:
    """Level by level: merge the next run of the level below when its window is due."""
    steps: list[Step] = []
    for level, interval in enumerate(config.intervals, start=1):
        dst = levels.setdefault(level, [])
        newest = _newest(dst)
        boundary = truncate(now, interval)
        if newest is not None and newest.created_at > boundary:
            continue  # too early: this level already ran in the current window
        inputs = _merge_inputs(levels.get(level - 1, []), dst)
        if not inputs:
            continue
        step = CompactStep(
            level, tuple(inputs), f"L{level} interval {interval}, boundary {boundary:%H:%M:%S}"
        )
        steps.append(step)
        dst.append(FileInfo(level, step.min_txid, step.max_txid, 0, inputs[-1].created_at, ""))
        dst.sort(key=lambda f: f.sort_key)
    return steps


def _snapshot(config: LevelsConfig, levels: Levels, now: dt.datetime, position: int) -> list[Step]:
    """A new snapshot when the interval has passed and the replica moved on."""
    snaps = levels.setdefault(SNAPSHOT_LEVEL, [])
    newest_snap = _newest(snaps)
    due = newest_snap is None or newest_snap.created_at <= truncate(now, config.snapshot_interval)
    if due and position and (newest_snap is None or newest_snap.max_txid < position):
        snaps.append(FileInfo(SNAPSHOT_LEVEL, 1, position, 0, now, ""))
        return [SnapshotStep(position, f"snapshot interval {config.snapshot_interval}")]
    return []


def _snapshot_retention(config: LevelsConfig, levels: Levels, now: dt.datetime) -> list[Step]:
    """Drop old snapshots (never the newest) and prune levels 1..n below them."""
    snaps = levels.setdefault(SNAPSHOT_LEVEL, [])
    newest_snap = _newest(snaps)
    cutoff = now - config.snapshot_retention
    old = [f for f in snaps if f.created_at < cutoff and f is not newest_snap]
    if not old:
        return []
    steps: list[Step] = [
        DeleteStep(tuple(old), f"snapshots older than {config.snapshot_retention}")
    ]
    floor = max(f.max_txid for f in old)
    for f in old:
        snaps.remove(f)
    for level in range(1, config.max_level + 1):
        lst = levels.get(level, [])
        doomed = [f for f in lst[:-1] if f.max_txid < floor]
        if doomed:
            reason = f"L{level} below snapshot floor {format_txid(floor)}"
            steps.append(DeleteStep(tuple(doomed), reason))
            for f in doomed:
                lst.remove(f)
    return steps


def _l0_retention(config: LevelsConfig, levels: Levels, now: dt.datetime) -> list[Step]:
    """Level-0 files covered by L1 and older than the retention go (never the newest)."""
    l1, l0 = levels.get(1, []), levels.get(0, [])
    if not (l1 and l0):
        return []
    max_l1 = max(f.max_txid for f in l1)
    limit = now - config.l0_retention
    marked = []
    reached_end = True
    for f in l0:
        if f.created_at > limit:
            reached_end = False
            break
        if f.max_txid <= max_l1:
            marked.append(f)
    if reached_end and marked and marked[-1] is l0[-1]:
        marked.pop()
    if not marked:
        return []
    return [DeleteStep(tuple(marked), f"L0 covered by L1 and older than {config.l0_retention}")]


def plan_compaction(
    config: LevelsConfig, files: Iterable[FileInfo], now: dt.datetime
) -> list[Step]:
    """The steps Litestream's store would take at ``now`` for these files, in order:
    compactions level by level, a snapshot, snapshot retention, level-0 retention."""
    if now.tzinfo is None:
        raise UsageError("now must be timezone-aware")
    levels: Levels = {}
    for f in files:
        levels.setdefault(f.level, []).append(f)
    for lst in levels.values():
        lst.sort(key=lambda f: f.sort_key)
    position = max((f.max_txid for lst in levels.values() for f in lst), default=0)
    steps = _compactions(config, levels, now)
    steps += _snapshot(config, levels, now, position)
    steps += _snapshot_retention(config, levels, now)
    steps += _l0_retention(config, levels, now)
    return steps
