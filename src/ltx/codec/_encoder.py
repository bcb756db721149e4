"""Streaming LTX encoder: header, ascending pages, then index and trailer on close."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import BinaryIO

from ltx.codec._checksum import CHECKSUM_FLAG, DatabaseChecksum, crc64
from ltx.codec._frame import compress_page
from ltx.codec._page_index import PageIndex
from ltx.codec._values import PAGE_FLAG_SIZE, Header, PageHeader, Trailer
from ltx.errors import HeaderFieldError, UsageError

__all__ = ["Encoder", "encode_pages"]

_END_MARKER = b"\x00" * 6
_U32 = struct.Struct(">I")


class Encoder:
    """Write one LTX file to ``fp`` page by page; memory is O(one page) plus the index.

    The header is validated and written at once. Pages must ascend, stay within
    Commit and skip the lock page; a snapshot (MinTXID 1) must hold every page.
    """

    def __init__(self, fp: BinaryIO, header: Header) -> None:
        try:
            header.validate()
        except HeaderFieldError as exc:
            raise UsageError(f"invalid header: {exc}") from None
        self.header = header
        self.trailer: Trailer | None = None
        self.index = PageIndex()
        self._fp = fp
        self._prev = 0
        self._closed = False
        self._db_checksum = None if header.no_checksum else DatabaseChecksum()
        data = header.to_bytes()
        self._crc = crc64(data, 0)
        self._write(data)
        self._n = len(data)

    def _write(self, data: bytes) -> None:
        self._fp.write(data)

    @property
    def bytes_written(self) -> int:
        """Bytes written so far; after close, the file length."""
        return self._n

    def write_page(self, pgno: int, data: bytes | bytearray | memoryview) -> None:
        """Compress and append page ``pgno``; raise UsageError if the format forbids it."""
        if self._closed:
            raise UsageError("encoder closed")
        hdr = self.header
        problem = hdr.page_order_problem(self._prev, pgno)
        if problem is not None:
            raise UsageError(problem)
        if len(data) != hdr.page_size:
            raise UsageError(
                f"invalid page buffer size for pgno {pgno}: {len(data)}, expecting {hdr.page_size}"
            )
        if not isinstance(data, bytes):
            data = bytes(data)
        payload = compress_page(data)
        prefix = PageHeader(pgno, PAGE_FLAG_SIZE).to_bytes() + _U32.pack(len(payload))
        self._crc = crc64(data, crc64(prefix, self._crc))
        self._write(prefix + payload)
        size = len(prefix) + len(payload)
        self.index.append(pgno, self._n, size)
        self._n += size
        self._prev = pgno
        if self._db_checksum is not None and hdr.is_snapshot:
            self._db_checksum.add(pgno, data)

    def close(self, post_apply_checksum: int | None = None) -> Trailer:
        """Write the end marker, page index and trailer; return the trailer.

        ``post_apply_checksum``: must be omitted (or 0) for NoChecksum files; computed
        for checksum-tracked snapshots when omitted; required otherwise.
        """
        if self._closed:
            if self.trailer is None:  # pragma: no cover - defensive
                raise UsageError("encoder closed")
            return self.trailer
        hdr = self.header
        problem = hdr.end_problem(self._prev)
        if problem is not None:
            raise UsageError(f"snapshot incomplete: {problem}")
        if hdr.no_checksum:
            post = post_apply_checksum or 0
            if hdr.commit == 0:
                raise UsageError("a zero-length database (commit 0) needs checksum tracking")
            if post != 0:
                raise UsageError("post-apply checksum not allowed with HeaderFlagNoChecksum")
        else:
            if post_apply_checksum is None:
                if not hdr.is_snapshot or self._db_checksum is None:
                    raise UsageError("post-apply checksum required on non-snapshot files")
                post_apply_checksum = self._db_checksum.value
            post = post_apply_checksum
            if hdr.commit == 0 and post != CHECKSUM_FLAG:
                raise UsageError("post-apply checksum must be empty for zero-length database")
            if not post & CHECKSUM_FLAG:
                raise UsageError("invalid post-apply checksum format")
            if (
                hdr.is_snapshot
                and self._db_checksum is not None
                and post != self._db_checksum.value
            ):
                raise UsageError(
                    f"post-apply checksum {post:016x} does not match the snapshot's pages "
                    f"({self._db_checksum.value:016x})"
                )
        tail = _END_MARKER + self.index.encode() + post.to_bytes(8, "big")
        crc = crc64(tail, self._crc)
        checksum = CHECKSUM_FLAG | crc
        self._write(tail + checksum.to_bytes(8, "big"))
        self._n += len(tail) + 8
        self._closed = True
        self.trailer = Trailer(post, checksum)
        return self.trailer

    def __enter__(self) -> Encoder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None and not self._closed:
            self.close()


def encode_pages(
    header: Header,
    pages: Mapping[int, bytes] | Iterable[tuple[int, bytes]],
    *,
    post_apply_checksum: int | None = None,
) -> bytes:
    """One whole LTX file in memory from ``header`` and ``pages``: a mapping (any order) or
    ascending (pgno, bytes) pairs, streamed. The lock page, if given, is dropped since
    the format never stores it."""
    items = sorted(pages.items()) if isinstance(pages, Mapping) else pages
    buf = io.BytesIO()
    enc = Encoder(buf, header)
    lock = header.lock_pgno
    for pgno, data in items:
        if pgno != lock:
            enc.write_page(pgno, data)
    enc.close(post_apply_checksum)
    return buf.getvalue()
