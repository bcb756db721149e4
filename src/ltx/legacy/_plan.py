"""Which objects of a 0.3 replica rebuild which point, chosen as 0.3.13's ``restore`` does.

Rules of the 0.3.13 binary (``Replica.CalcRestoreTarget``, ``GenerationTimeBounds``,
``SnapshotIndexAt``, ``walSegmentMap``, ``Restore``), each pinned by an interop test:

* Generations are taken in name order. A generation's time bounds are the min/max
  creation time of all its snapshots and segments (a later source counts only segments
  between its lowest and highest snapshot index; the 0.3.13 binary counts them all).
  With a time T, generations whose bounds do not contain T are skipped - so a T after
  the newest object restores nothing; the one with the latest upper bound wins (the
  first on ties), even without a snapshot - and then the restore fails.
* Snapshot: the one created last at or before T (the latest without T), whatever its
  index. Ties on time go to the lowest index (0.3.13 takes the first listed: S3 lists
  by name, file:// in directory order).
* Segments: sorted by (index, offset), taken while created at or before T - the first
  later one stops the scan, whatever its index - and kept from the snapshot's index on.
  Every index from the snapshot's to the last kept must be listed and start at offset
  0, else 0.3.13 fails ("missing WAL index", "missing initial wal segment").

Position (a TXID-like integer, per generation): ``index << 32 | n`` where n counts the
segments of that index applied (0 = the snapshot alone). A 0.3 segment is one sync, like
a 0.5 TXID, and is what a restore time can select; the count only grows as segments
are added, and retention only drops whole indexes, so positions stay stable.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Sequence

import attrs

from ltx.errors import TxidNotAvailableError, UsageError

from ._names import LegacyObject, datetime_to_ns, format_time_ns, ns_to_datetime

__all__ = [
    "LegacyPlan",
    "LegacyPoint",
    "PointCut",
    "history",
    "make_position",
    "plan_at",
    "plan_for_position",
    "plan_latest",
    "point_cuts",
    "split_position",
]

POSITION_SHIFT = 32


def make_position(index: int, applied: int) -> int:
    """The TXID-like position after ``applied`` segments of WAL ``index``."""
    return (index << POSITION_SHIFT) | applied


def split_position(position: int) -> tuple[int, int]:
    """(index, segments applied) of a position."""
    return position >> POSITION_SHIFT, position & ((1 << POSITION_SHIFT) - 1)


@attrs.frozen
class LegacyPlan:
    """A restore: this generation's snapshot, then these segments in order (by index, offset)."""

    generation: str
    snapshot: LegacyObject
    segments: tuple[LegacyObject, ...]
    position: int

    @property
    def index(self) -> int:
        """The last WAL index applied (the snapshot's when no segment is)."""
        return self.segments[-1].index if self.segments else self.snapshot.index


@attrs.frozen
class LegacyPoint:
    """A point a restore can rebuild, and the earliest time that restores it.

    ``offset`` is the start of the last segment applied (None: the snapshot alone) and
    ``end_offset`` its end when the listing shows it (the next segment's offset).
    """

    generation: str
    position: int
    index: int
    offset: int | None
    end_offset: int | None
    snapshot_index: int
    time_ns: int

    @property
    def created_at(self) -> dt.datetime:
        """When this point became restorable (the creation time of an object in its plan)."""
        return ns_to_datetime(self.time_ns)


class _Unrestorable(Exception):
    """0.3.13 would fail on this generation at this time; the message says why."""


def _prefer(a: LegacyObject, b: LegacyObject) -> LegacyObject:
    """Of two objects for the same place, the LZ4 one, then the canonical (shortest) name."""
    return min(a, b, key=lambda o: (not o.compressed, len(o.name), o.name))


class _Generation:
    """One generation's snapshots and segments, sorted, with the lookups the rules need."""

    def __init__(self, name: str, objects: Iterable[LegacyObject]):
        unique: dict[tuple[str, int, int], LegacyObject] = {}
        for o in objects:
            key = (o.kind, o.index, o.offset)
            unique[key] = _prefer(unique[key], o) if key in unique else o
        self.name = name
        kept = [unique[k] for k in sorted(unique)]
        self.snaps = sorted(
            (o for o in kept if o.kind == "snapshot"), key=lambda o: (o.time_ns, o.index)
        )
        self.snap_times = [o.time_ns for o in self.snaps]
        self.segs = [o for o in kept if o.kind == "wal"]  # by (index, offset)
        self.seg_index = [o.index for o in self.segs]
        self.prefix_max: list[int] = []
        self.applied: list[int] = []
        for i, o in enumerate(self.segs):
            top = max(o.time_ns, self.prefix_max[-1]) if i else o.time_ns
            self.prefix_max.append(top)
            same = i and self.segs[i - 1].index == o.index
            self.applied.append(self.applied[-1] + 1 if same else 1)
        self.indexes = sorted({o.index for o in self.segs})
        self.bad = [
            o.index
            for o, n in zip(self.segs, self.applied, strict=True)
            if n == 1 and o.offset != 0
        ]

    def bounds(self) -> tuple[int, int] | None:
        """0.3.13's ``GenerationTimeBounds``: over every snapshot and segment (None if empty)."""
        times = [*self.snap_times, *(o.time_ns for o in self.segs)]
        return (min(times), max(times)) if times else None

    def snapshot_at(self, t: int | None) -> LegacyObject | None:
        """The snapshot created last at or before ``t``; ties to the lowest index."""
        k = len(self.snaps) if t is None else bisect.bisect_right(self.snap_times, t)
        if k == 0:
            return None
        return self.snaps[bisect.bisect_left(self.snap_times, self.snap_times[k - 1])]

    def cut(self, t: int | None) -> tuple[LegacyObject, int, int]:
        """(snapshot, first, end): restoring at ``t`` applies ``segs[first:end]``."""
        snap = self.snapshot_at(t)
        if snap is None:
            raise _Unrestorable(f"generation {self.name} has no snapshot by then")
        first = bisect.bisect_left(self.seg_index, snap.index)
        end = len(self.segs) if t is None else bisect.bisect_right(self.prefix_max, t)
        if end <= first:
            return snap, first, first
        last = self.seg_index[end - 1]
        lo = bisect.bisect_left(self.indexes, snap.index)
        hi = bisect.bisect_right(self.indexes, last)
        bad = bisect.bisect_right(self.bad, last) - bisect.bisect_left(self.bad, snap.index)
        if hi - lo != last - snap.index + 1 or bad:
            raise _Unrestorable(self._why(snap.index, last))
        return snap, first, end

    def _why(self, lo: int, hi: int) -> str:
        """Why indexes ``lo..hi`` cannot be replayed: the first missing or headless one."""
        listed = set(self.indexes)
        for index in range(lo, hi + 1):
            if index not in listed:
                return f"WAL index {self.name}/{index:08x} is missing"
            if index in self.bad:
                return f"WAL index {self.name}/{index:08x} has no segment at offset 0"
        raise AssertionError("unreachable: the range was checked as invalid")

    def position(self, snap: LegacyObject, first: int, end: int) -> int:
        if end > first:
            return make_position(self.seg_index[end - 1], self.applied[end - 1])
        return make_position(snap.index, 0)

    def plan(self, cut: tuple[LegacyObject, int, int]) -> LegacyPlan:
        snap, first, end = cut
        return LegacyPlan(self.name, snap, tuple(self.segs[first:end]), self.position(*cut))

    def points(self) -> list[LegacyPoint]:
        """Every distinct restorable point, at the earliest object time that yields it."""
        seen: set[int] = set()
        out: list[LegacyPoint] = []
        times = sorted({*self.snap_times, *(o.time_ns for o in self.segs)})
        for t in times:
            try:
                snap, first, end = self.cut(t)
            except _Unrestorable:
                continue
            pos = self.position(snap, first, end)
            if pos in seen:
                continue
            seen.add(pos)
            last = self.segs[end - 1] if end > first else None
            nxt = self.segs[end] if end < len(self.segs) else None
            stop = nxt.offset if last and nxt and nxt.index == last.index else None
            index = last.index if last else snap.index
            offset = last.offset if last else None
            out.append(LegacyPoint(self.name, pos, index, offset, stop, snap.index, t))
        return out


def _group(listing: Iterable[LegacyObject]) -> list[_Generation]:
    by_name: dict[str, list[LegacyObject]] = {}
    for o in listing:
        by_name.setdefault(o.generation, []).append(o)
    return [_Generation(name, by_name[name]) for name in sorted(by_name)]


def _choose(gens: Sequence[_Generation], t: int | None) -> _Generation | None:
    """0.3.13's generation choice: latest upper bound among those whose bounds hold ``t``."""
    best: _Generation | None = None
    best_hi = 0
    for g in gens:
        b = g.bounds()
        if b is None or (t is not None and not b[0] <= t <= b[1]):
            continue
        if best is None or b[1] > best_hi:
            best, best_hi = g, b[1]
    return best


def _to_ns(when: dt.datetime | int) -> int:
    if isinstance(when, bool) or not isinstance(when, (int, dt.datetime)):
        raise TypeError(f"a restore time is a datetime or int nanoseconds, not {when!r}")
    return when if isinstance(when, int) else datetime_to_ns(when)


def _describe(p: LegacyPoint) -> str:
    at = "snapshot" if p.offset is None else f"segment {p.offset:08x}"
    when = format_time_ns(p.time_ns)
    return f"{p.generation}/{p.index:08x} {at} ({when}, position {p.position:016x})"


TXID_INDEX_BITS, TXID_COUNT_BITS = 28, 20
"""A 0.3 point's TXID: generation tag (16 bits), WAL index (28), segments applied (20)."""


def legacy_txid(generation: str, position: int) -> int:
    """The TXID of a 0.3 point: generation tag (16 bits), WAL index (28), segments (20)."""
    index, applied = split_position(position)
    if index >> TXID_INDEX_BITS or applied >> TXID_COUNT_BITS:
        raise UsageError(f"0.3 position {position:016x} of {generation} is too large for a TXID")
    return int(generation[:4], 16) << 48 | index << TXID_COUNT_BITS | applied


def _not_available(message: str, gens: Sequence[_Generation], t: int | None) -> Exception:
    """TxidNotAvailableError naming the points nearest ``t`` (the last ones without ``t``)."""
    pts = sorted((p for g in gens for p in g.points()), key=lambda p: (p.time_ns, p.position))
    before = [p for p in pts if t is None or p.time_ns <= t]
    after = [p for p in pts if t is not None and p.time_ns > t]
    b = before[-1] if before else None
    a = after[0] if after else None
    near = [f"{k}: {_describe(p)}" for k, p in (("before", b), ("after", a)) if p is not None]
    text = f"{message}; nearest points {'; '.join(near)}" if near else message
    # The nearest points as TXIDs (what --txid and history show), not 0.3 positions.
    return TxidNotAvailableError(
        text,
        before=legacy_txid(b.generation, b.position) if b else None,
        after=legacy_txid(a.generation, a.position) if a else None,
    )


def _plan(listing: Iterable[LegacyObject], t: int | None, label: str) -> LegacyPlan:
    gens = _group(listing)
    if not gens:
        raise TxidNotAvailableError("no 0.3 backup: nothing under generations/ in the listing")
    gen = _choose(gens, t)
    if gen is None:
        raise _not_available(f"no 0.3 generation covers {label}", gens, t)
    try:
        return gen.plan(gen.cut(t))
    except _Unrestorable as exc:
        raise _not_available(f"cannot restore {label}: {exc}", gens, t) from None


def plan_latest(listing: Iterable[LegacyObject]) -> LegacyPlan:
    """The plan of ``litestream restore`` (0.3.13) without ``-timestamp``."""
    return _plan(listing, None, "the latest point")


def plan_at(listing: Iterable[LegacyObject], when: dt.datetime | int) -> LegacyPlan:
    """The plan of ``litestream restore -timestamp WHEN`` (0.3.13); ``when`` in ns if int.

    TxidNotAvailableError, naming the nearest points, where 0.3.13 fails.
    """
    t = _to_ns(when)
    return _plan(listing, t, format_time_ns(t))


def history(listing: Iterable[LegacyObject]) -> list[LegacyPoint]:
    """Every point the listing can rebuild, of every generation, oldest first."""
    pts = [p for g in _group(listing) for p in g.points()]
    return sorted(pts, key=lambda p: (p.time_ns, p.generation, p.position))


def plan_for_position(
    listing: Iterable[LegacyObject], generation: str, position: int
) -> LegacyPlan:
    """The plan that rebuilds ``position`` of ``generation`` (as listed by ``history``)."""
    gens = {g.name: g for g in _group(listing)}
    gen = gens.get(generation)
    pts = gen.points() if gen is not None else []
    for p in pts:
        if p.position == position:
            assert gen is not None
            return gen.plan(gen.cut(p.time_ns))
    lower = [p.position for p in pts if p.position < position]
    higher = [p.position for p in pts if p.position > position]
    raise TxidNotAvailableError(
        f"position {position:016x} of generation {generation} cannot be rebuilt",
        txid=position,
        before=max(lower, default=None),
        after=min(higher, default=None),
    )


@attrs.frozen(eq=False)
class PointCut:
    """How ``point`` is rebuilt: ``snapshot``, then ``segments[first:end]`` (its generation's
    segments by index and offset, shared by every cut of that generation)."""

    point: LegacyPoint
    snapshot: LegacyObject
    segments: Sequence[LegacyObject]
    first: int
    end: int

    def plan(self) -> LegacyPlan:
        """The same as ``plan_for_position`` for this point."""
        segs = tuple(self.segments[self.first : self.end])
        return LegacyPlan(self.point.generation, self.snapshot, segs, self.point.position)


def point_cuts(listing: Iterable[LegacyObject]) -> list[PointCut]:
    """Every point of ``history`` with its cut, in the same order, in O(n log n) overall."""
    out = []
    for g in _group(listing):
        for p in g.points():
            snap, first, end = g.cut(p.time_ns)
            out.append(PointCut(p, snap, g.segs, first, end))
    return sorted(out, key=lambda c: (c.point.time_ns, c.point.generation, c.point.position))
