"""A 0.3 restore advanced one WAL segment at a time, saying which pages each one changed.

Same outcome as ``build_legacy_pages`` (SQLite's checkpoint at the end of each index: the
newest committed frame of every page up to the last commit's size, then the file cut
to that size), but incremental: a conversion reads each segment once and writes one
small LTX file per restorable point instead of replaying from the snapshot each time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping

import attrs

from ltx.errors import UsageError

from ._apply import LegacyPages, PageSource, build_legacy_pages, read_at
from ._lz4 import ByteSource, open_reader
from ._names import LegacyObject
from ._plan import LegacyPlan, make_position
from ._wal import WALCursor

__all__ = ["Replay", "ReplayStep", "read_sources"]

OpenObject = Callable[[LegacyObject], ByteSource]


@attrs.frozen
class ReplayStep:
    """What one segment changed: the database size after it and every page it set."""

    count: int
    pages: Mapping[int, bytes]


def read_sources(
    page_size: int, wanted: Mapping[int, PageSource], open_object: OpenObject
) -> dict[int, bytes]:
    """The bytes of each page in ``wanted``: one sequential pass per object, in offset order."""
    out: dict[int, bytes] = {}
    by_object: dict[str, list[tuple[int, int]]] = defaultdict(list)
    objects: dict[str, LegacyObject] = {}
    for pgno, src in wanted.items():
        if src.object is None:
            out[pgno] = bytes(page_size)
            continue
        objects[src.object.path] = src.object
        by_object[src.object.path].append((src.offset, pgno))
    for path, spots in by_object.items():
        obj = objects[path]
        rd = open_reader(obj, open_object(obj))
        for offset, pgno in sorted(spots):
            out[pgno] = read_at(rd, offset, page_size)
    return out


class Replay:
    """The database a plan restores, from its snapshot, one segment of its plan at a time.

    Segments must come in plan order (by index, then offset), as ``LegacyPlan.segments``
    lists them; gaps, bad frames and foreign segments raise as in ``build_legacy_pages``.
    """

    def __init__(self, snapshot: LegacyObject, open_object: OpenObject) -> None:
        alone = LegacyPlan(snapshot.generation, snapshot, (), make_position(snapshot.index, 0))
        base = build_legacy_pages(alone, open_object)
        self.snapshot = snapshot
        self.open_object = open_object
        self.page_size = base.page_size
        self.count = base.page_count
        self.segments: list[LegacyObject] = []
        self._snapshot_pages = base.snapshot_pages
        self._base: dict[int, tuple[int, int]] = {}  # from earlier, checkpointed indexes
        self._base_count = base.page_count
        self._latest: dict[int, tuple[int, int]] = {}  # newest committed frame, this index
        self._commit = 0  # the last commit's size in this index (0: none yet)
        self._pending: list[tuple[int, int, int, bytes]] = []
        self._cursor: WALCursor | None = None
        self._index: int | None = None

    @property
    def position(self) -> int:
        """The position reached: the last segment's (index, segments of it applied)."""
        if not self.segments:
            return make_position(self.snapshot.index, 0)
        last = self.segments[-1].index
        return make_position(last, sum(1 for s in self.segments if s.index == last))

    def _finish_index(self) -> None:
        """Checkpoint the current index: its committed frames become the base, cut to size."""
        if self._commit:
            c = self._commit
            if c < self._base_count:
                self._base = {p: v for p, v in self._base.items() if p <= c}
            self._base.update((p, v) for p, v in self._latest.items() if p <= c)
            self._base_count = c
            self._snapshot_pages = min(self._snapshot_pages, c)
        self._latest, self._commit, self._pending = {}, 0, []
        self._cursor, self._index = None, None

    def advance(self, seg: LegacyObject) -> ReplayStep:
        """Apply ``seg``; the pages whose content it set (written or grown into), by number."""
        if seg.generation != self.snapshot.generation or seg.index < self.snapshot.index:
            raise UsageError(f"{seg.path} is not part of a plan from {self.snapshot.path}")
        if self._index is not None and seg.index != self._index:
            self._finish_index()
        if self._cursor is None:
            self._cursor, self._index = WALCursor(self.page_size), seg.index
        ordinal = len(self.segments)
        self.segments.append(seg)
        before = self.count
        written: dict[int, bytes] = {}
        for frame, data in self._cursor.frames(seg, self.open_object(seg), ordinal):
            self._pending.append((frame.pgno, ordinal, frame.data_offset, data))
            if frame.commit:
                for pgno, o, off, page in self._pending:
                    self._latest[pgno] = (o, off)
                    written[pgno] = page
                self._pending, self._commit = [], frame.commit
        self.count = self._commit or self._base_count
        pages = {p: d for p, d in written.items() if p <= self.count}
        grown = [p for p in range(before + 1, self.count + 1) if p not in pages]
        pages.update(self.read(grown))
        return ReplayStep(self.count, pages)

    def source(self, pgno: int) -> PageSource:
        """Where page ``pgno`` (1..count) of the current state comes from."""
        hit = self._latest.get(pgno) if self._commit else None
        if hit is None:
            hit = self._base.get(pgno)
        if hit is not None:
            return PageSource("wal", self.segments[hit[0]], hit[1])
        if pgno <= self._snapshot_pages:
            return PageSource("snapshot", self.snapshot, (pgno - 1) * self.page_size)
        return PageSource("zero", None, 0)

    def read(self, pgnos: Iterable[int]) -> dict[int, bytes]:
        """The current content of these pages (grouped reads, one pass per object)."""
        wanted = {p: self.source(p) for p in pgnos}
        return read_sources(self.page_size, wanted, self.open_object) if wanted else {}

    def pages(self, plan: LegacyPlan) -> LegacyPages:
        """The current state as the ``LegacyPages`` of ``plan`` (the plan replayed so far)."""
        if tuple(plan.segments) != tuple(self.segments) or plan.snapshot != self.snapshot:
            raise UsageError("the plan differs from the segments replayed")
        wal = {p: v for p, v in self._base.items() if p <= self.count}
        if self._commit:
            wal.update((p, v) for p, v in self._latest.items() if p <= self.count)
        limit = min(self._snapshot_pages, self._commit) if self._commit else self._snapshot_pages
        return LegacyPages(plan, self.page_size, self.count, limit, tuple(self.segments), wal)
