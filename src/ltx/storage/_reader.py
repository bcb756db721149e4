"""A sequential stream over one remote file built from ranged reads, several in flight.

Restores and compactions decode files front to back; fetching the next ``ahead``
chunks in the background keeps the link busy while the decoder works, and memory
stays bounded by ``(ahead + 1) * chunk``. The fetches run on the store's one pool
(``Workers``), which also runs the maps a reader may be read from.
"""

from __future__ import annotations

import collections
import functools
import io
from collections.abc import Callable
from typing import Any

from ltx.storage._workers import Job, Workers

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
        workers: Workers | None = None,
    ) -> None:
        self._read_range, self._size, self._chunk = read_range, size, chunk
        self._pos = 0  # next byte handed to the caller
        self._fetched = 0  # next byte not yet requested
        self._buf = b""
        self._buf_pos = 0
        self._workers = workers if ahead > 0 else None
        self._ahead = ahead if workers is not None else 0
        self._queue: collections.deque[Job[bytes] | bytes] = collections.deque()
        self.name = name

    def readable(self) -> bool:
        return True

    def _request(self) -> None:
        """Queue the next chunk (read here when there is no read-ahead)."""
        start = self._fetched
        end = min(self._size, start + self._chunk)
        self._fetched = end
        if self._workers is None:
            self._queue.append(self._read_range(start, end))
        else:
            self._queue.append(
                self._workers.submit(functools.partial(self._read_range, start, end))
            )

    def _refill(self) -> bool:
        if not self._queue and self._fetched < self._size:
            self._request()
        if not self._queue:
            return False
        got = self._queue.popleft()
        self._buf = got if isinstance(got, bytes) else got.result()
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
        for job in self._queue:
            if not isinstance(job, bytes):
                job.abandon()
        self._queue.clear()
        super().close()
