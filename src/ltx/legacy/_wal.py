"""SQLite WAL pieces as Litestream 0.3 stores them, checked the way SQLite checks them.

The WAL of one index is split into segments named by their byte offset in it: the
segment at offset 0 starts with the 32-byte WAL header, every segment holds whole
frames (24-byte frame header + one page). A frame counts only if its salts equal the
header's and its checksum continues the running checksum (SQLite's ``walDecodeFrame``);
a frame with a nonzero "database size after commit" ends a transaction (the rules live
in ``ltx.sqlitefmt.wal``). Where SQLite
would silently stop at a bad frame, we raise: the object is damaged, and stopping early
would hand back an older database than the names promise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import attrs

from ltx.errors import LegacyFormatError, UsageError
from ltx.sqlitefmt.wal import (
    FRAME_HEADER_SIZE,
    WAL_HEADER_SIZE,
    WAL_MAGIC_BE,
    WAL_MAGIC_LE,
    FrameHeader,
    WALHeader,
    wal_checksum,
)

from ._lz4 import ByteSource, ObjectReader, open_reader
from ._names import LegacyObject

__all__ = [
    "FRAME_HEADER_SIZE",
    "WAL_HEADER_SIZE",
    "WAL_MAGIC_BE",
    "WAL_MAGIC_LE",
    "FrameHeader",
    "WALFrame",
    "WALCursor",
    "WALHeader",
    "iter_frames",
    "iter_transactions",
    "wal_checksum",
]


OpenObject = Callable[[LegacyObject], ByteSource]


@attrs.frozen
class WALFrame:
    """One verified frame: where it sits in the index's WAL and in its segment object.

    ``segment`` indexes the sequence given to ``iter_frames``; ``data_offset`` is where
    the page starts in that segment's (decompressed) bytes, for lazy page reads.
    """

    pgno: int
    commit: int
    frame_no: int
    wal_offset: int
    segment: int
    data_offset: int


def _start(first: LegacyObject, rd: ObjectReader, page_size: int | None) -> WALHeader:
    if first.offset != 0:
        raise LegacyFormatError(
            f"WAL index {first.index:08x} has no segment at offset 0", path=first.path
        )
    hdr = WALHeader.parse(
        rd.read_exact(WAL_HEADER_SIZE, "WAL header"), path=first.path, error=LegacyFormatError
    )
    if page_size is not None and hdr.page_size != page_size:
        raise LegacyFormatError(
            f"WAL page size {hdr.page_size} differs from the database's {page_size}",
            path=first.path,
            offset=8,
        )
    return hdr


def _bad(message: str, seg: LegacyObject, offset: int) -> LegacyFormatError:
    return LegacyFormatError(message, path=seg.path, offset=offset)


def _follows(seg: LegacyObject, position: int) -> None:
    """A segment must start where the previous one ended (LegacyFormatError naming it)."""
    if seg.offset != position:
        what = "gap before" if seg.offset > position else "overlap at"
        raise _bad(f"{what} WAL offset {seg.offset} (segments end at {position})", seg, 0)


class WALCursor:
    """Verifies one WAL index a segment at a time, keeping SQLite's running checksum.

    Feed the index's segments in offset order with ``frames``; each must start where the
    previous one ended. ``iter_frames`` is this over a whole index; conversions use it
    to stop after any segment and go on later without reading earlier ones again.
    """

    def __init__(
        self,
        page_size: int | None = None,
        on_header: Callable[[WALHeader], None] | None = None,
    ) -> None:
        self.header: WALHeader | None = None
        self.position = WAL_HEADER_SIZE  # WAL offset where the next frame starts
        self.frame_no = 0
        self._page_size = page_size
        self._on_header = on_header
        self._sums = (0, 0)
        self._key: tuple[str, int] | None = None

    def frames(
        self, seg: LegacyObject, source: ByteSource, ordinal: int = 0
    ) -> Iterator[tuple[WALFrame, bytes]]:
        """The verified frames of ``seg`` with their pages; ``ordinal`` goes into each frame."""
        rd = open_reader(seg, source)
        if self.header is None:
            self._key = (seg.generation, seg.index)
            self.header = _start(seg, rd, self._page_size)
            self._sums = (self.header.checksum1, self.header.checksum2)
            if self._on_header is not None:
                self._on_header(self.header)
        elif (seg.generation, seg.index) != self._key:
            raise UsageError("a WALCursor reads the segments of one WAL index")
        else:
            _follows(seg, self.position)
        hdr = self.header
        ps, be, salts = hdr.page_size, hdr.big_endian, (hdr.salt1, hdr.salt2)
        while not rd.at_end():
            raw = rd.read_exact(FRAME_HEADER_SIZE + ps, "WAL frame")
            fh = FrameHeader.parse(raw[:FRAME_HEADER_SIZE])
            where = rd.position - len(raw)
            if (fh.salt1, fh.salt2) != salts:
                raise _bad("WAL frame salt differs from the header's", seg, where)
            if fh.pgno == 0:
                raise _bad("WAL frame for page 0", seg, where)
            s0, s1 = wal_checksum(raw[:8], *self._sums, big_endian=be)
            s0, s1 = wal_checksum(raw[FRAME_HEADER_SIZE:], s0, s1, big_endian=be)
            if (s0, s1) != (fh.checksum1, fh.checksum2):
                raise _bad("WAL frame checksum mismatch", seg, where)
            self._sums = (s0, s1)
            self.frame_no += 1
            pos = self.position
            self.position += FRAME_HEADER_SIZE + ps
            data_at = where + FRAME_HEADER_SIZE
            yield (
                WALFrame(fh.pgno, fh.commit, self.frame_no, pos, ordinal, data_at),
                raw[FRAME_HEADER_SIZE:],
            )


def iter_frames(
    segments: Sequence[LegacyObject],
    open_object: OpenObject,
    *,
    page_size: int | None = None,
    on_header: Callable[[WALHeader], None] | None = None,
) -> Iterator[tuple[WALFrame, bytes]]:
    """Every frame of one index's WAL with its page, in order, each one verified.

    ``segments`` are that index's objects sorted by offset. Each must start where the
    previous one ended (a gap or overlap raises, naming the object) and hold whole
    frames. Salts, page numbers and the running checksum are checked as SQLite does.
    """
    if not segments:
        return
    if len({(s.generation, s.index) for s in segments}) != 1:
        raise UsageError("iter_frames reads the segments of one WAL index at a time")
    cursor = WALCursor(page_size, on_header)
    for i, seg in enumerate(segments):
        if i:
            _follows(seg, cursor.position)  # before opening it
        yield from cursor.frames(seg, open_object(seg), i)


def iter_transactions(
    segments: Sequence[LegacyObject],
    open_object: OpenObject,
    *,
    page_size: int | None = None,
    on_header: Callable[[WALHeader], None] | None = None,
) -> Iterator[tuple[WALFrame, ...]]:
    """The committed transactions of one index, each ending with its commit frame.

    Frames after the last commit frame are dropped, as SQLite's recovery drops them.
    """
    pending: list[WALFrame] = []
    for frame, _page in iter_frames(
        segments, open_object, page_size=page_size, on_header=on_header
    ):
        pending.append(frame)
        if frame.commit:
            yield tuple(pending)
            pending = []
