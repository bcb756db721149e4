"""A Litestream replica on any fsspec filesystem: list, ranged reads, atomic writes, delete.

Backend differences (layout, where the creation time lives, how a write is made
atomic and conditional) are confined to the ``_Backend`` classes below.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import posixpath
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import attrs
import fsspec

from ltx.codec import HEADER_SIZE, FileInfo, Header, parse_filename
from ltx.errors import ConflictError, FormatError, LTXError, NotFoundError, StorageError
from ltx.storage._layout import Layout
from ltx.storage._retry import RetryPolicy, call_with_retry, classify, translate
from ltx.storage._url import StoreTarget, parse_url

__all__ = [
    "FileInfo",
    "Store",
    "open_store",
    "format_timestamp",
    "ms_to_datetime",
    "parse_timestamp",
]

T = TypeVar("T")
R = TypeVar("R")
UTC = dt.timezone.utc
TIMESTAMP_KEY = "litestream-timestamp"


def format_timestamp(ms: int) -> str:
    """RFC 3339 with trailing fractional zeros trimmed, as Go's RFC3339Nano (UTC)."""
    t = dt.datetime.fromtimestamp(ms // 1000, UTC)
    frac = f"{ms % 1000:03d}".rstrip("0")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def parse_timestamp(text: str) -> dt.datetime:
    """Parse RFC 3339 (any fraction length, Z or offset) to an aware datetime (µs precision)."""
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    main, dot, rest = s.partition(".")
    if dot:
        digits = "".join(ch for ch in rest if ch.isdigit())
        tz = rest[len(digits) :]
        s = f"{main}.{digits[:6].ljust(6, '0')}{tz}"
    out = dt.datetime.fromisoformat(s)
    if out.tzinfo is None:
        out = out.replace(tzinfo=UTC)
    return out.astimezone(UTC)


def ms_to_datetime(ms: int) -> dt.datetime:
    """Milliseconds since the epoch as an aware UTC datetime."""
    return dt.datetime.fromtimestamp(0, UTC) + dt.timedelta(milliseconds=ms)


def _as_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str) and value:
        try:
            return parse_timestamp(value)
        except ValueError:
            return None
    return None


class _Backend:
    """Defaults for any fsspec filesystem: listing mtime, header time when exact, PUT."""

    exact_listing_times = False
    conditional_create = False

    def listed_time(self, entry: Mapping[str, Any]) -> dt.datetime | None:
        for key in ("mtime", "LastModified", "modified", "last_modified", "updated", "created"):
            got = _as_datetime(entry.get(key))
            if got is not None:
                return got
        return None

    def exact_times(self, store: Store, infos: list[FileInfo]) -> list[FileInfo]:
        """Read each file's header timestamp (one 100-byte ranged read each, in parallel)."""

        def one(info: FileInfo) -> FileInfo:
            raw = store.read_range(info.path, 0, HEADER_SIZE)
            try:
                ts = Header.from_bytes(raw, validate=False).timestamp
            except FormatError as exc:
                raise exc.at(info.path) from None
            return attrs.evolve(info, created_at=ms_to_datetime(ts))

        return store.map(one, infos)

    def write(
        self, store: Store, path: str, data: bytes | str, timestamp_ms: int, if_absent: bool
    ) -> None:
        fs = store.fs
        if if_absent and fs.exists(path):
            raise ConflictError(f"{path} already exists", url=store.url)
        fs.makedirs(posixpath.dirname(path), exist_ok=True)
        if isinstance(data, str):
            fs.put_file(data, path)
        else:
            fs.pipe_file(path, data)


class _MemoryBackend(_Backend):
    _lock = threading.Lock()  # the memory filesystem is process-global; so is its writer lock
    conditional_create = True

    def write(
        self, store: Store, path: str, data: bytes | str, timestamp_ms: int, if_absent: bool
    ) -> None:
        with self._lock:
            super().write(store, path, data, timestamp_ms, if_absent)


class _LocalBackend(_Backend):
    """Temp file + fsync + rename (or hard link for create-if-absent); mtime = header time."""

    exact_listing_times = True
    conditional_create = True

    def write(
        self, store: Store, path: str, data: bytes | str, timestamp_ms: int, if_absent: bool
    ) -> None:
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        try:
            if isinstance(data, str):
                shutil.copyfile(data, tmp)
                with open(tmp, "rb+") as fp:
                    os.fsync(fp.fileno())
            else:
                with open(tmp, "wb") as fp:
                    fp.write(data)
                    fp.flush()
                    os.fsync(fp.fileno())
            ns = timestamp_ms * 1_000_000
            os.utime(tmp, ns=(ns, ns))
            if if_absent:
                try:
                    os.link(tmp, path)  # atomic, fails if the name exists
                except FileExistsError:
                    raise ConflictError(f"{path} already exists", url=store.url) from None
            else:
                os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        try:
            fd = os.open(directory, os.O_RDONLY)
        except OSError:  # pragma: no cover - platforms without directory fds
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _S3Backend(_Backend):
    """One PUT (multipart above 100 MiB) with ``If-None-Match: *`` for create-if-absent."""

    conditional_create = True

    def listed_time(self, entry: Mapping[str, Any]) -> dt.datetime | None:
        return _as_datetime(entry.get("LastModified")) or super().listed_time(entry)

    def exact_times(self, store: Store, infos: list[FileInfo]) -> list[FileInfo]:
        def one(info: FileInfo) -> FileInfo:
            meta = store.call(lambda: store.fs.metadata(info.path), f"head {info.path}")
            value = {k.lower(): v for k, v in (meta or {}).items()}.get(TIMESTAMP_KEY)
            got = _as_datetime(value)
            return attrs.evolve(info, created_at=got) if got else info

        return store.map(one, infos)

    def write(
        self, store: Store, path: str, data: bytes | str, timestamp_ms: int, if_absent: bool
    ) -> None:
        meta = {TIMESTAMP_KEY: format_timestamp(timestamp_ms)}
        mode = "create" if if_absent else "overwrite"
        if isinstance(data, str):
            store.fs.put_file(data, path, mode=mode, Metadata=meta)
        else:
            store.fs.pipe_file(path, data, mode=mode, Metadata=meta)


class _GCSBackend(_Backend):
    """Metadata ``litestream-timestamp`` comes back in listings; generation-match create."""

    exact_listing_times = True
    conditional_create = True

    def listed_time(self, entry: Mapping[str, Any]) -> dt.datetime | None:
        meta = entry.get("metadata") or {}
        got = _as_datetime(meta.get(TIMESTAMP_KEY))
        return got or _as_datetime(entry.get("timeCreated")) or super().listed_time(entry)

    def write(
        self, store: Store, path: str, data: bytes | str, timestamp_ms: int, if_absent: bool
    ) -> None:
        meta = {TIMESTAMP_KEY: format_timestamp(timestamp_ms)}
        mode = "create" if if_absent else "overwrite"
        if isinstance(data, str):
            with open(data, "rb") as fp:
                store.fs.pipe_file(path, fp.read(), metadata=meta, mode=mode)
        else:
            store.fs.pipe_file(path, data, metadata=meta, mode=mode)


class _WebDAVBackend(_Backend):
    """Upload to a temp name, then MOVE (Overwrite: F for create-if-absent)."""

    conditional_create = True

    def write(
        self, store: Store, path: str, data: bytes | str, timestamp_ms: int, if_absent: bool
    ) -> None:
        fs = store.fs
        fs.makedirs(posixpath.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        if isinstance(data, str):
            fs.put_file(data, tmp)
        else:
            fs.pipe_file(tmp, data)
        try:
            fs.client.move(tmp, path, overwrite=not if_absent)
        except Exception as exc:
            with contextlib.suppress(Exception):
                fs.rm_file(tmp)
            if if_absent and ("412" in str(exc) or "exists" in str(exc).lower()):
                raise ConflictError(f"{path} already exists", url=store.url) from None
            raise
        fs.invalidate_cache(posixpath.dirname(path))


_BACKENDS: dict[str, Callable[[], _Backend]] = {
    "file": _LocalBackend,
    "memory": _MemoryBackend,
    "s3": _S3Backend,
    "gcs": _GCSBackend,
    "webdav": _WebDAVBackend,
}


class _RangeReader(io.RawIOBase):
    """A read-only stream over one file made of retried ranged reads, ``chunk`` bytes each,
    with the next chunk fetched in the background while the current one is consumed."""

    def __init__(
        self, store: Store, path: str, size: int, chunk: int, read_ahead: bool = True
    ) -> None:
        self._store, self._path, self._size, self._chunk = store, path, size, chunk
        self._pos = 0  # next byte handed to the caller
        self._buf = b""
        self._buf_pos = 0
        self._pool = ThreadPoolExecutor(1) if read_ahead else None
        self._next: Any = None
        self.name = path

    def readable(self) -> bool:
        return True

    def _fetch(self, start: int) -> Any:
        end = min(self._size, start + self._chunk)
        if self._pool is None:
            done: Future[bytes] = Future()
            done.set_result(self._store.read_range(self._path, start, end))
            return done
        return self._pool.submit(self._store.read_range, self._path, start, end)

    def readinto(self, buf: Any) -> int:
        if self._buf_pos >= len(self._buf):
            start = self._pos
            if start >= self._size:
                return 0
            fut = self._next if self._next is not None else self._fetch(start)
            self._buf = fut.result()
            self._buf_pos = 0
            if not self._buf:
                return 0
            ahead = start + len(self._buf)
            more = ahead < self._size and self._pool is not None
            self._next = self._fetch(ahead) if more else None
        n = min(len(buf), len(self._buf) - self._buf_pos)
        buf[:n] = self._buf[self._buf_pos : self._buf_pos + n]
        self._buf_pos += n
        self._pos += n
        return n

    def close(self) -> None:
        if self._next is not None:
            self._next.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        super().close()


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
        layout: Layout,
        scheme: str,
        url: str,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 16,
    ) -> None:
        self.fs = fs
        self.root = root.rstrip("/") if root != "/" else root
        self.layout = layout
        self.scheme = scheme
        self.url = url
        self.retry = retry or RetryPolicy()
        self.max_concurrency = max(1, max_concurrency)
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self._backend = _BACKENDS.get(
            {"gs": "gcs", "local": "file", "s3a": "s3"}.get(protocol, protocol), _Backend
        )()

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
        return self._backend.conditional_create

    # -- plumbing -------------------------------------------------------------------

    def call(self, fn: Callable[[], T], what: str) -> T:
        """Run one storage call with retries; failures become typed StorageErrors."""
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

    def levels(self) -> list[int]:
        """Levels that have a folder under the root (one listing of the root)."""
        found = set()
        for entry in self._ls(self.root):
            name = posixpath.basename(str(entry.get("name", "")).rstrip("/"))
            level = self.layout.parse_level_dir(name) if self.layout.name == "hex" else None
            if self.layout.name == "decimal" and name == "ltx":
                for sub in self._ls(self._join("ltx")):
                    sub_name = posixpath.basename(str(sub.get("name", "")).rstrip("/"))
                    lv = self.layout.parse_level_dir(sub_name)
                    if lv is not None:
                        found.add(lv)
            elif level is not None:
                found.add(level)
        return sorted(found)

    def list_level(self, level: int, *, exact_times: bool = False) -> list[FileInfo]:
        """Files of one level sorted by (min, max); unparsable names are skipped.

        ``exact_times`` asks for the creation time Litestream uses for timestamp
        restores where the listing does not carry it (S3: HEAD metadata; WebDAV and
        others: the LTX header timestamp).
        """
        base = self.level_path(level)
        infos = []
        for entry in self._ls(base):
            if entry.get("type") not in (None, "file"):
                continue
            name = str(entry.get("name", ""))
            if posixpath.normpath(posixpath.dirname(name.rstrip("/"))).lstrip("/") != (
                posixpath.normpath(base).lstrip("/")
            ):
                continue
            try:
                lo, hi = parse_filename(posixpath.basename(name))
            except FormatError:
                continue
            if level == 9 and lo != 1:
                continue
            created = self._backend.listed_time(entry) or dt.datetime.fromtimestamp(0, UTC)
            size = int(entry.get("size") or entry.get("Size") or 0)
            infos.append(FileInfo(level, lo, hi, size, created, self.file_path(level, lo, hi)))
        infos.sort(key=lambda f: f.sort_key)
        return self.exact_times(infos) if exact_times else infos

    def exact_times(self, infos: Sequence[FileInfo]) -> list[FileInfo]:
        """``infos`` with the creation times timestamp restores use, where the listing
        does not carry them (S3: HEAD metadata; WebDAV and others: header timestamp)."""
        if self._backend.exact_listing_times or not infos:
            return list(infos)
        return self._backend.exact_times(self, list(infos))

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
            raise ValueError(f"negative range start {start} for {path}")
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

    def open_reader(
        self, info: FileInfo, *, chunk: int = 4 << 20, read_ahead: bool = True
    ) -> io.BufferedReader:
        """A buffered stream over one file built from retried ranged reads of ``chunk``
        bytes, the next one fetched in the background when ``read_ahead``."""
        raw = _RangeReader(self, info.path, info.size, chunk, read_ahead)
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
        outputs are uploaded from disk, not memory).

        With ``if_absent`` the write fails with ConflictError if the file exists; on
        backends with ``conditional_create`` that check is atomic.
        """
        path = self.file_path(level, min_txid, max_txid)
        payload: bytes | str = data if isinstance(data, bytes) else os.fspath(data)
        size = len(payload) if isinstance(payload, bytes) else os.path.getsize(payload)

        attempts = 0

        def go() -> None:
            nonlocal attempts
            attempts += 1
            try:
                self._backend.write(self, path, payload, timestamp_ms, if_absent)
            except Exception as exc:
                # A retried create-if-absent meets its own earlier attempt when that one
                # landed but its reply was lost: the same bytes there mean we won.
                ours = attempts > 1 and if_absent and classify(exc) == "conflict"
                if ours and self._holds(path, payload):
                    return
                raise

        self.call(go, f"write {path}")
        return FileInfo(level, min_txid, max_txid, size, ms_to_datetime(timestamp_ms), path)

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


def open_store(
    url: str,
    *,
    env: Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
    max_concurrency: int = 16,
    layout: Layout | str | None = None,
    filesystem: Any = None,
    **storage_options: Any,
) -> Store:
    """Open the replica at ``url`` (``file://``, ``memory://``, ``s3://``, ``gs://``,
    ``webdav://``, any fsspec URL).

    ``env`` supplies Litestream's variables (``LITESTREAM_*``, ``AWS_*``); keyword
    ``storage_options`` win over both URL and environment. ``layout`` overrides the
    scheme's layout (``"decimal"`` or ``"hex"``) for replicas copied between backends.
    ``filesystem`` wraps or replaces the fsspec filesystem (e.g. a fault injector).
    """
    target: StoreTarget = parse_url(url, env=env, options=storage_options)
    if filesystem is None:
        try:
            filesystem = fsspec.filesystem(target.protocol, **target.options)
        except (ImportError, ValueError) as exc:
            raise StorageError(
                f"cannot open filesystem {target.protocol!r}: {exc}", url=target.url
            ) from None
        except LTXError:
            raise
        except Exception as exc:
            raise translate(exc, target.url, "open filesystem") from None
    chosen = target.layout
    if isinstance(layout, str):
        chosen = Layout(layout)
        if layout not in ("decimal", "hex"):
            raise ValueError(f"layout must be 'decimal' or 'hex', got {layout!r}")
    elif layout is not None:
        chosen = layout
    return Store(
        filesystem,
        target.root,
        layout=chosen,
        scheme=target.scheme,
        url=target.url,
        retry=retry,
        max_concurrency=max_concurrency,
    )
