"""Page cache: an LRU of decompressed pages bounded in bytes, plus an optional disk cache.

LTX files are immutable, so a cached page never goes stale and a hit never needs the
network. The disk cache writes each entry to a temp file and renames it into place,
so several processes can share one directory safely.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

__all__ = ["PageCache"]


class PageCache:
    """Memory LRU (``max_bytes``) in front of an optional ``cache_dir``; counts hits and misses."""

    def __init__(self, max_bytes: int = 64 << 20, cache_dir: str | os.PathLike[str] | None = None):
        self.max_bytes = max_bytes
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._lru: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(*parts: object) -> str:
        """A stable key from its parts (store URL, file path, offset ...); cheap to build,
        since a warm page read makes one."""
        return "\x00".join(map(str, parts))

    def _disk_path(self, key: str) -> Path:
        assert self.cache_dir is not None
        name = hashlib.sha256(key.encode()).hexdigest()
        return self.cache_dir / name[:2] / name

    def get(self, key: str) -> bytes | None:
        """The cached bytes, from memory or disk, or None."""
        with self._lock:
            data = self._lru.get(key)
            if data is not None:
                self._lru.move_to_end(key)
                self.hits += 1
                return data
        if self.cache_dir is not None:
            try:
                data = self._disk_path(key).read_bytes()
            except OSError:
                data = None
            if data is not None:
                self._remember(key, data)
                with self._lock:
                    self.hits += 1
                return data
        with self._lock:
            self.misses += 1
        return None

    def pop(self, key: str) -> bytes | None:
        """Remove and return a memory entry, without counting a hit or a miss (for entries
        kept in another form, such as compressed frames fetched on speculation)."""
        with self._lock:
            data = self._lru.pop(key, None)
            if data is not None:
                self._bytes -= len(data)
            return data

    def put(self, key: str, data: bytes, *, disk: bool = True, cold: bool = False) -> None:
        """Cache ``data``; on disk too when a directory is set and ``disk``. A ``cold``
        entry (fetched on speculation) goes to the end that is evicted first, so it never
        pushes out what was asked for."""
        self._remember(key, data, cold=cold)
        if disk and self.cache_dir is not None:
            path = self._disk_path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fp:
                    fp.write(data)
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise

    def _remember(self, key: str, data: bytes, *, cold: bool = False) -> None:
        if len(data) > self.max_bytes:
            return
        with self._lock:
            old = self._lru.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._lru[key] = data
            if cold:
                self._lru.move_to_end(key, last=False)
            self._bytes += len(data)
            while self._bytes > self.max_bytes:
                _, dropped = self._lru.popitem(last=False)
                self._bytes -= len(dropped)

    @property
    def size(self) -> int:
        """Bytes held in memory."""
        return self._bytes
