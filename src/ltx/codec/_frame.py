"""Page frames: a page header, a u32 size and an LZ4 block; legacy frames carry an LZ4 frame."""

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
    "legacy_frame_length",
    "max_block_size",
    "decompress_legacy_frame",
    "encode_frame",
    "decode_frame",
]

FRAME_PREFIX_SIZE = PAGE_HEADER_SIZE + 4
_U32 = struct.Struct(">I")
_LZ4_FRAME_MAGIC = 0x184D2204


def max_block_size(page_size: int) -> int:
    """The largest LZ4 block a page of ``page_size`` bytes can compress to (LZ4's bound)."""
    return page_size + page_size // 255 + 64


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


def legacy_frame_length(buf: bytes | bytearray | memoryview, start: int = 0) -> int | None:
    """Length of the LZ4 frame at ``buf[start:]``, or None if ``buf`` ends first.

    Walks the frame structure (magic, FLG, BD, blocks, end mark, checksum) without
    decompressing, so a stream decoder knows where the next page header begins.
    """
    n = len(buf)
    if n - start < 7:
        return None
    if int.from_bytes(buf[start : start + 4], "little") != _LZ4_FRAME_MAGIC:
        raise FrameError("legacy page frame does not start with the LZ4 frame magic")
    flg = buf[start + 4]
    if flg >> 6 != 1:
        raise FrameError(f"unsupported LZ4 frame version in FLG 0x{flg:02x}")
    pos = start + 6
    if flg & 0x08:
        pos += 8
    if flg & 0x01:
        pos += 4
    pos += 1  # header checksum
    block_checksum = 4 if flg & 0x10 else 0
    while True:
        if pos + 4 > n:
            return None
        size = int.from_bytes(buf[pos : pos + 4], "little")
        pos += 4
        if size == 0:
            break
        pos += (size & 0x7FFFFFFF) + block_checksum
        if pos > n:
            return None
    if flg & 0x04:
        pos += 4
    if pos > n:
        return None
    return pos - start


def decompress_legacy_frame(frame: bytes | bytearray | memoryview, page_size: int) -> bytes:
    """Decompress a legacy (v0.5.0/0.5.1) LZ4-frame page that must hold exactly one page."""
    try:
        data = lz4.frame.decompress(bytes(frame))
    except Exception as exc:
        raise FrameError(f"legacy LZ4 frame does not decode: {exc}") from None
    if len(data) != page_size:
        raise FrameError(f"legacy LZ4 frame decodes to {len(data)} bytes, expected {page_size}")
    return bytes(data)


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
