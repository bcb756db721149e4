"""What one storage scheme is: a ``SchemeSpec`` (URL parsing, layout, backend) and its backend.

A backend does single raw operations on its fsspec filesystem (one write, one time
lookup); the Store around it retries, runs calls in parallel and types the errors.
Capabilities are class attributes, so the registry and the docs can list them.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import posixpath
import re
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

import attrs

from ltx.codec import HEADER_SIZE, Header
from ltx.errors import ConflictError, FormatError
from ltx.storage._layout import DECIMAL, Layout
from ltx.times import as_datetime, ms_to_datetime

__all__ = [
    "Backend",
    "SchemeSpec",
    "UrlParts",
    "Payload",
    "clean_path",
    "TIMESTAMP_KEY",
    "temp_name",
    "is_temp_name",
]

TIMESTAMP_KEY = "litestream-timestamp"
Payload = bytes | str
"""What a write uploads: the file's bytes, or the path of a local file holding them."""


_TEMP = re.compile(r"\.ltx\.tmp-[0-9a-f]{32}$")


def temp_name(path: str) -> str:
    """A fresh temp name beside ``path`` for an upload renamed into place when complete."""
    return f"{path}.tmp-{uuid.uuid4().hex}"


def is_temp_name(path: str) -> bool:
    """True for a temp name ``temp_name`` made for an LTX file (an interrupted write's)."""
    return _TEMP.search(path) is not None


def clean_path(path: str) -> str:
    """A relative path with ``.``/``..`` folded and no leading slash ('' for the root)."""
    path = posixpath.normpath("/" + path.lstrip("/")).lstrip("/")
    return "" if path == "." else path


@attrs.frozen
class UrlParts:
    """A replica URL split for a scheme's parser: parts, query values and the environment."""

    parts: urllib.parse.SplitResult
    query: Mapping[str, str]
    env: Mapping[str, str]

    @property
    def user(self) -> str | None:
        """The user name, percent-decoded (None when absent)."""
        return urllib.parse.unquote(self.parts.username) if self.parts.username else None

    @property
    def password(self) -> str | None:
        """The password, percent-decoded (None when absent)."""
        return urllib.parse.unquote(self.parts.password) if self.parts.password else None


class Backend:
    """Defaults for any fsspec filesystem: listing mtime, header time when exact, plain PUT.

    ``conditional_create``: ``write(if_absent=True)`` is atomic against other writers.
    ``exact_listing_times``: listings carry the creation time timestamp restores use.
    ``own_retries``: the filesystem retries inside its calls; the store then tries once.
    ``read_around``: a page miss also fetches the frames within this many bytes of it in
    the same request (latency dominates remote reads; 0 where reads are local).
    ``concurrent_calls``: False where one filesystem object must not be used by two
    threads at once (paramiko's SFTP client); the store then serialises its calls.
    ``delete_batch``: how many files ``delete_many`` removes in one request (0: one
    request per file).
    ``writes_temps``: writes go through temp names (``upload_temp``, ``temp_name``), so an
    interrupted one can leave a file for compaction to sweep; elsewhere nothing to list.
    """

    conditional_create = False
    exact_listing_times = False
    own_retries = False  # the filesystem retries inside and cannot be told not to
    concurrent_calls = True  # the filesystem object may be called from several threads
    read_around = 64 << 10  # bytes of neighbouring frames a page miss fetches with it
    delete_batch = 0
    writes_temps = False

    def __init__(self, fs: Any, url: str, root: str = "") -> None:
        self.fs = fs
        self.url = url
        self.root = root

    def bound(self, seconds: float) -> Any:
        """The filesystem to call, its calls bounded to ``seconds`` where the filesystem
        retries inside them (``own_retries``); this one as it is by default."""
        return self.fs

    def inside_root(self, path: str) -> bool:
        """False for a listed path that really lives outside the root (a symlinked folder)."""
        return True

    def open_local(self, path: str, buffer: int) -> BinaryIO | None:
        """A plain file object when the file is local (read directly, no ranged reads)."""
        return None

    def local_path(self, path: str) -> str | None:
        """The file's path on this machine, which another process may open; None where
        the filesystem is not local."""
        return None

    def listed_time(self, entry: Mapping[str, Any]) -> dt.datetime | None:
        """Creation time from one listing entry, or None."""
        for key in ("mtime", "LastModified", "modified", "last_modified", "updated", "created"):
            got = as_datetime(entry.get(key))
            if got is not None:
                return got
        return None

    def listed_ns(self, path: str, entry: Mapping[str, Any]) -> int | None:
        """Exact creation time in nanoseconds where the backend keeps them (else None)."""
        return None

    def exact_time(self, path: str) -> dt.datetime | None:
        """The creation time timestamp restores use: here the LTX header's (one ranged read)."""
        raw = self.fs.cat_file(path, start=0, end=HEADER_SIZE)
        try:
            return ms_to_datetime(Header.from_bytes(raw, validate=False).timestamp)
        except FormatError as exc:
            raise exc.at(path) from None

    def upload_temp(self, path: str, data: Payload) -> str:
        """Upload ``data`` beside ``path`` under a temp name (``*.ltx.tmp-<hex>``, which
        compaction sweeps when stale); return that name, for a rename into place."""
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        tmp = temp_name(path)
        if isinstance(data, str):
            self.fs.put_file(data, tmp)
        else:
            self.fs.pipe_file(tmp, data)
        return tmp

    def delete_many(self, paths: list[str]) -> None:
        """Delete up to ``delete_batch`` files in one request; one gone already is fine."""
        raise NotImplementedError

    def write(self, path: str, data: Payload, timestamp_ms: int, if_absent: bool) -> None:
        """Upload one whole file (not atomic against racing writers: see conditional_create)."""
        if if_absent and self.fs.exists(path):
            raise ConflictError(f"{path} already exists", url=self.url)
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        if isinstance(data, str):
            self.fs.put_file(data, path)
        else:
            self.fs.pipe_file(path, data)


def _generic_parse(u: UrlParts) -> tuple[str, dict[str, Any]]:
    return (u.parts.netloc + u.parts.path).rstrip("/"), {}


def _no_configure(fs: Any) -> None:
    return None


@attrs.frozen
class SchemeSpec:
    """One storage scheme: URL schemes, fsspec protocol, layout, URL parser and backend.

    ``parse`` maps the URL to (root path inside the filesystem, fsspec options);
    ``params`` lists the query parameters it understands (others are refused);
    ``configure`` turns off the filesystem's own retries (we retry in one layer);
    ``extra`` names the pip extra that brings the filesystem package.
    """

    schemes: tuple[str, ...]
    protocol: str
    backend: type[Backend] = Backend
    layout: Layout = DECIMAL
    parse: Callable[[UrlParts], tuple[str, dict[str, Any]]] = _generic_parse
    params: frozenset[str] = frozenset()
    configure: Callable[[Any], None] = _no_configure
    extra: str | None = None
    tested: str = ""

    @property
    def conditional_create(self) -> bool:
        """True when create-if-absent is atomic on this scheme."""
        return self.backend.conditional_create


class Deadline:
    """An async fsspec filesystem whose blocking calls pass ``timeout=seconds`` (fsspec's
    ``sync`` cancels the coroutine then and raises FSTimeoutError, a TimeoutError)."""

    def __init__(self, fs: Any, seconds: float) -> None:
        self._fs = fs
        self._seconds = seconds

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._fs, name)
        if callable(attr) and inspect.iscoroutinefunction(getattr(self._fs, "_" + name, None)):
            return functools.partial(attr, timeout=self._seconds)
        return attr
