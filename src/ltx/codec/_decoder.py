"""Streaming LTX decoder: yields pages in order, then verifies index, trailer and checksums.

Rules of this file: every malformed input raises a FormatError child naming the file
and the absolute offset; nothing else escapes (bar I/O errors of ``fp`` itself). The
decoder is stricter than Go's: pages must ascend within Commit, skip the lock page,
decompress to exactly the page size, and the page index must describe the frames
exactly. Memory is O(one page) plus the page index.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

import attrs

from ltx.codec._checksum import CHECKSUM_FLAG, DatabaseChecksum, crc64
from ltx.codec._frame import (
    FRAME_PREFIX_SIZE,
    decompress_block,
    decompress_legacy_frame,
    legacy_frame_length,
    max_block_size,
)
from ltx.codec._page_index import PageIndex
from ltx.codec._values import (
    HEADER_SIZE,
    PAGE_FLAG_SIZE,
    PAGE_HEADER_SIZE,
    TRAILER_SIZE,
    Header,
    PageHeader,
    Trailer,
)
from ltx.errors import (
    ChecksumMismatchError,
    FormatError,
    FrameError,
    PageIndexError,
    PageOrderError,
    TruncatedError,
)

__all__ = ["Decoder", "DecodedFile", "decode"]

_CHUNK = 1 << 16
_U32 = struct.Struct(">I")


class _Stream:
    """Chunked reads from a file-like object, tracking the absolute offset."""

    __slots__ = ("_buf", "_chunk", "_fp", "_pos", "offset")

    def __init__(self, fp: BinaryIO, chunk: int = _CHUNK) -> None:
        self._fp = fp
        self._chunk = chunk
        self._buf = b""
        self._pos = 0
        self.offset = 0  # file offset of the next unread byte

    def _fill(self, n: int) -> bool:
        """Make at least ``n`` unread bytes available; False at EOF first."""
        have = len(self._buf) - self._pos
        if have >= n:
            return True
        parts = [self._buf[self._pos :]]
        while have < n:
            chunk = self._fp.read(max(self._chunk, n - have))
            if not chunk:
                break
            parts.append(bytes(chunk))
            have += len(chunk)
        self._buf = b"".join(parts)
        self._pos = 0
        return have >= n

    def available(self) -> memoryview:
        return memoryview(self._buf)[self._pos :]

    def take(self, n: int, what: str) -> bytes:
        if not self._fill(n):
            have = len(self._buf) - self._pos
            raise TruncatedError(
                f"file ends inside {what}: needed {n} bytes, {have} left",
                offset=self.offset + have,
            )
        out = self._buf[self._pos : self._pos + n]
        self._pos += n
        self.offset += n
        return out

    def grow(self) -> bool:
        """Read one more chunk into the unread window; False at EOF."""
        return self._fill(len(self._buf) - self._pos + 1)

    def at_eof(self) -> bool:
        return not self._fill(1)


class Decoder:
    """Iterate ``(PageHeader, page bytes)`` over an LTX file read from ``fp``.

    The header is read and validated on construction. When iteration ends the page
    index and trailer have been read and the file checksum (and, for checksum-tracked
    snapshots, the post-apply checksum) verified; ``trailer`` and ``index`` are set.
    """

    def __init__(self, fp: BinaryIO, *, name: str | None = None, read_size: int = _CHUNK) -> None:
        if name is None:
            raw_name = getattr(fp, "name", None)
            name = raw_name if isinstance(raw_name, str) else None
        self.name = name
        self._s = _Stream(fp, read_size)
        self.trailer: Trailer | None = None
        self.index: PageIndex | None = None
        self.page_count = 0
        self._recorded = PageIndex()
        self._prev = 0
        self._done = False
        try:
            raw = self._s.take(HEADER_SIZE, "the header")
            self.header = Header.from_bytes(raw)
        except FormatError as exc:
            raise exc.at(name) from None
        self._crc = crc64(raw, 0)
        self._db_checksum = (
            DatabaseChecksum() if self.header.is_snapshot and not self.header.no_checksum else None
        )

    def __iter__(self) -> Iterator[tuple[PageHeader, bytes]]:
        return self

    def __next__(self) -> tuple[PageHeader, bytes]:
        if self._done:
            raise StopIteration
        try:
            page = self._next_page()
        except FormatError as exc:
            self._done = True
            raise exc.at(self.name) from None
        if page is None:
            self._done = True
            raise StopIteration
        return page

    def verify(self) -> Trailer:
        """Read to the end, checking everything; return the trailer."""
        for _ in self:
            pass
        assert self.trailer is not None
        return self.trailer

    # -- internals -------------------------------------------------------------------

    def _next_page(self) -> tuple[PageHeader, bytes] | None:
        s = self._s
        hdr = self.header
        start = s.offset
        raw_ph = s.take(PAGE_HEADER_SIZE, "a page header")
        ph = PageHeader.from_bytes(raw_ph)
        if ph.is_end:
            self._crc = crc64(raw_ph, self._crc)
            self._finish(start)
            return None
        ph.validate(offset=start)
        pgno = ph.pgno
        self._check_order(pgno, start)
        if ph.flags & PAGE_FLAG_SIZE:
            raw_size = s.take(4, "a page size prefix")
            size = _U32.unpack(raw_size)[0]
            if size > max_block_size(hdr.page_size):
                raise FrameError(
                    f"pgno {pgno}: compressed size {size} exceeds the LZ4 bound",
                    offset=start + PAGE_HEADER_SIZE,
                )
            payload = s.take(size, f"the LZ4 block of pgno {pgno}")
            try:
                data = decompress_block(payload, hdr.page_size)
            except FrameError as exc:
                raise FrameError(
                    f"pgno {pgno}: {exc.message}", offset=start + FRAME_PREFIX_SIZE
                ) from None
            self._crc = crc64(data, crc64(raw_size, crc64(raw_ph, self._crc)))
            frame_size = FRAME_PREFIX_SIZE + size
        else:
            length = legacy_frame_length(s.available())
            while length is None:
                if not s.grow():
                    raise TruncatedError(
                        f"file ends inside the legacy LZ4 frame of pgno {pgno}",
                        offset=start + PAGE_HEADER_SIZE,
                    )
                length = legacy_frame_length(s.available())
            frame = s.take(length, "a legacy LZ4 frame")
            try:
                data = decompress_legacy_frame(frame, hdr.page_size)
            except FrameError as exc:
                raise FrameError(
                    f"pgno {pgno}: {exc.message}", offset=start + PAGE_HEADER_SIZE
                ) from None
            self._crc = crc64(data, crc64(raw_ph, self._crc))
            frame_size = PAGE_HEADER_SIZE + length
        self._recorded.append(pgno, start, frame_size)
        self._prev = pgno
        self.page_count += 1
        if self._db_checksum is not None:
            self._db_checksum.add(pgno, data)
        return ph, data

    def _check_order(self, pgno: int, offset: int) -> None:
        problem = self.header.page_order_problem(self._prev, pgno)
        if problem is not None:
            raise PageOrderError(problem, pgno=pgno, offset=offset)

    def _finish(self, end_marker_offset: int) -> None:
        s = self._s
        hdr = self.header
        if hdr.is_snapshot and self._prev != hdr.last_pgno:
            raise PageOrderError(
                f"snapshot ends at pgno {self._prev}, commit is {hdr.commit}",
                pgno=self._prev + 1,
                offset=end_marker_offset,
            )
        index_start = s.offset
        expected = self._recorded.encode()
        raw_index = s.take(len(expected), "the page index")
        if raw_index != expected:
            at = next(i for i in range(len(expected)) if raw_index[i] != expected[i])
            raise PageIndexError(
                "page index does not match the page frames", offset=index_start + at
            )
        trailer_offset = s.offset
        raw_trailer = s.take(TRAILER_SIZE, "the trailer")
        if not s.at_eof():
            raise FormatError("unexpected bytes after the trailer", offset=s.offset)
        trailer = Trailer.from_bytes(raw_trailer)
        computed = CHECKSUM_FLAG | crc64(raw_trailer[:8], crc64(raw_index, self._crc))
        if trailer.file_checksum != computed:
            raise ChecksumMismatchError(
                "file checksum mismatch",
                expected=trailer.file_checksum,
                actual=computed,
                what="file",
                offset=trailer_offset + 8,
            )
        if self._db_checksum is not None and trailer.post_apply_checksum != (
            self._db_checksum.value
        ):
            raise ChecksumMismatchError(
                "post-apply checksum does not match the snapshot's pages",
                expected=trailer.post_apply_checksum,
                actual=self._db_checksum.value,
                what="post_apply",
                offset=trailer_offset,
            )
        self.index = self._recorded
        self.trailer = trailer


@attrs.frozen
class DecodedFile:
    """A whole decoded file: header, pages by pgno, trailer and page index."""

    header: Header
    pages: dict[int, bytes]
    trailer: Trailer
    index: PageIndex


def decode(data: bytes | bytearray | memoryview, *, name: str | None = None) -> DecodedFile:
    """Decode and verify a whole LTX file held in memory."""
    import io

    dec = Decoder(io.BytesIO(bytes(data)), name=name)
    pages = {ph.pgno: page for ph, page in dec}
    assert dec.trailer is not None and dec.index is not None
    return DecodedFile(dec.header, pages, dec.trailer, dec.index)
