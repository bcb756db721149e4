"""A sequential stream over one remote file built from ranged reads, several in flight.

Restores and compactions decode files front to back; fetching the next ``ahead``
chunks in the background keeps the link busy while the decoder works, and memory
stays bounded by ``(ahead + 1) * chunk``.
"""

from __future__ import annotations

import collections
import io
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["RangeReader"]


class RangeReader(io.RawIOBase):
    """Read-only raw stream over ``[0, size)`` of one file via ``read_range(start, end)``."""

    def __init__(
        self,
        read_range: Callable[[int, int], bytes],
        name: str,
        size: int,
        chunk: int,
        ahead: int = 1,
    ) -> None:
        self._read_range, self._size, self._chunk = read_range, size, chunk
        self._pos = 0  # next byte handed to the caller
        self._fetched = 0  # next byte not yet requested
        self._buf = b""
        self._buf_pos = 0
        self._pool = ThreadPoolExecutor(ahead) if ahead > 0 else None
        self._ahead = ahead
        self._queue: collections.deque[Future[bytes]] = collections.deque()
        self.name = name

    def readable(self) -> bool:
        return True

    def _request(self) -> None:
        """Queue the next chunk (inline when there is no pool)."""
        start = self._fetched
        end = min(self._size, start + self._chunk)
        self._fetched = end
        if self._pool is None:
            done: Future[bytes] = Future()
            done.set_result(self._read_range(start, end))
            self._queue.append(done)
        else:
            self._queue.append(self._pool.submit(self._read_range, start, end))

    def _refill(self) -> bool:
        if not self._queue and self._fetched < self._size:
            self._request()
        if not self._queue:
            return False
        self._buf = self._queue.popleft().result()
        self._buf_pos = 0
        while len(self._queue) < self._ahead and self._fetched < self._size:
            self._request()
        return bool(self._buf)

    def readinto(self, buf: Any) -> int:
        if self._buf_pos >= len(self._buf) and (self._pos >= self._size or not self._refill()):
            return 0
        n = min(len(buf), len(self._buf) - self._buf_pos)
        buf[:n] = self._buf[self._buf_pos : self._buf_pos + n]
        self._buf_pos += n
        self._pos += n
        return n

    def close(self) -> None:
        for fut in self._queue:
            fut.cancel()
        self._queue.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        super().close()
