"""A Litestream replica on any fsspec filesystem: LTX levels in its scheme's layout.

The objects under the root (retries, parallel calls, reads, deletes) are
``ObjectStore``'s; this class adds what the LTX levels need: where each level lives
(the ``Layout``), listing levels and files, and writing whole LTX files atomically.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from ltx.codec import SNAPSHOT_LEVEL, FileInfo, parse_filename
from ltx.errors import FormatError
from ltx.storage import _survey
from ltx.storage._backend import SchemeSpec, is_temp_name
from ltx.storage._layout import Layout
from ltx.storage._objects import ListedFile, ObjectStore
from ltx.storage._retry import RetryPolicy, classify
from ltx.times import EPOCH, ms_to_datetime

__all__ = ["ListedFile", "Store"]


class Store(ObjectStore):
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
        super().__init__(fs, root, spec=spec, url=url, retry=retry, max_concurrency=max_concurrency)
        self.layout = layout or spec.layout
        self.skipped: list[str] = []  # listed entries refused (e.g. outside the root)
        self.root_names: list[str] | None = None  # names under the root, as last listed

    def __repr__(self) -> str:
        return f"<Store {self.url} layout={self.layout.name}>"

    # -- paths ----------------------------------------------------------------------

    def level_path(self, level: int) -> str:
        """Full path of a level's folder."""
        return self._join(self.layout.level_dir(level))

    def file_path(self, level: int, min_txid: int, max_txid: int) -> str:
        """Full path of one LTX file."""
        return self._join(self.layout.file_path(level, min_txid, max_txid))

    # -- listing --------------------------------------------------------------------

    def levels(self) -> list[int]:
        """Levels that have a folder (one listing of the root, two where they sit lower).

        The root's names are kept in ``root_names`` (e.g. ``generations`` of Litestream 0.3).
        """
        names = self._names(self.root)
        self.root_names = sorted(names)
        parent = self.layout.parent
        if parent:
            names = self._names(self._join(parent)) if parent in names else []
        found = {self.layout.parse_level_dir(n) for n in names}
        return sorted(lv for lv in found if lv is not None)

    def replica_roots(self) -> list[str]:
        """Paths (relative to the root) of the LTX replicas below it ('' is the root)."""
        return _survey.replica_roots(self, self.layout)

    def explain_empty(self) -> str:
        """Why no replica was found: what was looked for, where, and what is there."""
        return _survey.explain_empty(self, self.layout)

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

    def files_in(self, listed: Iterable[ListedFile]) -> list[FileInfo]:
        """The LTX files of this root among ``listed`` (a listing made elsewhere, e.g. one
        recursive walk of a parent prefix), as ``list_files`` would give them; no request."""
        out = []
        for lf in listed:
            level = self.layout.parse_level_dir(posixpath.basename(posixpath.dirname(lf.path)))
            if level is None:
                continue
            entry = {"name": lf.path, "size": lf.size, "type": "file"}
            info = self._entry_info(level, self.level_path(level), entry)
            if info is not None:
                out.append(attrs.evolve(info, created_at=lf.created_at))
        return sorted(out, key=lambda f: (f.level, f.sort_key))

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
        if self.recent is not None and isinstance(payload, bytes):
            self.recent.put(path, payload)
        return info

    def remove_stale_temps(self, before: dt.datetime) -> list[str]:
        """Delete temp files of interrupted writes (``*.ltx.tmp-<hex>``) made before ``before``
        in every level folder; return their paths. Nothing is listed where writes make no
        temp files (object stores: one conditional PUT)."""
        if not self.backend.writes_temps:
            return []
        stale = []
        for level in self.levels():
            for entry in self._ls(self.level_path(level)):
                name = str(entry.get("name", ""))
                if not is_temp_name(name):
                    continue
                made = self.backend.listed_time(entry)
                if made is not None and made < before:
                    stale.append(name)
        self.delete(stale)
        return stale
