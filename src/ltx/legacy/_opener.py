"""Reading 0.3 objects through a Store: listing ``generations/``, streams, decryption.

Every read goes through the Store (its retries and typed errors). Small objects (WAL
segments, usually) are fetched whole with one GET and kept in a small LRU, since a
restore plan and a conversion may read a segment more than once; larger ones stream
sequentially (local files directly, remote ones as ranged reads a few MiB at a time).
Streams are handed out as chunk generators that close their file when dropped.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import IO

from ltx.codec import FileInfo
from ltx.storage import Store

from ._age import AGE_MAGIC, AgeDecryptor, is_encrypted, refuse_encrypted
from ._lz4 import SupportsRead
from ._names import LegacyObject, parse_object_path

__all__ = ["ObjectOpener", "list_generations"]

WHOLE = 1 << 20
"""Objects up to this size are read with one GET (and kept in the LRU)."""
_LRU_BYTES = 32 << 20
_CHUNK = 1 << 16


def list_generations(store: Store) -> list[LegacyObject]:
    """Every 0.3 object under ``generations/`` that parses (others skipped as 0.3.13 does)."""
    out = []
    for f in store.list_tree("generations"):
        obj = parse_object_path(
            f.path, size=f.size, created_at=f.created_at, created_ns=f.created_ns
        )
        if obj is not None:
            out.append(obj)
    return out


class ObjectOpener:
    """``open_object`` for the pure 0.3 readers, over a Store (thread-safe)."""

    def __init__(self, store: Store, age_identity: str | Sequence[str] | None = None) -> None:
        self.store = store
        self.decryptor = AgeDecryptor(age_identity) if age_identity else None
        self._lru: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()
        self.gets = 0  # objects fetched from the store (for tests and benchmarks)

    def _whole(self, obj: LegacyObject) -> bytes:
        key = (obj.path, obj.size)
        with self._lock:
            got = self._lru.get(key)
            if got is not None:
                self._lru.move_to_end(key)
                return got
        data = self.store.read(obj.path)
        with self._lock:
            self.gets += 1
            self._lru[key] = data
            self._held += len(data)
            while self._held > _LRU_BYTES and self._lru:
                _, old = self._lru.popitem(last=False)
                self._held -= len(old)
        return data

    def _stream(self, obj: LegacyObject) -> IO[bytes]:
        info = FileInfo(0, 0, 0, obj.size, obj.created_at, obj.path)
        with self._lock:
            self.gets += 1
        return self.store.open_reader(info, chunk=4 << 20, ahead=1)

    def __call__(self, obj: LegacyObject) -> bytes | Iterator[bytes]:
        """The stored bytes of ``obj``, decrypted when they are age-encrypted."""
        if obj.size <= WHOLE:
            data = self._whole(obj)
            if not is_encrypted(data[: len(AGE_MAGIC)]):
                return data
            return self._plain(obj, io.BytesIO(data))
        return self._chunks(obj)

    def _plain(self, obj: LegacyObject, source: SupportsRead) -> Iterator[bytes]:
        """The decrypted bytes of an encrypted object, in chunks."""
        if self.decryptor is None:
            raise refuse_encrypted(obj)
        with self.decryptor.decrypt(obj, source) as plain:
            while chunk := plain.read(_CHUNK):
                yield chunk

    def _chunks(self, obj: LegacyObject) -> Iterator[bytes]:
        with self._stream(obj) as fp:
            head = fp.read(len(AGE_MAGIC))
            if not is_encrypted(head):
                yield head
                while chunk := fp.read(_CHUNK):
                    yield chunk
                return
            yield from self._plain(obj, _Prefixed(head, fp))


class _Prefixed:
    """A read-only stream: ``head`` and then the rest of ``fp``."""

    def __init__(self, head: bytes, fp: IO[bytes]) -> None:
        self._head, self._fp = head, fp

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0:
                out, self._head = self._head + self._fp.read(), b""
                return out
            out, self._head = self._head[:n], self._head[n:]
            return out
        return self._fp.read(n)
