"""Restore plans: which files rebuild the database at a TXID or a moment, as Litestream picks.

Rules of this file: pure functions of ``FileInfo`` lists (no storage, no clock).
Start from the newest level-9 snapshot at or before the target, then repeatedly take
the file from levels 0..8 that is contiguous with what is covered and reaches
furthest without passing the target (ties: smaller min TXID, higher level, older).
For a time target every file, the snapshot included, must be created strictly before it,
and a time outside the replica's time bounds is refused, as Litestream refuses it.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
from collections.abc import Iterable, Sequence

import attrs

from ltx.codec import SNAPSHOT_LEVEL, FileInfo
from ltx.errors import TxidNotAvailableError, UsageError

__all__ = ["Plan", "RestorePoint", "plan_restore", "restorable_points"]


@attrs.frozen(cache_hash=True)
class Plan:
    """The files to apply, in order, and the TXID they reach."""

    files: tuple[FileInfo, ...]
    txid: int

    @property
    def created_at(self) -> dt.datetime:
        """Creation time of the newest file in the plan."""
        return max(f.created_at for f in self.files)


@attrs.frozen
class RestorePoint:
    """A TXID the replica can rebuild exactly, with the time its last file was created."""

    txid: int
    created_at: dt.datetime


def _tie_key(f: FileInfo) -> tuple[int, int, int, dt.datetime]:
    # Furthest reach first, then smaller min, then higher level, then older.
    return (-f.max_txid, f.min_txid, -f.level, f.created_at)


def _greedy(
    files: Sequence[FileInfo], target: int | None, before: dt.datetime | None
) -> tuple[list[FileInfo], int]:
    ok = [f for f in files if before is None or f.created_at < before]
    if target is not None:
        ok = [f for f in ok if f.max_txid <= target]
    snaps = [f for f in ok if f.level == SNAPSHOT_LEVEL and f.min_txid == 1]
    chosen: list[FileInfo] = []
    covered = 0
    if snaps:
        best = max(snaps, key=lambda f: (f.max_txid, f.created_at))
        chosen.append(best)
        covered = best.max_txid
    rest = sorted((f for f in ok if f.level != SNAPSHOT_LEVEL), key=lambda f: f.min_txid)
    # Candidates (min <= covered + 1) enter a heap by tie key as covered grows; the top
    # is the best, and it extends the chain only if it reaches past covered. O(n log n).
    heap: list[tuple[tuple[int, int, int, dt.datetime], int]] = []
    i = 0
    while True:
        while i < len(rest) and rest[i].min_txid <= covered + 1:
            heapq.heappush(heap, (_tie_key(rest[i]), i))
            i += 1
        if not heap or rest[heap[0][1]].max_txid <= covered:
            break
        best_f = rest[heapq.heappop(heap)[1]]
        chosen.append(best_f)
        covered = best_f.max_txid
    return chosen, covered


def restorable_points(files: Iterable[FileInfo]) -> list[RestorePoint]:
    """Every TXID a restore can reach exactly with these files, ascending."""
    files = list(files)
    ends: dict[int, dt.datetime] = {}
    for f in files:
        ends[f.max_txid] = min(ends.get(f.max_txid, f.created_at), f.created_at)
    reachable = _reachable(files)
    return [RestorePoint(t, ends[t]) for t in sorted(reachable)]


def _reachable(files: Sequence[FileInfo]) -> set[int]:
    """TXIDs reachable from a snapshot (or from nothing) through contiguous files.

    A file (min, max) extends any reachable c with min - 1 <= c < max; taking files by
    ascending max, every c that could feed one is known before it: O(n log n).
    """
    reached = sorted(
        {0} | {f.max_txid for f in files if f.level == SNAPSHOT_LEVEL and f.min_txid == 1}
    )
    rest = sorted((f for f in files if f.level != SNAPSHOT_LEVEL), key=lambda f: f.max_txid)
    for f in rest:
        at = bisect.bisect_left(reached, f.min_txid - 1)
        if at < len(reached) and reached[at] < f.max_txid:
            bisect.insort(reached, f.max_txid)
    out = set(reached)
    out.discard(0)
    return out


def plan_restore(
    files: Iterable[FileInfo],
    *,
    txid: int | None = None,
    timestamp: dt.datetime | None = None,
    time_bounds: tuple[dt.datetime, dt.datetime] | None = None,
) -> Plan:
    """The plan Litestream's restore would make for ``txid`` or ``timestamp`` (latest if neither).

    ``time_bounds`` are the earliest and latest creation times as the backend's plain
    listing reports them (S3: upload times); a time outside them is refused, as
    Litestream does. By default they come from ``files``.

    Raises TxidNotAvailableError, naming the nearest restorable TXIDs, when the target
    cannot be rebuilt exactly from these files.
    """
    files = list(files)
    if timestamp is not None and timestamp.tzinfo is None:
        raise UsageError("timestamp must be timezone-aware")
    if not files:
        raise TxidNotAvailableError("replica has no LTX files", txid=txid)
    if txid is None and timestamp is None:
        target: int | None = max(f.max_txid for f in files)
        chosen, covered = _greedy(files, target, None)
        if covered != target:
            # The newest file is not reachable; fall back to the furthest reachable point.
            chosen, covered = _greedy(files, None, None)
    else:
        target = txid
        if timestamp is not None:
            lo, hi = time_bounds or (
                min(f.created_at for f in files),
                max(f.created_at for f in files),
            )
            if not lo <= timestamp <= hi:
                # Litestream refuses a time outside its files' time bounds
                # ("timestamp does not exist").
                raise TxidNotAvailableError(
                    f"time {timestamp.isoformat()} is outside the replica's time bounds "
                    f"[{lo.isoformat()}, {hi.isoformat()}]",
                    before=max(_reachable(files), default=None) if timestamp > hi else None,
                )
        chosen, covered = _greedy(files, target, timestamp)
    if not chosen or (txid is not None and covered != txid):
        raise _unavailable(files, txid, timestamp)
    return Plan(tuple(chosen), covered)


def _unavailable(
    files: Sequence[FileInfo], txid: int | None, timestamp: dt.datetime | None
) -> TxidNotAvailableError:
    """The error for a target no plan reaches, naming the nearest restorable TXIDs."""
    points = sorted(_reachable(files))
    want = txid if txid is not None else 0
    i = bisect.bisect_left(points, want)
    before = points[i - 1] if i > 0 else None
    later = [p for p in points[i:] if p > want]
    after = later[0] if later else None
    if txid is not None:
        what = f"transaction {txid:016x} is not available in this replica"
    elif timestamp is not None:  # a point's own time names the one before it
        what = (
            f"time {timestamp.isoformat()} is not available in this replica: "
            "no point was made strictly before it"
        )
    else:
        what = "no point is available in this replica"
    return TxidNotAvailableError(what, txid=txid, before=before, after=after)
