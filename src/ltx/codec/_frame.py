"""Page frames: a page header, a u32 size and an LZ4 block; legacy frames carry an LZ4 frame.

A legacy frame is decoded incrementally and refused as soon as it outgrows one page,
in output (one byte past the page size) or in input (``legacy_frame_bound``), so a
hostile frame costs memory of one page and time linear in the bytes it occupies.
"""

from __future__ import annotations

import struct

import lz4.block
import lz4.frame

from ltx.codec._values import PAGE_FLAG_SIZE, PAGE_HEADER_SIZE, PageHeader
from ltx.errors import FrameError, TruncatedError

__all__ = [
    "FRAME_PREFIX_SIZE",
    "compress_page",
    "decompress_block",
    "max_block_size",
    "min_frame_size",
    "max_frame_size",
    "legacy_frame_bound",
    "LegacyFrameReader",
    "decompress_legacy_frame",
    "encode_frame",
    "decode_frame",
]

FRAME_PREFIX_SIZE = PAGE_HEADER_SIZE + 4
_U32 = struct.Struct(">I")
_LZ4_FRAME_MAGIC = 0x184D2204
# LZ4 frame layout: magic, FLG, BD, content size, dictionary id, header checksum ...
_LZ4_FRAME_HEADER_MAX = 4 + 1 + 1 + 8 + 4 + 1
# ... blocks of (u32 size, data, u32 block checksum) ... end mark, content checksum.
_LZ4_BLOCK_OVERHEAD = 4 + 4
_LZ4_FRAME_TAIL_MAX = 4 + 4


def max_block_size(page_size: int) -> int:
    """The largest LZ4 block a page of ``page_size`` bytes can compress to (LZ4's bound)."""
    return page_size + page_size // 255 + 64


def min_frame_size(page_size: int) -> int:
    """The smallest frame, page header included, that can hold a page of ``page_size`` bytes.

    An LZ4 byte yields at most 255 bytes of output, so a block of a page is at least
    ``page_size // 256`` bytes; a legacy frame's framing alone is longer than that.
    """
    return FRAME_PREFIX_SIZE + page_size // 256


def legacy_frame_bound(page_size: int) -> int:
    """The longest legacy LZ4 frame (page header excluded) that can hold one page.

    Encoders write only non-empty blocks, so a frame of one page has at most
    ``page_size`` blocks, and a block of k >= 1 bytes takes at most
    ``8 + max_block_size(k) <= k * (8 + max_block_size(1))`` bytes. Anything longer is
    padding (empty blocks) that no encoder writes, refused so the walk stays bounded.
    """
    per_byte = _LZ4_BLOCK_OVERHEAD + max_block_size(1)
    return _LZ4_FRAME_HEADER_MAX + page_size * per_byte + _LZ4_FRAME_TAIL_MAX


def max_frame_size(page_size: int) -> int:
    """The largest frame, page header included, of either kind for ``page_size``."""
    return max(
        FRAME_PREFIX_SIZE + max_block_size(page_size),
        PAGE_HEADER_SIZE + legacy_frame_bound(page_size),
    )


def compress_page(data: bytes | bytearray | memoryview) -> bytes:
    """LZ4-block-compress one page (no size header), as the frame payload."""
    return bytes(lz4.block.compress(data, store_size=False))


def decompress_block(payload: bytes | bytearray | memoryview, page_size: int) -> bytes:
    """Decompress an LZ4 block that must yield exactly ``page_size`` bytes."""
    try:
        data = lz4.block.decompress(payload, uncompressed_size=page_size)
    except Exception as exc:  # lz4 raises LZ4BlockError (a bare Exception subclass)
        raise FrameError(f"LZ4 block does not decode: {exc}") from None
    if len(data) != page_size:
        raise FrameError(f"LZ4 block decodes to {len(data)} bytes, expected {page_size}")
    return bytes(data)


class LegacyFrameReader:
    """Decode one legacy (v0.5.0/0.5.1) LZ4-frame page from bytes fed in pieces.

    ``feed`` consumes a prefix of what it is given and returns its length; once the
    frame's end mark (and checksum) is consumed, ``page`` holds the page and
    ``length`` the frame's size. The one home of the legacy frame rules: LZ4 frame
    magic, exactly ``page_size`` bytes of output, at most ``legacy_frame_bound`` bytes.
    Output is requested at most one byte past the page and each byte is fed once, so
    a bomb or a frame of a million tiny blocks is refused in O(page) memory and time
    linear in the bytes consumed.
    """

    __slots__ = ("_ctx", "_limit", "_page_size", "_parts", "_produced", "length", "page")

    def __init__(self, page_size: int) -> None:
        self._page_size = page_size
        self._limit = legacy_frame_bound(page_size)
        self._ctx = lz4.frame.create_decompression_context()
        self._parts: list[bytes] = []
        self._produced = 0
        self.length = 0
        self.page: bytes | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> int:
        """Consume a prefix of ``data`` (all of it unless the frame ends); return its length.

        Returns 0 while fewer than the 4 magic bytes are at hand. Raises FrameError for
        a frame that is not LZ4, does not decode, or outgrows one page.
        """
        if self.page is not None:
            return 0
        if self.length == 0:
            if len(data) < 4:
                return 0
            if int.from_bytes(data[:4], "little") != _LZ4_FRAME_MAGIC:
                raise FrameError("legacy page frame does not start with the LZ4 frame magic")
        data = data[: self._limit - self.length]
        try:
            out, used, ended = lz4.frame.decompress_chunk(
                self._ctx, data, max_length=self._page_size + 1 - self._produced
            )
        except Exception as exc:  # lz4 raises RuntimeError for every LZ4F error
            raise FrameError(f"legacy LZ4 frame does not decode: {exc}") from None
        self.length += used
        self._produced += len(out)
        if self._produced > self._page_size:
            raise FrameError(f"legacy LZ4 frame decodes to more than {self._page_size} bytes")
        self._parts.append(out)
        if ended:
            if self._produced != self._page_size:
                raise FrameError(
                    f"legacy LZ4 frame decodes to {self._produced} bytes, "
                    f"expected {self._page_size}"
                )
            self.page = b"".join(self._parts)
        elif self.length >= self._limit:
            raise FrameError(
                f"legacy LZ4 frame runs past {self._limit} bytes, "
                f"longer than any frame of one {self._page_size}-byte page"
            )
        return int(used)


def decompress_legacy_frame(frame: bytes | bytearray | memoryview, page_size: int) -> bytes:
    """Decompress a whole legacy LZ4-frame page: exactly one page, no bytes after the frame."""
    reader = LegacyFrameReader(page_size)
    used = reader.feed(frame)
    if reader.page is None:
        raise FrameError("legacy LZ4 frame is cut short")
    if used != len(frame):
        raise FrameError(f"{len(frame) - used} bytes follow the legacy LZ4 frame")
    return reader.page


def encode_frame(pgno: int, data: bytes | bytearray | memoryview) -> bytes:
    """A full page frame: header (size flag set), u32 compressed size, LZ4 block."""
    payload = compress_page(data)
    return PageHeader(pgno, PAGE_FLAG_SIZE).to_bytes() + _U32.pack(len(payload)) + payload


def decode_frame(
    frame: bytes | bytearray | memoryview, page_size: int, *, offset: int = 0
) -> tuple[PageHeader, bytes]:
    """Decode one whole frame read by random access; ``offset`` is only for messages."""
    if len(frame) < PAGE_HEADER_SIZE:
        raise TruncatedError("page frame shorter than its header", offset=offset)
    hdr = PageHeader.from_bytes(frame)
    hdr.validate(offset=offset)
    try:
        if hdr.flags & PAGE_FLAG_SIZE:
            if len(frame) < FRAME_PREFIX_SIZE:
                raise TruncatedError("page frame shorter than its size prefix", offset=offset)
            size = _U32.unpack_from(frame, PAGE_HEADER_SIZE)[0]
            if len(frame) != FRAME_PREFIX_SIZE + size:
                raise FrameError(
                    f"frame of pgno {hdr.pgno} holds {len(frame) - FRAME_PREFIX_SIZE} payload "
                    f"bytes, its size prefix says {size}",
                    offset=offset,
                )
            return hdr, decompress_block(memoryview(frame)[FRAME_PREFIX_SIZE:], page_size)
        return hdr, decompress_legacy_frame(memoryview(frame)[PAGE_HEADER_SIZE:], page_size)
    except FrameError as exc:
        if exc.offset is None:
            raise FrameError(f"pgno {hdr.pgno}: {exc.message}", offset=offset) from None
        raise
