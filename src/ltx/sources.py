"""Replica kinds: the ``Source`` protocol, the LTX source, and the one chooser.

A replica root holds LTX files (Litestream 0.5), Litestream 0.3 objects
(``generations/``), or both (a 0.3 backup that 0.5 has written to since). Each kind is
a ``Source``: ``LTXSource`` here, ``LegacySource`` and ``MixedSource`` in
``ltx.legacy``. ``choose_source`` is the only place that tells the kinds apart;
``ltx.Replica`` calls it once per listing and delegates to what it returns.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal, NoReturn, Protocol, TypeVar

import attrs

from ltx.codec import FileInfo, with_file
from ltx.errors import NotFoundError, UsageError
from ltx.legacy import LegacyObject, LegacySource, MixedSource
from ltx.resolve import (
    PageCache,
    PageMap,
    PageReader,
    Plan,
    RestorePoint,
    Targets,
    restorable_points,
)
from ltx.restore import restore_file
from ltx.storage import Store

__all__ = ["Kind", "LTXSource", "Source", "choose_source"]

Kind = Literal["ltx", "0.3", "mixed"]
M = TypeVar("M")
_REPLANS = 3  # how often a read re-plans when compaction deletes files under it


class Source(Protocol[M]):
    """One replica kind, as ``Replica``, ``View``, diffs and the change feed read it.

    ``M`` is the kind's page map: a value naming one point (``txid``, ``timestamp``,
    ``page_size``, ``commit`` and the ``kind`` of source that reads it).
    """

    @property
    def kind(self) -> Kind:
        """Which kind this is: "ltx", "0.3" or "mixed"."""
        ...

    @property
    def follow(self) -> float | None:
        """Seconds between re-listings for a View that follows the latest point."""
        ...

    def refresh(self) -> object:
        """List the root again (new files in, deleted ones out)."""
        ...

    def history(self) -> Sequence[RestorePoint]:
        """Every point this kind can rebuild exactly, oldest first."""
        ...

    def time_bounds(self) -> tuple[dt.datetime, dt.datetime] | None:
        """The earliest and latest time a timestamp restore accepts (None when empty)."""
        ...

    def page_map(
        self,
        txid: int | None = None,
        *,
        timestamp: dt.datetime | None = None,
        refresh: bool = False,
    ) -> M:
        """The page map of a TXID, a time, or (neither) the latest point."""
        ...

    def read_page(self, page_map: M, pgno: int) -> bytes:
        """Page ``pgno`` of a page map this source made."""
        ...

    def restore(
        self,
        page_map: M,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> object:
        """Write the database of ``page_map`` to ``path``, as Litestream restores it."""
        ...

    def legacy_objects(self) -> Sequence[LegacyObject]:
        """The 0.3 objects under ``generations/`` (none for an LTX root)."""
        ...


class LTXSource:
    """The LTX files of a root: listing, plans, page maps, pages and restores.

    ``on_listed`` hears of every fresh listing (``Replica`` keeps its write position
    with it).
    """

    kind: ClassVar[Literal["ltx"]] = "ltx"

    def __init__(
        self,
        store: Store,
        *,
        cache: PageCache | None = None,
        follow: float | None = None,
        on_listed: Callable[[list[FileInfo]], None] | None = None,
    ) -> None:
        self.store = store
        self.cache = cache or PageCache()
        self.follow = follow
        self.reader = PageReader(store, self.cache)
        self._on_listed = on_listed
        self._lock = threading.Lock()
        self._files: list[FileInfo] | None = None
        self._exact: list[FileInfo] | None = None
        self._targets: Targets | None = None
        self._stamped: dict[str, dt.datetime] = {}  # our writes: path -> header time

    def __repr__(self) -> str:
        return f"<LTXSource {self.store.url}>"

    # -- listing ------------------------------------------------------------------

    def refresh(self) -> list[FileInfo]:
        """List the LTX files again (picks up new files, forgets deleted ones)."""
        return self.adopt(self.reader.list_files())

    def adopt(self, files: list[FileInfo]) -> list[FileInfo]:
        """Keep ``files`` as the listing, as ``refresh`` keeps its own (for a listing made
        elsewhere, e.g. a fleet's one walk of a prefix: no request here)."""
        with self._lock:
            self._files, self._exact, self._targets = files, None, None
        self.reader.forget({f.path for f in files})
        if self._on_listed is not None:
            self._on_listed(files)
        return files

    def files(self, *, exact_times: bool = False) -> list[FileInfo]:
        """Every LTX file, by level then TXID (listed once, then kept until ``refresh``);
        ``exact_times``: with the creation times timestamp restores use."""
        files = self._files if self._files is not None else self.refresh()
        if not exact_times:
            return files
        if self._exact is None:
            self._exact = self._exact_times(files)
        return self._exact

    def _exact_times(self, files: list[FileInfo]) -> list[FileInfo]:
        """``files`` with restore's times: files this object wrote carry their header time
        already; the store asks for the others (S3: one HEAD each) where the listing lacks it."""
        known = {} if self.store.backend.exact_listing_times else self._stamped
        ask = [f for f in files if f.path not in known]
        got = {f.path: f for f in self.store.exact_times(ask)} if ask else {}
        return [
            got[f.path] if f.path in got else attrs.evolve(f, created_at=known[f.path])
            for f in files
        ]

    def add(self, written: FileInfo) -> None:
        """Put a file we wrote into the kept listing (no new LIST); plans start over."""
        with self._lock:
            self._stamped[written.path] = written.created_at
            self._files = None if self._files is None else with_file(self._files, written)
            self._exact = None if self._exact is None else with_file(self._exact, written)
            self._targets = None

    def history(self) -> list[RestorePoint]:
        """Every TXID this replica can rebuild exactly, with when its last file was made
        as time targets compare it (exact times: on S3 one HEAD per file not written here)."""
        return restorable_points(self.files(exact_times=True))

    def time_bounds(self) -> tuple[dt.datetime, dt.datetime] | None:
        """The earliest and latest creation time of the listed files."""
        times = [f.created_at for f in self.files()]
        return (min(times), max(times)) if times else None

    def legacy_objects(self) -> list[LegacyObject]:
        """None: an LTX root has no 0.3 objects."""
        return []

    # -- planning and reading -----------------------------------------------------

    def plan(self, txid: int | None = None, timestamp: dt.datetime | None = None) -> Plan:
        """The files Litestream's restore would use for this target (kept per listing)."""
        if txid is not None and timestamp is not None:
            raise UsageError("give a txid or a timestamp, not both")
        targets = self._targets
        if targets is None:
            targets = Targets(self.files(), lambda: self.files(exact_times=True))
            self._targets = targets
        return targets.plan(txid, timestamp)

    def page_map(
        self,
        txid: int | None = None,
        *,
        timestamp: dt.datetime | None = None,
        refresh: bool = False,
    ) -> PageMap:
        """The page map of a target (kept per plan); re-plans when compaction deletes
        files meanwhile."""
        for attempt in range(_REPLANS):
            if refresh or attempt:
                self.refresh()
            try:
                return self.reader.page_map(self.plan(txid, timestamp))
            except NotFoundError:
                if attempt == _REPLANS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def read_page(self, page_map: PageMap, pgno: int) -> bytes:
        """Page ``pgno`` of a page map (cached, or one ranged read)."""
        if getattr(page_map, "kind", None) != "ltx":  # inline: on every page read
            _foreign(page_map)
        return self.reader.read_page(page_map, pgno)

    def read_pages(self, page_map: PageMap, pgnos: Sequence[int]) -> list[bytes]:
        """Many pages of a page map, adjacent frames read together (see PageReader)."""
        if getattr(page_map, "kind", None) != "ltx":
            _foreign(page_map)
        return self.reader.read_pages(page_map, pgnos)

    def restore(
        self,
        page_map: PageMap,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Stream the files of ``page_map`` through the verifying decoder into ``path``."""
        if getattr(page_map, "kind", None) != "ltx":
            _foreign(page_map)
        restore_file(
            self.store,
            page_map,
            path,
            overwrite=overwrite,
            progress=progress,
            file_index=self.reader.file_index,
        )


def _foreign(page_map: object) -> NoReturn:
    raise UsageError(f"a page map of another replica: {page_map!r}")


def choose_source(
    ltx: LTXSource,
    *,
    legacy: bool = True,
    age_identity: str | Sequence[str] | None = None,
) -> Source[Any]:
    """The kind of ``ltx``'s root, as Litestream 0.5.17 reads it: the LTX files alone;
    0.3 (``generations/`` and no LTX file, read as 0.3.13 restores); or mixed (both, each
    target from the half 0.5.17 would use). ``legacy=False`` ignores ``generations/``."""
    files = ltx.files()  # also lists the root's names
    if not legacy or "generations" not in (ltx.store.root_names or ()):
        return ltx
    rules: Literal["0.3.13", "0.5.17"] = "0.5.17" if files else "0.3.13"
    old = LegacySource(ltx.store, cache=ltx.cache, age_identity=age_identity, rules=rules)
    return MixedSource(old, ltx) if files else old
