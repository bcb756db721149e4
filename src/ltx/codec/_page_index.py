"""The page index: uvarint (pgno, offset, size) triples, a zero, and a u64 byte count.

``PageIndex`` is array-backed (three parallel arrays), not one object per page, so a
1 GiB database's 262,144 entries cost a few MiB, not hundreds. ``PageIndex.decode``
is the one home of the index's layout rules: the frames it names tile the page block
exactly, from the end of the header to the end-of-pages marker.
"""

from __future__ import annotations

import bisect
import itertools
import re
from array import array
from collections.abc import Iterator

from ltx.codec._frame import max_frame_size, min_frame_size
from ltx.codec._values import HEADER_SIZE, Header
from ltx.errors import PageIndexError, UsageError

__all__ = ["PageIndex", "encode_uvarint", "decode_uvarint", "encode_page_index"]

INDEX_SIZE_FIELD = 8
_OVERLONG = re.compile(rb"[\x80-\xff]\x00")
"""A continuation byte then a zero: a varint with a redundant final group (not minimal)."""
_SMALLEST_PAGE = 512
_LARGEST_PAGE = 65536


def encode_uvarint(value: int) -> bytes:
    """Unsigned LEB128, as Go's ``binary.AppendUvarint``."""
    if value < 0:
        raise UsageError("uvarint must be non-negative")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_uvarint(buf: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    """Decode one uvarint at ``pos``; return (value, next position). Max 10 bytes, like Go."""
    result = 0
    shift = 0
    n = len(buf)
    for i in range(10):
        if pos >= n:
            raise PageIndexError("page index ends inside a varint")
        b = buf[pos]
        pos += 1
        if b < 0x80:
            if i == 9 and b > 1:
                raise PageIndexError("page index varint overflows 64 bits")
            return result | (b << shift), pos
        result |= (b & 0x7F) << shift
        shift += 7
    raise PageIndexError("page index varint overflows 64 bits")


class PageIndex:
    """pgno -> (offset, size) of its frame in one file; entries ascend by pgno."""

    __slots__ = ("_raw", "offsets", "pgnos", "sizes")

    def __init__(self) -> None:
        self.pgnos = array("I")
        self.offsets = array("Q")
        self.sizes = array("I")
        self._raw: bytes | None = None  # the canonical entries + zero, when decoded from them

    def append(self, pgno: int, offset: int, size: int) -> None:
        """Add an entry; pgnos must ascend (checked by the encoder and decoder)."""
        self._raw = None
        self.pgnos.append(pgno)
        self.offsets.append(offset)
        self.sizes.append(size)

    def __len__(self) -> int:
        return len(self.pgnos)

    def __contains__(self, pgno: object) -> bool:
        return isinstance(pgno, int) and self.find(pgno) is not None

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        return zip(self.pgnos, self.offsets, self.sizes, strict=True)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PageIndex):
            return NotImplemented
        return (
            self.pgnos == other.pgnos
            and self.offsets == other.offsets
            and self.sizes == other.sizes
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<PageIndex {len(self)} pages>"

    def find(self, pgno: int) -> tuple[int, int] | None:
        """Return (offset, size) of pgno's frame, or None if the file does not hold it."""
        i = bisect.bisect_left(self.pgnos, pgno)
        if i < len(self.pgnos) and self.pgnos[i] == pgno:
            return self.offsets[i], self.sizes[i]
        return None

    def encode(self) -> bytes:
        """Entries, the zero terminator and the 8-byte big-endian byte count."""
        return encode_page_index(self)

    @classmethod
    def decode(
        cls,
        buf: bytes | bytearray | memoryview,
        *,
        start: int = 0,
        data_end: int | None = None,
        file_offset: int = 0,
        header: Header | None = None,
    ) -> tuple[PageIndex, int]:
        """Parse entries at ``buf[start:]`` up to the terminator; return (index, end position).

        Frames must be contiguous from the end of the header, each of a size some page
        can take. ``data_end`` is where the page block ends in the file (the offset of
        the end-of-pages marker): the last frame must end exactly there. With
        ``header``, page numbers follow its order rules and a snapshot is complete.
        ``file_offset`` is ``buf[0]``'s offset in the file, used in messages.
        """
        fast = _decode_fast(buf, start, data_end, header)
        if fast is not None:
            return fast
        index = cls()
        pos = start
        limits = _size_limits(header)
        prev = 0
        end = HEADER_SIZE
        try:
            while True:
                pgno, pos = decode_uvarint(buf, pos)
                if pgno == 0:
                    break
                _check_pgno(header, prev, pgno)
                offset, pos = decode_uvarint(buf, pos)
                size, pos = decode_uvarint(buf, pos)
                if offset != end or not limits[0] <= size <= limits[1]:
                    raise PageIndexError(
                        f"page index entry for pgno {pgno} has bad offset/size {offset}/{size} "
                        f"(the frame before ends at {end})"
                    )
                if data_end is not None and offset + size > data_end:
                    raise PageIndexError(
                        f"page index entry for pgno {pgno} points past the page block"
                    )
                end = offset + size
                prev = pgno
                index.append(pgno, offset, size)
            _check_end(header, prev, end, data_end)
        except PageIndexError as exc:
            raise PageIndexError(exc.message, offset=file_offset + pos) from None
        raw = bytes(buf[start:pos])
        if _OVERLONG.search(raw) is None:  # every varint minimal: these bytes are encode()'s
            index._raw = raw
        return index, pos


def _uvarints(buf: bytes, pos: int) -> tuple[list[int], int] | None:
    """Every uvarint of index entries up to the zero pgno, flat; None for anything unusual
    (a varint past 9 bytes, a cut buffer), which the checked loop then reports."""
    vals: list[int] = []
    app = vals.append
    k = 0
    try:
        while True:
            b = buf[pos]
            pos += 1
            if b >= 0x80:
                v, shift = b & 0x7F, 7
                while True:
                    b = buf[pos]
                    pos += 1
                    v |= (b & 0x7F) << shift
                    if b < 0x80:
                        break
                    shift += 7
                    if shift > 56:
                        return None
                b = v
            if k == 0 and b == 0:
                return vals, pos
            app(b)
            k = k + 1 if k < 2 else 0
    except IndexError:
        return None


def _decode_fast(
    buf: bytes | bytearray | memoryview, start: int, data_end: int | None, header: Header | None
) -> tuple[PageIndex, int] | None:
    """``PageIndex.decode`` for a well-formed index, checked in bulk; None when any check
    fails, so that the entry-by-entry loop finds and names the problem."""
    got = _uvarints(bytes(buf) if not isinstance(buf, bytes) else buf, start)
    if got is None:
        return None
    vals, pos = got
    if len(vals) % 3:
        return None
    pgnos, offsets, sizes = vals[0::3], vals[1::3], vals[2::3]
    lo, hi = _size_limits(header)
    if pgnos and (max(pgnos) >= 1 << 32 or min(sizes) < lo or max(sizes) > hi):
        return None
    ends = list(itertools.accumulate(sizes, initial=HEADER_SIZE))
    if ends[:-1] != offsets or (data_end is not None and ends[-1] != data_end):
        return None
    if header is None:
        if not all(a < b for a, b in itertools.pairwise(pgnos)):
            return None
    elif not header.pages_in_order(pgnos) or header.end_problem(pgnos[-1] if pgnos else 0):
        return None
    index = PageIndex()
    index.pgnos = array("I", pgnos)
    index.offsets = array("Q", offsets)
    index.sizes = array("I", sizes)
    raw = bytes(buf[start:pos])
    if _OVERLONG.search(raw) is None:
        index._raw = raw
    return index, pos


def _size_limits(header: Header | None) -> tuple[int, int]:
    """(smallest, largest) frame size for the header's page size, or for any page size."""
    if header is None:
        return min_frame_size(_SMALLEST_PAGE), max_frame_size(_LARGEST_PAGE)
    return min_frame_size(header.page_size), max_frame_size(header.page_size)


def _check_pgno(header: Header | None, prev: int, pgno: int) -> None:
    """Page numbers ascend within 32 bits; with a header, its order rules apply."""
    if pgno >= 1 << 32:
        raise PageIndexError(f"page index pgno {pgno} exceeds 32 bits")
    if header is not None:
        problem = header.page_order_problem(prev, pgno)
        if problem is not None:
            raise PageIndexError(f"page index: {problem}")
    elif pgno <= prev:
        raise PageIndexError(f"page index pgnos not ascending: {prev}, {pgno}")


def _check_end(header: Header | None, last: int, end: int, data_end: int | None) -> None:
    """The frames end at the end-of-pages marker, and a snapshot holds every page."""
    if data_end is not None and end != data_end:
        raise PageIndexError(f"page index frames end at {end}, the page block at {data_end}")
    problem = None if header is None else header.end_problem(last)
    if problem is not None:
        raise PageIndexError(f"page index: {problem}")


def encode_page_index(index: PageIndex) -> bytes:
    """Serialize a PageIndex (see ``PageIndex.encode``)."""
    raw = index._raw
    if raw is not None:
        return raw + len(raw).to_bytes(INDEX_SIZE_FIELD, "big")
    out = bytearray()
    for pgno, offset, size in index:
        out += encode_uvarint(pgno)
        out += encode_uvarint(offset)
        out += encode_uvarint(size)
    out.append(0)
    out += len(out).to_bytes(INDEX_SIZE_FIELD, "big")
    return bytes(out)
