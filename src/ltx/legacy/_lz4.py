"""Bounded, incremental readers for the bytes of a 0.3 object (one LZ4 frame, or raw).

Litestream 0.3 writes every object as one LZ4 frame (pierrec/lz4 v4: 4 MiB independent
blocks, content checksum). We never inflate a whole object at once: input goes in
64 KiB slices and ``LZ4FrameDecompressor.decompress(max_length=...)`` hands back at
most what the caller asked for, so memory stays bounded by the LZ4 block size plus
one request, and time stays linear in the bytes actually needed. An optional
``limit`` stops an object that inflates past what the caller can use.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

import lz4.frame

from ltx.errors import LegacyFormatError

from ._names import LegacyObject

__all__ = ["ByteSource", "LZ4FrameReader", "ObjectReader", "RawReader", "open_reader"]

CHUNK = 64 * 1024
"""Input slice size: bounds the copy python-lz4 makes of unconsumed input per call."""


class SupportsRead(Protocol):
    """A file-like object: ``read(n)`` returns up to n bytes, b"" at the end."""

    def read(self, n: int, /) -> bytes: ...


ByteSource = bytes | bytearray | memoryview | SupportsRead | Iterable[bytes]
"""The stored bytes of an object: one buffer, a file-like, or an iterator of chunks."""


def _slices(source: ByteSource) -> Iterator[bytes]:
    """The source as non-empty pieces of at most CHUNK bytes."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        pieces: Iterable[bytes] = (bytes(source),)
    elif hasattr(source, "read"):
        reader: SupportsRead = source  # type: ignore[assignment]
        pieces = iter(lambda: reader.read(CHUNK), b"")
    else:
        pieces = source
    for piece in pieces:
        view = memoryview(piece)
        for i in range(0, len(view), CHUNK):
            yield bytes(view[i : i + CHUNK])


class _Reader:
    """Buffered ``read``/``skip`` over pieces produced by ``_more``; tracks the position."""

    def __init__(self, path: str | None, limit: int | None):
        self.path = path
        self.limit = limit
        self.position = 0  # bytes handed to the caller
        self._produced = 0  # bytes produced by _more
        self._buf = bytearray()
        self._pos = 0
        self._end = False

    def _more(self, want: int) -> bytes:
        """Up to about ``want`` more bytes; b"" only at the end of the object."""
        raise NotImplementedError

    def _error(self, message: str) -> LegacyFormatError:
        return LegacyFormatError(message, path=self.path, offset=self.position)

    def _fill(self, n: int) -> None:
        while len(self._buf) - self._pos < n and not self._end:
            piece = self._more(max(n - (len(self._buf) - self._pos), CHUNK))
            if not piece:
                self._end = True
                break
            self._produced += len(piece)
            if self.limit is not None and self._produced > self.limit:
                raise self._error(f"object inflates past the {self.limit}-byte limit")
            if self._pos:
                del self._buf[: self._pos]
                self._pos = 0
            self._buf += piece

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only at the end of the object."""
        self._fill(n)
        out = bytes(self._buf[self._pos : self._pos + n])
        self._pos += len(out)
        self.position += len(out)
        return out

    def read_some(self, n: int) -> bytes:
        """Up to ``n`` bytes, b"" only at the end: what is buffered, else one decompressed
        piece handed over without copying (bulk copies of snapshots use this)."""
        if self._pos < len(self._buf):
            return self.read(min(n, len(self._buf) - self._pos))
        if self._end:
            return b""
        piece = self._more(n)
        if not piece:
            self._end = True
            return b""
        self._produced += len(piece)
        if self.limit is not None and self._produced > self.limit:
            raise self._error(f"object inflates past the {self.limit}-byte limit")
        self.position += len(piece)
        return piece

    def read_exact(self, n: int, what: str) -> bytes:
        """Exactly ``n`` bytes, or LegacyFormatError naming ``what`` was cut short."""
        out = self.read(n)
        if len(out) != n:
            raise LegacyFormatError(
                f"{what} cut short: {len(out)} of {n} bytes", path=self.path, offset=self.position
            )
        return out

    def skip(self, n: int) -> None:
        """Discard ``n`` bytes (decompressing them in bounded steps)."""
        while n > 0:
            got = len(self.read(min(n, CHUNK)))
            if got == 0:
                raise self._error(f"object ends {n} bytes before the data sought")
            n -= got

    def at_end(self) -> bool:
        """True when no byte is left (checks the frame's end and checksum for LZ4)."""
        self._fill(1)
        return len(self._buf) == self._pos


class LZ4FrameReader(_Reader):
    """Reads one LZ4 frame incrementally; truncation, corruption and trailing data raise."""

    def __init__(self, source: ByteSource, *, path: str | None = None, limit: int | None = None):
        super().__init__(path, limit)
        self._src = _slices(source)
        self._dec = lz4.frame.LZ4FrameDecompressor()
        self._pending = False  # the last call filled its max_length: output may be waiting

    def _next_input(self) -> bytes:
        return next(self._src, b"")

    def _more(self, want: int) -> bytes:
        while True:
            if self._dec.eof:
                self._check_trailing()
                return b""
            data = b""
            if self._dec.needs_input and not self._pending:
                data = self._next_input()
                if not data:
                    out = self._decompress(b"", want)  # flush what the context holds
                    if out:
                        return out
                    raise self._error("LZ4 frame is truncated (no end mark)")
            out = self._decompress(data, want)
            if out:
                return out

    def _decompress(self, data: bytes, want: int) -> bytes:
        try:
            out: bytes = self._dec.decompress(data, max_length=want)
        except RuntimeError as exc:
            raise self._error(f"LZ4 frame does not decode ({exc})") from None
        self._pending = len(out) == want
        return out

    def _check_trailing(self) -> None:
        extra = self._dec.unused_data or self._next_input()
        if extra:
            raise self._error("data after the end of the LZ4 frame")


class RawReader(_Reader):
    """Reads an uncompressed object (the 0.3.0-0.3.4 names without ``.lz4``)."""

    def __init__(self, source: ByteSource, *, path: str | None = None, limit: int | None = None):
        super().__init__(path, limit)
        self._src = _slices(source)

    def _more(self, want: int) -> bytes:
        return next(self._src, b"")


ObjectReader = LZ4FrameReader | RawReader


def open_reader(obj: LegacyObject, source: ByteSource, *, limit: int | None = None) -> ObjectReader:
    """The right reader for ``obj``: LZ4 unless its name says the bytes are raw."""
    if obj.compressed:
        return LZ4FrameReader(source, path=obj.path, limit=limit)
    return RawReader(source, path=obj.path, limit=limit)
