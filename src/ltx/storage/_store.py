"""A Litestream replica on any fsspec filesystem: list, ranged reads, atomic writes, delete.

What differs by scheme (URL form, layout, creation times, how a write is atomic and
conditional) lives in that scheme's spec and backend; this class adds what every
scheme shares: paths, retries in one layer, parallel calls and typed errors.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import posixpath
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, TypeVar

import attrs

from ltx.codec import SNAPSHOT_LEVEL, FileInfo, parse_filename
from ltx.errors import FormatError, NotFoundError, StorageError, UsageError
from ltx.storage import _survey
from ltx.storage._backend import SchemeSpec
from ltx.storage._layout import Layout
from ltx.storage._reader import RangeReader
from ltx.storage._retry import RetryPolicy, call_with_retry, classify
from ltx.storage._survey import ListedFile
from ltx.times import EPOCH, ms_to_datetime

__all__ = ["ListedFile", "Store"]

T = TypeVar("T")
R = TypeVar("R")
_TEMP = re.compile(r"\.ltx\.tmp-[0-9a-f]{32}$")


class Store:
    """A replica root on an fsspec filesystem, in Litestream's layout for its scheme.

    Use ``open_store(url)``. Thread-safe for reads; ``max_concurrency`` bounds the
    requests in flight for the parallel helpers.
    """

    def __init__(
        self,
        fs: Any,
        root: str,
        *,
        spec: SchemeSpec,
        url: str,
        layout: Layout | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 16,
    ) -> None:
        self.fs = fs
        self.root = root.rstrip("/") if root != "/" else root
        self.spec = spec
        self.layout = layout or spec.layout
        self.scheme = spec.schemes[0]
        self.url = url
        self.backend = spec.backend(fs, url, self.root)
        retry = retry or RetryPolicy()
        self.retry = attrs.evolve(retry, attempts=1) if self.backend.own_retries else retry
        self.max_concurrency = max(1, max_concurrency)
        self.skipped: list[str] = []  # listed entries refused (e.g. outside the root)
        self._serial = None if self.backend.concurrent_calls else threading.Lock()
        self.root_names: list[str] | None = None  # names under the root, as last listed

    def __repr__(self) -> str:
        return f"<Store {self.url} layout={self.layout.name}>"

    # -- paths ----------------------------------------------------------------------

    def _join(self, rel: str) -> str:
        return posixpath.join(self.root, rel) if self.root else rel

    def level_path(self, level: int) -> str:
        """Full path of a level's folder."""
        return self._join(self.layout.level_dir(level))

    def file_path(self, level: int, min_txid: int, max_txid: int) -> str:
        """Full path of one LTX file."""
        return self._join(self.layout.file_path(level, min_txid, max_txid))

    @property
    def conditional_create(self) -> bool:
        """True when ``write(..., if_absent=True)`` is atomic against other writers."""
        return self.backend.conditional_create

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
        """``[fn(x) for x in items]`` with up to ``max_concurrency`` in flight, order kept."""
        items = list(items)
        if len(items) <= 1 or self.max_concurrency == 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(min(self.max_concurrency, len(items))) as ex:
            return list(ex.map(fn, items))

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

    def levels(self) -> list[int]:
        """Levels that have a folder under the root (one listing of the root, two if decimal).

        The root's names are kept in ``root_names`` (e.g. ``generations`` of Litestream 0.3).
        """
        names = self._names(self.root)
        self.root_names = sorted(names)
        if self.layout.name == "decimal":
            names = self._names(self._join("ltx")) if "ltx" in names else []
        found = {self.layout.parse_level_dir(n) for n in names}
        return sorted(lv for lv in found if lv is not None)

    def list_tree(self, rel: str) -> list[ListedFile]:
        """Every file below ``root/rel`` (recursive), sorted by path; [] when it is absent."""
        return _survey.list_tree(self, rel)

    def replica_roots(self) -> list[str]:
        """Paths (relative to the root) of the LTX replicas below it ('' is the root)."""
        return _survey.replica_roots(self)

    def explain_empty(self) -> str:
        """Why no replica was found: what was looked for, where, and what is there."""
        return _survey.explain_empty(self)

    def root_entries(self) -> list[str]:
        """Names directly under the root (one listing), to say what was found when empty."""
        return sorted(self._names(self.root))

    def is_file(self, path: str) -> bool:
        """True when ``path`` is a file (one request; False when it cannot be told)."""
        try:
            return bool(self.call(lambda: self.fs.isfile(path), f"stat {path}"))
        except StorageError:
            return False

    def _entry_info(self, level: int, base: str, entry: Mapping[str, Any]) -> FileInfo | None:
        if entry.get("type") not in (None, "file"):
            return None
        name = str(entry.get("name", ""))
        parent = posixpath.normpath(posixpath.dirname(name.rstrip("/"))).lstrip("/")
        if parent != posixpath.normpath(base).lstrip("/"):
            return None
        try:
            lo, hi = parse_filename(posixpath.basename(name))
        except FormatError:
            return None
        if level == SNAPSHOT_LEVEL and lo != 1:
            return None
        path = self.file_path(level, lo, hi)
        if not self.backend.inside_root(path):
            self.skipped.append(path)
            return None
        created = self.backend.listed_time(entry) or EPOCH
        size = int(entry.get("size") or entry.get("Size") or 0)
        return FileInfo(level, lo, hi, size, created, path)

    def list_level(self, level: int, *, exact_times: bool = False) -> list[FileInfo]:
        """Files of one level sorted by (min, max); unparsable names are skipped.

        ``exact_times`` asks for the creation time Litestream uses for timestamp
        restores where the listing does not carry it (S3: HEAD metadata; WebDAV and
        others: the LTX header timestamp).
        """
        base = self.level_path(level)
        got = (self._entry_info(level, base, e) for e in self._ls(base))
        infos = sorted((f for f in got if f is not None), key=lambda f: f.sort_key)
        return self.exact_times(infos) if exact_times else infos

    def exact_times(self, infos: Sequence[FileInfo]) -> list[FileInfo]:
        """``infos`` with the creation times timestamp restores use, where the listing
        does not carry them (one small request per file, in parallel)."""
        if self.backend.exact_listing_times or not infos:
            return list(infos)

        def one(info: FileInfo) -> FileInfo:
            got = self.call(lambda: self.backend.exact_time(info.path), f"time of {info.path}")
            return attrs.evolve(info, created_at=got) if got is not None else info

        return self.map(one, infos)

    def list_files(
        self, levels: Iterable[int] | None = None, *, exact_times: bool = False
    ) -> list[FileInfo]:
        """Files of the given levels (default: every level folder present), by level then TXID."""
        chosen = self.levels() if levels is None else sorted(set(levels))
        per_level = self.map(lambda lv: self.list_level(lv, exact_times=exact_times), chosen)
        return [f for files in per_level for f in files]

    # -- reading --------------------------------------------------------------------

    def read_range(self, path: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of ``path`` (one ranged GET), retried on transient faults."""
        if start < 0:
            raise UsageError(f"negative range start {start} for {path}")
        if end <= start:
            return b""
        data = self.call(
            lambda: self.fs.cat_file(path, start=start, end=end), f"read {path}[{start}:{end}]"
        )
        return bytes(data)

    def read_ranges(self, requests: Sequence[tuple[str, int, int]]) -> list[bytes]:
        """Many ranged reads with up to ``max_concurrency`` in flight; results in order."""
        return self.map(lambda r: self.read_range(*r), requests)

    def read(self, path: str) -> bytes:
        """A whole file."""
        return bytes(self.call(lambda: self.fs.cat_file(path), f"read {path}"))

    def open_reader(self, info: FileInfo, *, chunk: int = 4 << 20, ahead: int = 1) -> BinaryIO:
        """A buffered stream over one file: the file itself where it is local, else
        retried ranged reads of ``chunk`` bytes with ``ahead`` more fetched in the
        background."""
        try:
            local = self.backend.open_local(info.path, min(chunk, 1 << 20))
        except FileNotFoundError:
            raise NotFoundError(f"{info.path} does not exist", url=self.url) from None
        if local is not None:
            return local
        raw = RangeReader(
            lambda s, e: self.read_range(info.path, s, e), info.path, info.size, chunk, ahead
        )
        return io.BufferedReader(raw, min(chunk, 1 << 16))

    # -- writing --------------------------------------------------------------------

    def write(
        self,
        level: int,
        min_txid: int,
        max_txid: int,
        data: bytes | os.PathLike[str],
        *,
        timestamp_ms: int,
        if_absent: bool = False,
    ) -> FileInfo:
        """Write one whole LTX file atomically, stamped with ``timestamp_ms`` as Litestream does.

        ``data`` is the file's bytes or the path of a local file holding them (large
        outputs are uploaded from disk, not memory). With ``if_absent`` the write fails
        with ConflictError if the file exists; atomically where ``conditional_create``.
        """
        path = self.file_path(level, min_txid, max_txid)
        payload: bytes | str = data if isinstance(data, bytes) else os.fspath(data)
        size = len(payload) if isinstance(payload, bytes) else os.path.getsize(payload)
        # Made first: a timestamp that is no time fails here, before anything is written.
        info = FileInfo(level, min_txid, max_txid, size, ms_to_datetime(timestamp_ms), path)
        attempts = 0

        def go() -> None:
            nonlocal attempts
            attempts += 1
            try:
                self.backend.write(path, payload, timestamp_ms, if_absent)
            except Exception as exc:
                # A retried create-if-absent meets its own earlier attempt when that one
                # landed but its reply was lost: the same bytes there mean we won.
                ours = attempts > 1 and if_absent and classify(exc) == "conflict"
                if ours and self._holds(path, payload):
                    return
                raise

        self.call(go, f"write {path}")
        return info

    def remove_stale_temps(self, before: dt.datetime) -> list[str]:
        """Delete temp files of interrupted writes (``*.ltx.tmp-<hex>``) made before ``before``
        in every level folder; return their paths."""
        stale = []
        for level in self.levels():
            for entry in self._ls(self.level_path(level)):
                name = str(entry.get("name", ""))
                if not _TEMP.search(name):
                    continue
                made = self.backend.listed_time(entry)
                if made is not None and made < before:
                    stale.append(name)
        self.delete(stale)
        return stale

    def _holds(self, path: str, payload: bytes | str) -> bool:
        """True when ``path`` holds exactly ``payload`` (bytes, or a local file's bytes)."""
        if isinstance(payload, str):
            with open(payload, "rb") as fp:
                payload = fp.read()
        return self.read(path) == payload

    def delete(self, infos: Iterable[FileInfo | str]) -> None:
        """Delete files; a file already gone is not an error."""
        paths = [i.path if isinstance(i, FileInfo) else i for i in infos]

        def one(path: str) -> None:
            with contextlib.suppress(NotFoundError):
                self.call(lambda: self.fs.rm_file(path), f"delete {path}")

        self.map(one, paths)
        for parent in {posixpath.dirname(p) for p in paths}:
            self.fs.invalidate_cache(parent)
