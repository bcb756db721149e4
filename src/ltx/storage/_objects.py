"""Objects under a root on any fsspec filesystem: listings, ranged reads, deletes.

What every scheme shares below the LTX layout: paths under the root, retries in one
layer, parallel calls and typed errors. ``Store`` adds the LTX levels on top.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import posixpath
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, BinaryIO, TypeVar

import attrs

from ltx.codec import FileInfo
from ltx.errors import NotFoundError, StorageError, UsageError
from ltx.storage._backend import SchemeSpec
from ltx.storage._reader import RangeReader
from ltx.storage._recent import RecentWrites
from ltx.storage._retry import RetryPolicy, call_with_retry
from ltx.storage._workers import Workers
from ltx.times import EPOCH

__all__ = ["ListedFile", "ObjectStore"]

T = TypeVar("T")
R = TypeVar("R")


@attrs.frozen
class ListedFile:
    """Any file under the root as a listing sees it (used for layouts other than LTX's)."""

    path: str
    size: int
    created_at: dt.datetime
    created_ns: int | None = None  # exact nanoseconds where the backend has them


class ObjectStore:
    """A root on an fsspec filesystem: retried calls, parallel maps, reads and deletes.

    Thread-safe for reads; ``max_concurrency`` bounds the requests in flight for the
    parallel helpers.
    """

    def __init__(
        self,
        fs: Any,
        root: str,
        *,
        spec: SchemeSpec,
        url: str,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 16,
    ) -> None:
        self.fs = fs
        self.root = root.rstrip("/") if root != "/" else root
        self.spec = spec
        self.scheme = spec.schemes[0]
        self.url = url
        self.backend = spec.backend(fs, url, self.root)
        retry = retry or RetryPolicy()
        self.retry = attrs.evolve(retry, attempts=1) if self.backend.own_retries else retry
        if retry.deadline is not None:
            self.fs = self.backend.bound(retry.deadline)
        self.max_concurrency = max(1, max_concurrency)
        #: The one pool of this store: maps, read-ahead and diffs share its threads.
        self.workers = Workers(self.max_concurrency)
        self._serial = None if self.backend.concurrent_calls else threading.Lock()
        #: Bytes of files written lately, read back free (``keep_recent``); None: off.
        self.recent: RecentWrites | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"

    def _join(self, rel: str) -> str:
        return posixpath.join(self.root, rel) if self.root else rel

    @property
    def conditional_create(self) -> bool:
        """True when ``write(..., if_absent=True)`` is atomic against other writers."""
        return self.backend.conditional_create

    def keep_recent(self, limit: int) -> None:
        """Keep up to ``limit`` bytes of the files this store writes, so that reading
        them back (a compaction of what was just uploaded) costs no request. Remote
        stores only: a local file is read as cheaply as memory."""
        if self.backend.local_path(self.root or "/") is None and limit > 0:
            self.recent = RecentWrites(limit)

    def _kept(self, path: str) -> bytes | None:
        recent = self.recent
        return recent.get(path) if recent is not None else None

    # -- plumbing -------------------------------------------------------------------

    def call(self, fn: Callable[[], T], what: str) -> T:
        """Run one storage call with retries; failures become typed StorageErrors."""
        serial = self._serial
        if serial is not None:
            inner = fn

            def fn() -> T:
                with serial:
                    return inner()

        return call_with_retry(fn, policy=self.retry, url=self.url, what=what)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[fn(x) for x in items]`` with up to ``max_concurrency`` in flight, order kept.

        Runs on the store's one pool (``workers``); safe to call from inside it.
        """
        return self.workers.map(fn, items, self.max_concurrency)

    # -- listing --------------------------------------------------------------------

    def _ls(self, path: str) -> list[dict[str, Any]]:
        def go() -> list[dict[str, Any]]:
            try:
                return list(self.fs.ls(path, detail=True, refresh=True))
            except TypeError:
                return list(self.fs.ls(path, detail=True))
            except FileNotFoundError:
                return []

        return self.call(go, f"list {path}")

    def _names(self, path: str) -> list[str]:
        return [posixpath.basename(str(e.get("name", "")).rstrip("/")) for e in self._ls(path)]

    def root_entries(self) -> list[str]:
        """Names directly under the root (one listing), to say what was found when empty."""
        return sorted(self._names(self.root))

    def is_file(self, path: str) -> bool:
        """True when ``path`` is a file (one request; False when it cannot be told)."""
        try:
            return bool(self.call(lambda: self.fs.isfile(path), f"stat {path}"))
        except StorageError:
            return False

    def list_tree(self, rel: str) -> list[ListedFile]:
        """Every file below ``root/rel`` (recursive), sorted by path; [] when it is absent."""
        base = self._join(rel)

        def go() -> dict[str, dict[str, Any]]:
            try:
                found = self.fs.find(base, detail=True, withdirs=False)
            except FileNotFoundError:
                return {}
            return dict(found) if isinstance(found, dict) else {p: {"name": p} for p in found}

        out = []
        for path, entry in self.call(go, f"list {base} recursively").items():
            if entry.get("type") not in (None, "file") or not self.backend.inside_root(path):
                continue
            created = self.backend.listed_time(entry) or EPOCH
            size = int(entry.get("size") or entry.get("Size") or 0)
            out.append(ListedFile(path, size, created, self.backend.listed_ns(path, entry)))
        return sorted(out, key=lambda f: f.path)

    # -- reading --------------------------------------------------------------------

    def read_range(self, path: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of ``path`` (one ranged GET), retried on transient faults."""
        if start < 0:
            raise UsageError(f"negative range start {start} for {path}")
        if end <= start:
            return b""
        kept = self._kept(path)
        if kept is not None:
            return kept[start:end]
        data = self.call(
            lambda: self.fs.cat_file(path, start=start, end=end), f"read {path}[{start}:{end}]"
        )
        return bytes(data)

    def read_ranges(self, requests: Sequence[tuple[str, int, int]]) -> list[bytes]:
        """Many ranged reads with up to ``max_concurrency`` in flight; results in order."""
        return self.map(lambda r: self.read_range(*r), requests)

    def local_path(self, path: str) -> str | None:
        """``path`` as a path on this machine where the store is local, else None."""
        return self.backend.local_path(path)

    def read(self, path: str) -> bytes:
        """A whole file."""
        kept = self._kept(path)
        if kept is not None:
            return kept
        return bytes(self.call(lambda: self.fs.cat_file(path), f"read {path}"))

    def open_reader(self, info: FileInfo, *, chunk: int = 4 << 20, ahead: int = 1) -> BinaryIO:
        """A buffered stream over one file: the file itself where it is local, else
        retried ranged reads of ``chunk`` bytes with ``ahead`` more fetched in the
        background."""
        kept = self.recent.take(info.path) if self.recent is not None else None
        if kept is not None:  # read whole once (a compaction input): not kept after
            return io.BytesIO(kept)
        try:
            local = self.backend.open_local(info.path, min(chunk, 1 << 20))
        except FileNotFoundError:
            raise NotFoundError(f"{info.path} does not exist", url=self.url) from None
        if local is not None:
            return local
        raw = RangeReader(
            lambda s, e: self.read_range(info.path, s, e),
            info.path,
            info.size,
            chunk,
            ahead,
            self.workers,
        )
        return io.BufferedReader(raw, min(chunk, 1 << 16))

    # -- writing --------------------------------------------------------------------

    def _holds(self, path: str, payload: bytes | str) -> bool:
        """True when ``path`` holds exactly ``payload`` (bytes, or a local file's bytes)."""
        if isinstance(payload, str):
            with open(payload, "rb") as fp:
                payload = fp.read()
        return self.read(path) == payload

    def delete(self, infos: Iterable[FileInfo | str]) -> None:
        """Delete files; a file already gone is not an error."""
        paths = [i.path if isinstance(i, FileInfo) else i for i in infos]
        if self.recent is not None:
            self.recent.drop(paths)
        batch = self.backend.delete_batch
        if batch and len(paths) > 1:  # one request per batch (S3's DeleteObjects)

            def some(chunk: list[str]) -> None:
                what = f"delete {len(chunk)} files from {chunk[0]}"
                self.call(lambda: self.backend.delete_many(chunk), what)

            self.map(some, [paths[i : i + batch] for i in range(0, len(paths), batch)])
        else:

            def one(path: str) -> None:
                with contextlib.suppress(NotFoundError):
                    self.call(lambda: self.fs.rm_file(path), f"delete {path}")

            self.map(one, paths)
        for parent in {posixpath.dirname(p) for p in paths}:
            self.fs.invalidate_cache(parent)
