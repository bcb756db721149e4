"""Random access over a ``read_range(start, end) -> bytes`` callable: index, then one page.

The codec never knows where bytes come from: the caller passes a function that
returns ``[start, end)`` of the file (a ranged GET, a slice, a pread). Random access
cannot check the file checksum (that needs every page), so the index is checked
structurally instead: it must tile the page block exactly and, when the header is
read, agree with Commit; a cut or spliced file is refused, never read as another.
Every size is checked against the file length before anything is read or allocated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from ltx.codec._frame import decode_frame, max_frame_size, min_frame_size
from ltx.codec._page_index import INDEX_SIZE_FIELD, PageIndex, encode_uvarint
from ltx.codec._values import HEADER_SIZE, PAGE_HEADER_SIZE, TRAILER_SIZE, Header, Trailer
from ltx.errors import FormatError, FrameError, PageIndexError, TruncatedError

__all__ = [
    "ReadRange",
    "FileIndex",
    "read_page_index",
    "read_file_index",
    "read_page",
    "read_pages",
]

ReadRange = Callable[[int, int], bytes]
"""``read_range(start, end)`` returns bytes ``[start, end)`` of one file."""

DEFAULT_TAIL = 1 << 16
_MIN_FILE = HEADER_SIZE + PAGE_HEADER_SIZE + 1 + INDEX_SIZE_FIELD + TRAILER_SIZE
_FOOTER = INDEX_SIZE_FIELD + TRAILER_SIZE


@attrs.frozen
class FileIndex:
    """What random access needs of one file: page index, trailer and maybe the header."""

    index: PageIndex
    trailer: Trailer
    size: int
    header: Header | None = None

    def to_bytes(self) -> bytes:
        """A compact byte form for caches: a has-header flag, the header, trailer, index."""
        head = self.header.to_bytes() if self.header is not None else b""
        return bytes([len(head) > 0]) + head + self.trailer.to_bytes() + self.index.encode()

    @classmethod
    def from_bytes(cls, raw: bytes, size: int) -> FileIndex:
        """Parse ``to_bytes`` output for a file of ``size`` bytes; FormatError if damaged.

        The cached index is held to the rules of one read from the file: its frames
        tile the page block that a file of ``size`` bytes with this index would have.
        """
        if not raw or raw[0] > 1:
            raise FormatError("cached file index has a bad flag byte", offset=0)
        pos = 1
        header = None
        if raw[0]:
            header = Header.from_bytes(raw[pos : pos + HEADER_SIZE])
            pos += HEADER_SIZE
        if len(raw) < pos + TRAILER_SIZE:
            raise TruncatedError("cached file index ends inside its trailer", offset=len(raw))
        trailer = Trailer.from_bytes(raw, pos)
        start = pos + TRAILER_SIZE
        data_end = size - TRAILER_SIZE - (len(raw) - start) - PAGE_HEADER_SIZE
        index, end = PageIndex.decode(raw, start=start, data_end=data_end, header=header)
        if end + INDEX_SIZE_FIELD != len(raw):
            raise PageIndexError("cached file index has bytes after its page index", offset=end)
        if int.from_bytes(raw[end:], "big") != end - start:
            raise PageIndexError("cached file index has a wrong size field", offset=end)
        return cls(index=index, trailer=trailer, size=size, header=header)


def _checked_read(read_range: ReadRange, start: int, end: int, name: str | None) -> bytes:
    data = read_range(start, end)
    if len(data) != end - start:
        raise TruncatedError(
            f"read of [{start}, {end}) returned {len(data)} bytes", path=name, offset=start
        )
    return data


def _parse_tail(
    buf: bytes, buf_start: int, size: int, name: str | None, header: Header | None
) -> FileIndex | int:
    """Parse marker, index and trailer from ``buf`` (file bytes from ``buf_start`` to the end).

    Returns the FileIndex, or the offset to read from when ``buf`` does not reach the
    end-of-pages marker before the index.
    """
    footer = size - _FOOTER
    index_size = int.from_bytes(buf[footer - buf_start : footer - buf_start + 8], "big")
    index_start = footer - index_size
    data_end = index_start - PAGE_HEADER_SIZE
    if index_size < 1 or data_end < HEADER_SIZE:
        raise PageIndexError(f"page index size {index_size} does not fit", path=name, offset=footer)
    if data_end < buf_start:
        return data_end
    rel = data_end - buf_start
    if any(buf[rel : rel + PAGE_HEADER_SIZE]):
        raise PageIndexError(
            "no end-of-pages marker before the page index", path=name, offset=data_end
        )
    try:
        index, end = PageIndex.decode(
            buf,
            start=rel + PAGE_HEADER_SIZE,
            data_end=data_end,
            file_offset=buf_start,
            header=header,
        )
    except FormatError as exc:
        raise exc.at(name) from None
    if end != footer - buf_start:
        raise PageIndexError(
            "page index size field disagrees with its entries", path=name, offset=footer
        )
    trailer = Trailer.from_bytes(buf, size - TRAILER_SIZE - buf_start)
    if header is not None:
        try:
            trailer.validate(header, offset=size - TRAILER_SIZE)
        except FormatError as exc:
            raise exc.at(name) from None
    return FileIndex(index=index, trailer=trailer, size=size, header=header)


def read_page_index(
    read_range: ReadRange, size: int, *, tail: int = DEFAULT_TAIL, name: str | None = None
) -> FileIndex:
    """Fetch a file's page index and trailer: one read of the tail, a second only if needed.

    When the file is no longer than ``tail`` the one read covers it all and the header
    is parsed too, and the index is checked against it (Commit, a snapshot's pages).
    """
    if size < _MIN_FILE:
        raise TruncatedError(f"file of {size} bytes is too short for LTX", path=name, offset=size)
    start = max(0, size - max(tail, _FOOTER))
    buf = _checked_read(read_range, start, size, name)
    header = _parse_header(buf, name) if start == 0 else None
    got = _parse_tail(buf, start, size, name, header)
    if isinstance(got, int):
        more = _checked_read(read_range, got, start, name)
        got = _parse_tail(more + buf, got, size, name, header)
        assert not isinstance(got, int)
    return got


def _parse_header(buf: bytes, name: str | None) -> Header:
    try:
        return Header.from_bytes(buf)
    except FormatError as exc:
        raise exc.at(name) from None


def _index_bound(header: Header, size: int) -> int:
    """Upper bound on the bytes of end marker, page index and footer, from header and size.

    At most Commit frames fit, and no more than the file's bytes allow at the smallest
    frame for the page size; each entry is at most three uvarints of bounded values.
    """
    n_max = min(header.commit, max(0, size - _MIN_FILE) // min_frame_size(header.page_size))
    entry = (
        len(encode_uvarint(max(header.commit, 1)))
        + len(encode_uvarint(size))
        + len(encode_uvarint(max_frame_size(header.page_size)))
    )
    return PAGE_HEADER_SIZE + n_max * entry + 1 + _FOOTER


def read_file_index(
    read_range: ReadRange, size: int, *, tail: int = DEFAULT_TAIL, name: str | None = None
) -> FileIndex:
    """Header, page index and trailer in at most two reads (one when ``size <= tail``)."""
    if size <= tail:
        return read_page_index(read_range, size, tail=tail, name=name)
    if size < _MIN_FILE:
        raise TruncatedError(f"file of {size} bytes is too short for LTX", path=name, offset=size)
    header = _parse_header(_checked_read(read_range, 0, HEADER_SIZE, name), name)
    start = max(HEADER_SIZE, size - _index_bound(header, size))
    buf = _checked_read(read_range, start, size, name)
    got = _parse_tail(buf, start, size, name, header)
    if isinstance(got, int):
        raise PageIndexError("page index larger than the file allows", path=name, offset=got)
    return got


def _decode_at(
    frame: bytes, offset: int, page_size: int, pgno: int | None, name: str | None
) -> bytes:
    """Decode one frame read from ``offset``; its page header must name ``pgno``."""
    try:
        ph, data = decode_frame(frame, page_size, offset=offset)
    except FormatError as exc:
        raise exc.at(name) from None
    if pgno is not None and ph.pgno != pgno:
        raise PageIndexError(
            f"frame at offset {offset} holds pgno {ph.pgno}, index says {pgno}",
            path=name,
            offset=offset,
        )
    return data


def _check_frame_size(offset: int, size: int, page_size: int, name: str | None) -> None:
    if offset < HEADER_SIZE or not min_frame_size(page_size) <= size <= max_frame_size(page_size):
        raise FrameError(
            f"no frame of a {page_size}-byte page is {size} bytes at offset {offset}",
            path=name,
            offset=offset,
        )


def read_page(
    read_range: ReadRange,
    offset: int,
    size: int,
    page_size: int,
    *,
    pgno: int | None = None,
    name: str | None = None,
) -> bytes:
    """Fetch and decode the frame at ``[offset, offset+size)`` in one read.

    ``offset`` and ``size`` come from the page index; a size no frame of ``page_size``
    can have is refused before anything is read.
    """
    _check_frame_size(offset, size, page_size, name)
    frame = _checked_read(read_range, offset, offset + size, name)
    return _decode_at(frame, offset, page_size, pgno, name)


def read_pages(
    read_range: ReadRange,
    frames: Sequence[tuple[int, int, int]],
    page_size: int,
    *,
    name: str | None = None,
) -> list[bytes]:
    """Fetch frames ``(pgno, offset, size)`` that lie back to back, in one read, and
    decode each (read-around: neighbours of a wanted page cost no extra request)."""
    if not frames:
        return []
    for _, offset, size in frames:
        _check_frame_size(offset, size, page_size, name)
    start = frames[0][1]
    blob = _checked_read(read_range, start, frames[-1][1] + frames[-1][2], name)
    return [
        _decode_at(blob[off - start : off - start + size], off, page_size, pgno, name)
        for pgno, off, size in frames
    ]
