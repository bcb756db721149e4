"""Where each page of a restored 0.3 database comes from, and reading it lazily.

0.3.13 restores by copying the snapshot, then for each WAL index renaming its segments'
bytes to ``-wal`` and running ``PRAGMA wal_checkpoint(TRUNCATE)``. SQLite's checkpoint
copies, for every page up to the last commit's database size, its newest committed
frame, and then sets the file to exactly that many pages (truncating, or extending with
zeros). An index without a commit frame changes nothing. The page map records that
outcome without copying data: page -> (segment, offset) for WAL pages, the snapshot for
the rest below the lowest size any index truncated to, zeros above.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from typing import Literal, Protocol

import attrs

from ltx.errors import DatabaseFormatError, LegacyFormatError, PageNotFoundError
from ltx.sqlitefmt.header import HEADER_SIZE as DB_HEADER_SIZE
from ltx.sqlitefmt.header import header_page_size
from ltx.sqlitefmt.wal import FRAME_HEADER_SIZE

from ._lz4 import ByteSource, ObjectReader, open_reader
from ._names import LegacyObject
from ._plan import LegacyPlan
from ._wal import iter_transactions

__all__ = [
    "LegacyPages",
    "PageSource",
    "build_legacy_pages",
    "database_bytes",
    "iter_pages",
    "read_at",
    "read_legacy_page",
    "write_database",
]

OpenObject = Callable[[LegacyObject], ByteSource]
_COPY = 1 << 20


class SeekableSink(Protocol):
    """A writable binary file: the restored database is written into one of these."""

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def write(self, data: bytes, /) -> int: ...

    def truncate(self, size: int | None = None, /) -> int: ...


@attrs.frozen
class PageSource:
    """Where one page comes from: the snapshot, a WAL segment (at ``offset``), or zeros."""

    kind: Literal["snapshot", "wal", "zero"]
    object: LegacyObject | None
    offset: int


@attrs.frozen(eq=False)
class LegacyPages:
    """The database a plan restores, as sources per page (no page data is held).

    Pages ``1..snapshot_pages`` not in ``wal_pages`` come from the snapshot at
    ``(pgno - 1) * page_size`` (zeros where the snapshot is shorter); pages in
    ``wal_pages`` come from ``segments[i]`` at the given offset; the rest are zeros.
    """

    plan: LegacyPlan
    page_size: int
    page_count: int
    snapshot_pages: int
    segments: tuple[LegacyObject, ...]
    wal_pages: Mapping[int, tuple[int, int]]
    commit_end: tuple[int, int] | None = None
    """(index, WAL offset just past the last commit frame applied); None if none was."""

    @property
    def size(self) -> int:
        """The restored database's size in bytes."""
        return self.page_count * self.page_size

    def source(self, pgno: int) -> PageSource:
        """Where page ``pgno`` comes from; PageNotFoundError past the end."""
        if not 1 <= pgno <= self.page_count:
            raise PageNotFoundError(
                f"page {pgno} is past the end ({self.page_count} pages)",
                pgno=pgno,
                txid=self.plan.position,
            )
        hit = self.wal_pages.get(pgno)
        if hit is not None:
            return PageSource("wal", self.segments[hit[0]], hit[1])
        if pgno <= self.snapshot_pages:
            return PageSource("snapshot", self.plan.snapshot, (pgno - 1) * self.page_size)
        return PageSource("zero", None, 0)


def _header_page_size(snapshot: LegacyObject, head: bytes) -> int | None:
    """The page size a database header declares (None for an empty snapshot)."""
    if not head:
        return None
    try:
        return header_page_size(head)
    except DatabaseFormatError as exc:
        raise exc.at(snapshot.path) from None


def _replay_index(
    segments: list[LegacyObject],
    base: int,
    open_object: OpenObject,
    page_size: int | None,
    seen_size: list[int],
) -> tuple[dict[int, tuple[int, int]], int, int]:
    """(newest committed frame per page, last commit size or 0, WAL offset past it)."""
    latest: dict[int, tuple[int, int]] = {}
    commit = end = 0
    for txn in iter_transactions(
        segments,
        open_object,
        page_size=page_size,
        on_header=lambda h: seen_size.append(h.page_size),
    ):
        for f in txn:
            latest[f.pgno] = (base + f.segment, f.data_offset)
        commit, end = txn[-1].commit, txn[-1].wal_offset + FRAME_HEADER_SIZE + seen_size[0]
    return latest, commit, end


def _snapshot_length(plan: LegacyPlan, open_object: OpenObject) -> int:
    """The snapshot's decompressed length, counted in bounded steps."""
    rd = open_reader(plan.snapshot, open_object(plan.snapshot))
    total = 0
    while True:
        got = len(rd.read(1 << 20))
        if not got:
            return total
        total += got


def build_legacy_pages(plan: LegacyPlan, open_object: OpenObject) -> LegacyPages:
    """Replay ``plan``'s WAL segments (reading each once, checking every frame) into a map.

    Reads only the snapshot's header, unless no index commits (then its length too).
    """
    head = open_reader(plan.snapshot, open_object(plan.snapshot)).read(DB_HEADER_SIZE)
    page_size = _header_page_size(plan.snapshot, head)
    ordered = tuple(sorted(plan.segments, key=lambda o: (o.index, o.offset)))
    by_index: dict[int, list[LegacyObject]] = defaultdict(list)
    for seg in ordered:
        by_index[seg.index].append(seg)
    wal_pages: dict[int, tuple[int, int]] = {}
    snapshot_pages: int | None = None
    count: int | None = None
    commit_end: tuple[int, int] | None = None
    base = 0
    for index in sorted(by_index):
        segs = by_index[index]
        sizes: list[int] = []
        latest, commit, end = _replay_index(segs, base, open_object, page_size, sizes)
        page_size = page_size or (sizes[0] if sizes else None)
        base += len(segs)
        if not commit:
            continue
        wal_pages.update((p, v) for p, v in latest.items() if p <= commit)
        if count is not None and commit < count:
            wal_pages = {p: v for p, v in wal_pages.items() if p <= commit}
        snapshot_pages = commit if snapshot_pages is None else min(snapshot_pages, commit)
        count, commit_end = commit, (index, end)
    if page_size is None:
        raise LegacyFormatError("empty snapshot and no WAL", path=plan.snapshot.path)
    if count is None:
        length = _snapshot_length(plan, open_object)
        if length % page_size:
            raise LegacyFormatError(
                f"snapshot is {length} bytes, not whole {page_size}-byte pages",
                path=plan.snapshot.path,
            )
        count = snapshot_pages = length // page_size
    assert snapshot_pages is not None
    return LegacyPages(plan, page_size, count, snapshot_pages, ordered, wal_pages, commit_end)


def read_at(rd: ObjectReader, offset: int, n: int) -> bytes:
    """``n`` bytes at ``offset`` of a reader positioned at or before it, zero-padded at EOF."""
    while rd.position < offset:
        if not rd.read(min(offset - rd.position, 1 << 16)):
            return bytes(n)
    data = rd.read(n)
    return data + bytes(n - len(data))


def read_legacy_page(page_map: LegacyPages, pgno: int, open_object: OpenObject) -> bytes:
    """Page ``pgno`` of the restored database, decompressing only the one object up to it."""
    src = page_map.source(pgno)
    if src.object is None:
        return bytes(page_map.page_size)
    rd = open_reader(src.object, open_object(src.object))
    if src.kind == "wal":
        rd.skip(src.offset)
        return rd.read_exact(page_map.page_size, "WAL page")
    return read_at(rd, src.offset, page_map.page_size)


def iter_pages(page_map: LegacyPages, open_object: OpenObject) -> Iterator[tuple[int, bytes]]:
    """Every page once as (pgno, data), one sequential pass per object, in no set order.

    The snapshot is read to its end so its LZ4 content checksum is verified (segments were
    verified when the map was built; ``read_legacy_page`` stops at the page it needs).
    """
    ps, wal = page_map.page_size, page_map.wal_pages
    from_snapshot = min(page_map.snapshot_pages, page_map.page_count)
    if any(p not in wal for p in range(1, from_snapshot + 1)):
        rd = open_reader(page_map.plan.snapshot, open_object(page_map.plan.snapshot))
        for pgno in range(1, from_snapshot + 1):
            if pgno not in wal:
                yield pgno, read_at(rd, (pgno - 1) * ps, ps)
        while rd.read(1 << 16):  # to the end, so the frame's content checksum is checked
            pass
    for pgno in range(from_snapshot + 1, page_map.page_count + 1):
        if pgno not in wal:
            yield pgno, bytes(ps)
    by_segment: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for pgno, (seg, offset) in wal.items():
        by_segment[seg].append((offset, pgno))
    for seg, wanted in sorted(by_segment.items()):
        obj = page_map.segments[seg]
        rd = open_reader(obj, open_object(obj))
        for offset, pgno in sorted(wanted):
            rd.skip(offset - rd.position)
            yield pgno, rd.read_exact(ps, "WAL page")


def write_database(
    page_map: LegacyPages,
    open_object: OpenObject,
    out: SeekableSink,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write the restored database into ``out`` (emptied first); returns its size in bytes.

    The snapshot's part is copied in 1 MiB pieces (read to its end, so its LZ4 content
    checksum is checked), then the size is set and the WAL pages are written over it,
    one sequential pass per segment. ``progress(done, total)`` counts pages.
    """
    ps, total = page_map.page_size, page_map.page_count
    out.seek(0)
    out.truncate(0)
    done = 0
    limit = min(page_map.snapshot_pages, total) * ps
    if limit:
        rd = open_reader(page_map.plan.snapshot, open_object(page_map.plan.snapshot))
        while rd.position < limit:
            chunk = rd.read_some(min(_COPY, limit - rd.position))
            if not chunk:
                break  # a shorter snapshot: the rest reads as zeros
            out.write(chunk)
            done = rd.position // ps
            if progress is not None:
                progress(done, total)
        while rd.read_some(_COPY):  # to the end, so the frame's content checksum is checked
            pass
    out.truncate(page_map.size)
    by_segment: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for pgno, (seg, offset) in page_map.wal_pages.items():
        by_segment[seg].append((offset, pgno))
    for seg, wanted in sorted(by_segment.items()):
        obj = page_map.segments[seg]
        rd = open_reader(obj, open_object(obj))
        for offset, pgno in sorted(wanted):
            rd.skip(offset - rd.position)
            out.seek((pgno - 1) * ps)
            out.write(rd.read_exact(ps, "WAL page"))
        done = min(total, done + len(wanted))
        if progress is not None:
            progress(done, total)
    if progress is not None:
        progress(total, total)
    return page_map.size


def database_bytes(page_map: LegacyPages, open_object: OpenObject) -> bytes:
    """The restored database as one bytes object (for small databases and tests)."""
    buf = bytearray(page_map.size)
    ps = page_map.page_size
    for pgno, data in iter_pages(page_map, open_object):
        buf[(pgno - 1) * ps : pgno * ps] = data
    return bytes(buf)
