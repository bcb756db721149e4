"""Streaming LTX decoder: yields pages in order, then verifies index, trailer and checksums.

Rules of this file: every malformed input raises a FormatError child naming the file
and the absolute offset; nothing else escapes (bar I/O errors of ``fp`` itself). The
decoder is stricter than Go's: pages must ascend within Commit, skip the lock page,
decompress to exactly the page size, and the page index must describe the frames
exactly. Memory is O(one page) plus the page index.
"""

from __future__ import annotations

import struct
import tempfile
from array import array
from collections.abc import Iterator
from typing import BinaryIO

import attrs

from ltx.codec._checksum import CHECKSUM_FLAG, DatabaseChecksum, crc64
from ltx.codec._frame import (
    FRAME_PREFIX_SIZE,
    LegacyFrameReader,
    decompress_block,
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

__all__ = ["Decoder", "DecodedFile", "decode", "verified_pages"]

_CHUNK = 1 << 16
_SPOOL_IN_MEMORY = 64 << 20
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

    def skip(self, n: int) -> None:
        """Consume ``n`` bytes already available (see ``available``)."""
        self._pos += n
        self.offset += n

    def grow(self) -> bool:
        """Read one more chunk into the unread window; False at EOF."""
        return self._fill(len(self._buf) - self._pos + 1)

    def at_eof(self) -> bool:
        return not self._fill(1)


class Decoder:
    """Iterate ``(PageHeader, page bytes)`` over an LTX file read from ``fp``, streaming.

    The header is read and validated on construction. Each page is checked as it is
    read (order, frame, exact page size) but is yielded *before* the file checksum,
    which covers every page, can be verified: the page index, trailer, file checksum
    and (for checksum-tracked snapshots) post-apply checksum are checked only when
    iteration ends, raising a FormatError then; ``trailer`` and ``index`` are set once
    they pass. A caller that stops early, or acts on pages before the end, holds
    unverified data: a corrupt file may already have yielded wrong pages. Use
    ``verified_pages`` to receive pages only from a file that verified whole.
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
            data, frame_size = self._legacy_frame(pgno, start)
            self._crc = crc64(data, crc64(raw_ph, self._crc))
        self._recorded.append(pgno, start, frame_size)
        self._prev = pgno
        self.page_count += 1
        if self._db_checksum is not None:
            self._db_checksum.add(pgno, data)
        return ph, data

    def _legacy_frame(self, pgno: int, start: int) -> tuple[bytes, int]:
        """Decode the legacy LZ4 frame after the page header at ``start``; (page, frame size).

        Bytes are fed to the reader as they arrive and consumed once, so the walk is
        linear and the buffer never holds more than one read.
        """
        s = self._s
        reader = LegacyFrameReader(self.header.page_size)
        try:
            while reader.page is None:
                view = s.available()
                used = reader.feed(view)
                s.skip(used)
                if reader.page is None and used in (0, len(view)) and not s.grow():
                    raise TruncatedError(
                        f"file ends inside the legacy LZ4 frame of pgno {pgno}",
                        offset=s.offset + len(s.available()),
                    )
        except FrameError as exc:
            raise FrameError(
                f"pgno {pgno}: {exc.message}", offset=start + PAGE_HEADER_SIZE
            ) from None
        return reader.page, PAGE_HEADER_SIZE + reader.length

    def _check_order(self, pgno: int, offset: int) -> None:
        problem = self.header.page_order_problem(self._prev, pgno)
        if problem is not None:
            raise PageOrderError(problem, pgno=pgno, offset=offset)

    def _finish(self, end_marker_offset: int) -> None:
        s = self._s
        hdr = self.header
        problem = hdr.end_problem(self._prev)
        if problem is not None:
            raise PageOrderError(problem, pgno=self._prev + 1, offset=end_marker_offset)
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
        trailer.validate(hdr, offset=trailer_offset)
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


def verified_pages(
    fp: BinaryIO, *, name: str | None = None, spool: BinaryIO | None = None
) -> Iterator[tuple[PageHeader, bytes]]:
    """Yield ``(PageHeader, page bytes)`` of the LTX file in ``fp`` only once it verified whole.

    Unlike ``Decoder``, nothing is yielded from a file that fails: the first ``next()``
    decodes the whole file, checking index, trailer and checksums, and raises its
    FormatError before any page is seen. The cost is holding every decompressed page
    once (page size x page count): in memory up to 64 MiB, then in a temporary file
    (``tempfile.SpooledTemporaryFile``). Pass ``spool``, a writable, readable and
    seekable binary file, to choose where instead; pages are written from its current
    position, and it is left open for the caller.
    """
    dec = Decoder(fp, name=name)
    store: BinaryIO = spool if spool is not None else _default_spool()
    pgnos = array("I")
    flags = array("H")
    try:
        begin = store.tell()
        for ph, data in dec:
            store.write(data)
            pgnos.append(ph.pgno)
            flags.append(ph.flags)
        store.seek(begin)
        page_size = dec.header.page_size
        for pgno, flag in zip(pgnos, flags, strict=True):
            data = store.read(page_size)
            if len(data) != page_size:
                raise OSError(f"spool returned {len(data)} bytes of pgno {pgno}, not {page_size}")
            yield PageHeader(pgno, flag), data
    finally:
        if spool is None:
            store.close()


def _default_spool() -> BinaryIO:
    """An in-memory spool that moves to a temporary file past ``_SPOOL_IN_MEMORY`` bytes."""
    return tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # type: ignore[return-value]
