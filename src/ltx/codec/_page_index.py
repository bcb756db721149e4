"""The page index: uvarint (pgno, offset, size) triples, a zero, and a u64 byte count.

``PageIndex`` is array-backed (three parallel arrays), not one object per page, so a
1 GiB database's 262,144 entries cost a few MiB, not hundreds.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterator

from ltx.errors import PageIndexError, UsageError

__all__ = ["PageIndex", "encode_uvarint", "decode_uvarint", "encode_page_index"]

INDEX_SIZE_FIELD = 8


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

    __slots__ = ("offsets", "pgnos", "sizes")

    def __init__(self) -> None:
        self.pgnos = array("I")
        self.offsets = array("Q")
        self.sizes = array("I")

    def append(self, pgno: int, offset: int, size: int) -> None:
        """Add an entry; pgnos must ascend (checked by the encoder and decoder)."""
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
    ) -> tuple[PageIndex, int]:
        """Parse entries at ``buf[start:]`` up to the terminator; return (index, end position).

        ``data_end`` bounds frame offsets (where the page block ends in the file) and
        ``file_offset`` is ``buf[0]``'s offset in the file, used in messages.
        """
        index = cls()
        pos = start
        prev = 0
        prev_end = 0
        try:
            while True:
                pgno, pos = decode_uvarint(buf, pos)
                if pgno == 0:
                    return index, pos
                if pgno >= 1 << 32:
                    raise PageIndexError(f"page index pgno {pgno} exceeds 32 bits")
                if pgno <= prev:
                    raise PageIndexError(f"page index pgnos not ascending: {prev}, {pgno}")
                offset, pos = decode_uvarint(buf, pos)
                size, pos = decode_uvarint(buf, pos)
                if offset < 100 or size < 10 or size >= 1 << 32 or offset < prev_end:
                    raise PageIndexError(
                        f"page index entry for pgno {pgno} has bad offset/size {offset}/{size}"
                    )
                if data_end is not None and offset + size > data_end:
                    raise PageIndexError(
                        f"page index entry for pgno {pgno} points past the page block"
                    )
                prev_end = offset + size
                prev = pgno
                index.append(pgno, offset, size)
        except PageIndexError as exc:
            raise PageIndexError(exc.message, offset=file_offset + pos) from None


def encode_page_index(index: PageIndex) -> bytes:
    """Serialize a PageIndex (see ``PageIndex.encode``)."""
    out = bytearray()
    for pgno, offset, size in index:
        out += encode_uvarint(pgno)
        out += encode_uvarint(offset)
        out += encode_uvarint(size)
    out.append(0)
    out += len(out).to_bytes(INDEX_SIZE_FIELD, "big")
    return bytes(out)
