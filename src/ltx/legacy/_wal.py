"""SQLite WAL pieces as Litestream 0.3 stores them, checked the way SQLite checks them.

The WAL of one index is split into segments named by their byte offset in it: the
segment at offset 0 starts with the 32-byte WAL header, every segment holds whole
frames (24-byte frame header + one page). A frame counts only if its salts equal the
header's and its checksum continues the running checksum (SQLite's ``walDecodeFrame``);
a frame with a nonzero "database size after commit" ends a transaction. Where SQLite
would silently stop at a bad frame, we raise: the object is damaged, and stopping early
would hand back an older database than the names promise.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Sequence

import attrs

from ltx.errors import LegacyFormatError, UsageError
from ltx.sqlitefmt.header import is_valid_page_size

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

WAL_HEADER_SIZE = 32
FRAME_HEADER_SIZE = 24
WAL_MAGIC_LE = 0x377F0682
"""Checksums read the data as little-endian 32-bit words."""
WAL_MAGIC_BE = 0x377F0683
"""Checksums read the data as big-endian 32-bit words."""
WAL_VERSION = 3007000
_MASK = 0xFFFFFFFF

OpenObject = Callable[[LegacyObject], ByteSource]


def wal_checksum(data: bytes, s0: int = 0, s1: int = 0, *, big_endian: bool) -> tuple[int, int]:
    """SQLite's running WAL checksum over ``data`` (a multiple of 8 bytes), from (s0, s1).

    Eight word pairs per loop turn, masked once per turn (the sums stay below 2**48),
    which is about three times faster than masking every step; restores spend most of
    their Python time here.
    """
    if len(data) % 8:
        raise UsageError(f"WAL checksum input must be a multiple of 8 bytes, got {len(data)}")
    n = len(data) // 4
    words = struct.unpack(f"{'>' if big_endian else '<'}{n}I", data)
    whole = n - n % 16
    it = iter(words[:whole])
    for a0, b0, a1, b1, a2, b2, a3, b3, a4, b4, a5, b5, a6, b6, a7, b7 in zip(
        *([it] * 16), strict=False
    ):
        s0 += a0 + s1
        s1 += b0 + s0
        s0 += a1 + s1
        s1 += b1 + s0
        s0 += a2 + s1
        s1 += b2 + s0
        s0 += a3 + s1
        s1 += b3 + s0
        s0 += a4 + s1
        s1 += b4 + s0
        s0 += a5 + s1
        s1 += b5 + s0
        s0 += a6 + s1
        s1 += b6 + s0
        s0 += a7 + s1
        s1 += b7 + s0
        s0 &= _MASK
        s1 &= _MASK
    for a, b in zip(words[whole::2], words[whole + 1 :: 2], strict=True):
        s0 = (s0 + a + s1) & _MASK
        s1 = (s1 + b + s0) & _MASK
    return s0, s1


@attrs.frozen
class WALHeader:
    """The 32-byte WAL header: magic, version, page size, checkpoint seq, salts, checksum."""

    magic: int
    version: int
    page_size: int
    checkpoint_seq: int
    salt1: int
    salt2: int
    checksum1: int
    checksum2: int

    @property
    def big_endian(self) -> bool:
        """Checksum byte order: bit 0 of the magic (0x377f0683 means big-endian)."""
        return self.magic == WAL_MAGIC_BE

    @classmethod
    def parse(cls, data: bytes, *, path: str | None = None) -> WALHeader:
        """Decode and check a header as SQLite's recovery does; LegacyFormatError if bad."""
        if len(data) != WAL_HEADER_SIZE:
            raise LegacyFormatError(f"WAL header is {len(data)} bytes, not 32", path=path, offset=0)
        hdr = cls(*struct.unpack(">8I", data))
        if hdr.magic not in (WAL_MAGIC_LE, WAL_MAGIC_BE):
            raise LegacyFormatError(
                f"not a WAL header (magic {hdr.magic:08x})", path=path, offset=0
            )
        if hdr.version != WAL_VERSION:
            raise LegacyFormatError(f"WAL format version {hdr.version}", path=path, offset=0)
        if not is_valid_page_size(hdr.page_size):
            raise LegacyFormatError(f"WAL page size {hdr.page_size}", path=path, offset=0)
        if wal_checksum(data[:24], big_endian=hdr.big_endian) != (hdr.checksum1, hdr.checksum2):
            raise LegacyFormatError("WAL header checksum mismatch", path=path, offset=24)
        return hdr


@attrs.frozen
class FrameHeader:
    """A frame header: page number, database size after commit (0 if none), salts, checksum."""

    pgno: int
    commit: int
    salt1: int
    salt2: int
    checksum1: int
    checksum2: int

    @classmethod
    def parse(cls, data: bytes) -> FrameHeader:
        """Decode the big-endian fields (no checks: see ``iter_frames``)."""
        return cls(*struct.unpack(">6I", data))


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
    hdr = WALHeader.parse(rd.read_exact(WAL_HEADER_SIZE, "WAL header"), path=first.path)
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
