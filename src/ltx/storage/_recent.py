"""The bytes of files this process wrote lately, kept so that reading them back is free.

A replicator uploads level-0 files and, thirty seconds later, its compactor reads them
back to merge them into level 1: over S3 that was a GET per file (most of the requests,
and of the CPU, at a 100 ms sync interval). LTX files are immutable once created
(create-if-absent), so bytes kept at write time stay true until the file is deleted.
Bounded by bytes, oldest out first; a file streamed whole (``take``) leaves. Off unless
``ObjectStore.keep_recent`` turns it on.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

__all__ = ["RecentWrites"]


class RecentWrites:
    """Whole files by path, at most ``limit`` bytes in all and ``largest`` bytes each."""

    def __init__(self, limit: int, largest: int | None = None) -> None:
        self.limit = max(0, limit)
        self.largest = self.limit // 4 if largest is None else min(largest, self.limit)
        self.size = 0
        self.hits = 0
        self._files: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._files)

    def put(self, path: str, data: bytes) -> None:
        """Keep ``data`` as the bytes of ``path`` (a file too large is not kept)."""
        if len(data) > self.largest:
            self.drop([path])
            return
        with self._lock:
            old = self._files.pop(path, None)
            self.size -= len(old) if old is not None else 0
            self._files[path] = data
            self.size += len(data)
            while self.size > self.limit:
                _, gone = self._files.popitem(last=False)
                self.size -= len(gone)

    def get(self, path: str) -> bytes | None:
        """The kept bytes of ``path``, or None."""
        with self._lock:
            data = self._files.get(path)
            if data is not None:
                self.hits += 1
            return data

    def take(self, path: str) -> bytes | None:
        """The kept bytes of ``path``, forgotten now: a file merged away is rarely read
        twice, so memory holds only what awaits its compaction."""
        with self._lock:
            data = self._files.pop(path, None)
            if data is not None:
                self.hits += 1
                self.size -= len(data)
            return data

    def drop(self, paths: Iterable[str]) -> None:
        """Forget ``paths`` (deleted files)."""
        with self._lock:
            for path in paths:
                old = self._files.pop(path, None)
                self.size -= len(old) if old is not None else 0
