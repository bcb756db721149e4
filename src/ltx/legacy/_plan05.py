"""Which 0.3 objects Litestream 0.5.17's restore uses (``Replica.RestoreV3``), sans-I/O.

0.5.17 restores a 0.3 backup (``generations/``) by rules of its own, read from its
source and pinned on the binary by interop tests; they differ from 0.3.13's:

* It sees only ``<index %08x>.snapshot.lz4`` and ``<index %08x>_<offset>.wal.lz4``
  (offset 8 to 16 hex digits) in 16-hex generations. Its time bounds are the min/max
  creation time of every such object of every generation.
* Snapshot: across all generations, the one created last at or before T (the latest
  without T), not the generation whose bounds hold T: a T between two generations
  restores the end of the earlier one, where 0.3.13 finds nothing.
* Segments: that generation's, index at or above the snapshot's, created at or before
  T (filtered: a later one is skipped and the next still counts), by (index, offset).
  Each index must follow the previous one from the snapshot's and start at offset 0,
  each segment where the last ended, else the restore fails ("missing WAL index",
  "missing WAL segment"). Indexes are checkpointed one by one, as 0.3.13 does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from ltx.errors import TxidNotAvailableError

from ._names import LegacyObject, datetime_to_ns, format_time_ns
from ._plan import LegacyPlan, make_position

__all__ = ["best_snapshot_v05", "plan_v05", "seen_by_v05", "time_bounds_v05"]


def seen_by_v05(obj: LegacyObject) -> bool:
    """True for the names 0.5.17 lists (LZ4 snapshots and ``<index>_<offset>`` segments)."""
    if not obj.compressed:
        return False
    return obj.kind == "snapshot" or "_" in obj.name


def time_bounds_v05(listing: Iterable[LegacyObject]) -> tuple[int, int] | None:
    """0.5.17's ``TimeBoundsV3`` in ns: min/max creation time of what it lists (None if empty)."""
    times = [o.time_ns for o in listing if seen_by_v05(o)]
    return (min(times), max(times)) if times else None


def _exchange_sorted(snaps: list[LegacyObject]) -> list[LegacyObject]:
    """The order 0.5.17's ``sortSnapshotsV3ByCreatedAt`` leaves: its exchange sort, whose
    treatment of equal times decides ties (plain sort when no two times are equal)."""
    if len({s.time_ns for s in snaps}) == len(snaps):
        return sorted(snaps, key=lambda s: s.time_ns)
    out = list(snaps)
    for i in range(len(out) - 1):
        for j in range(i + 1, len(out)):
            if out[i].time_ns > out[j].time_ns:
                out[i], out[j] = out[j], out[i]
    return out


def best_snapshot_v05(listing: Iterable[LegacyObject], t: int | None) -> LegacyObject | None:
    """0.5.17's ``findBestSnapshotV3``: the snapshot created last at or before ``t`` (ns)."""
    snaps = [o for o in listing if o.kind == "snapshot" and seen_by_v05(o)]
    ordered = _exchange_sorted(sorted(snaps, key=lambda o: (o.generation, o.index)))
    for snap in reversed(ordered):
        if t is None or snap.time_ns <= t:
            return snap
    return None


def _check_chain(snap: LegacyObject, segs: Sequence[LegacyObject], skipped: bool) -> None:
    """Refuse where 0.5.17's ``applyWALSegmentsV3`` fails (naming what it would miss)."""
    expected = snap.index
    current: int | None = None
    for seg in segs:
        if seg.offset == 0:
            if seg.index != expected:
                raise TxidNotAvailableError(
                    f"0.5.17 cannot restore this: missing WAL index {snap.generation}/"
                    f"{expected:08x} (next is {seg.index:08x})"
                )
            current, expected = seg.index, seg.index + 1
        elif current != seg.index:
            raise TxidNotAvailableError(
                f"0.5.17 cannot restore this: WAL index {snap.generation}/{seg.index:08x} "
                "has no segment at offset 0"
            )
    if skipped:
        raise TxidNotAvailableError(
            f"0.5.17 cannot restore this: a segment of generation {snap.generation} created "
            "after the time is followed by earlier ones (missing WAL segment)"
        )


def plan_v05(listing: Iterable[LegacyObject], when: dt.datetime | int | None) -> LegacyPlan:
    """The plan of ``litestream restore [-timestamp WHEN]`` (0.5.17) on 0.3 objects.

    TxidNotAvailableError where 0.5.17 fails (no snapshot by then, missing index or
    segment). The combined LTX/0.3 time bounds check is the caller's (``MixedSource``).
    """
    seen = [o for o in listing if seen_by_v05(o)]
    t = None if when is None else when if isinstance(when, int) else datetime_to_ns(when)
    snap = best_snapshot_v05(seen, t)
    if snap is None:
        at = "" if t is None else f" by {format_time_ns(t)}"
        raise TxidNotAvailableError(f"no 0.3 snapshot{at} (0.5.17: no snapshots available)")
    mine = sorted(
        (o for o in seen if o.kind == "wal" and o.generation == snap.generation),
        key=lambda o: (o.index, o.offset),
    )
    later = [o for o in mine if o.index >= snap.index]
    kept = [o for o in later if t is None or o.time_ns <= t]
    chosen = set(kept)
    last = (kept[-1].index, kept[-1].offset) if kept else None
    skipped = last is not None and any(
        o not in chosen and (o.index, o.offset) < last for o in later
    )
    _check_chain(snap, kept, skipped)
    if not kept:
        return LegacyPlan(snap.generation, snap, (), make_position(snap.index, 0))
    applied = sum(1 for o in kept if o.index == kept[-1].index)
    position = make_position(kept[-1].index, applied)
    return LegacyPlan(snap.generation, snap, tuple(kept), position)
