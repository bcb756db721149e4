"""The face users touch: ``ltx.open(url)`` -> Replica; pages and restores at any point in time.

A thin face: it lists, plans, opens views and delegates reading to
``resolve.PageReader``, restoring to ``ltx.restore``, writing to ``ltx.writer`` and
compaction to ``ltx.compaction``. It holds no byte formats and no file I/O of its own.
This is the only layer that reads the process environment (Litestream's variables).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ltx.codec import SNAPSHOT_LEVEL, FileInfo, Header, decode_listing, encode_listing
from ltx.compaction import LevelsConfig, Step, plan_compaction, run_steps
from ltx.errors import FormatError, NotFoundError, StorageError, UsageError
from ltx.resolve import (
    PageCache,
    PageMap,
    PageReader,
    Plan,
    RestorePoint,
    plan_restore,
    restorable_points,
)
from ltx.restore import restore_file
from ltx.storage import RetryPolicy, Store, open_store
from ltx.times import UTC, parse_time
from ltx.verify import Problem, Report, verify_files
from ltx.view import View
from ltx.writer import Pages, Writer

__all__ = ["open", "Replica", "View", "TimeLike"]

TimeLike = dt.datetime | str | int | float
_REPLANS = 3  # how often a read re-plans when compaction deletes files under it


def open(
    url: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    cache_bytes: int = 64 << 20,
    max_concurrency: int = 16,
    follow: float | None = None,
    env: Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
    **storage_options: Any,
) -> Replica:
    """Open the replica at ``url`` (any URL Litestream accepts, or any fsspec URL).

    ``storage_options`` go to the filesystem and win over the URL and the environment
    (``LITESTREAM_*``, then ``AWS_*``). ``cache_dir`` keeps pages, page indexes and the
    last listing on disk so a reader that goes offline keeps serving what it has seen.
    ``follow`` (seconds) makes views opened at the latest point move forward on access.
    ``retry`` sets attempts, backoff, a total deadline and a retry callback.
    """
    store = open_store(
        url,
        env=os.environ if env is None else env,
        retry=retry,
        max_concurrency=max_concurrency,
        **storage_options,
    )
    return Replica(store, cache=PageCache(cache_bytes, cache_dir), follow=follow)


def _now() -> dt.datetime:
    return dt.datetime.now(UTC)


class Replica:
    """A Litestream replica: list files, read pages at any TXID or time, restore, write."""

    def __init__(
        self,
        store: Store,
        *,
        cache: PageCache | None = None,
        follow: float | None = None,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.store = store
        self.cache = cache or PageCache()
        self.follow = follow
        self.clock = clock
        self.reader = PageReader(store, self.cache)
        self.writer = Writer(store, list_files=self.refresh, header_of=self._header_of)
        self._lock = threading.Lock()
        self._files: list[FileInfo] | None = None
        self._exact: list[FileInfo] | None = None
        self._plans: dict[tuple[int | None, dt.datetime | None], Plan] = {}
        self._maps: dict[tuple[int | None, TimeLike | None], PageMap] = {}

    def __repr__(self) -> str:
        return f"<Replica {self.store.url}>"

    @property
    def position(self) -> int | None:
        """The max TXID this object has seen or written (None before the first listing)."""
        return self.writer.position

    # -- listing ------------------------------------------------------------------

    def _listing_key(self) -> str:
        return PageCache.key(self.store.url, "listing")

    def refresh(self) -> list[FileInfo]:
        """List the replica again (picks up new files, forgets deleted ones)."""
        try:
            files = self.store.list_files()
        except StorageError as exc:
            cached = None
            if not isinstance(exc, NotFoundError) and self.cache.cache_dir is not None:
                cached = self.cache.get(self._listing_key())
            if cached is None:
                raise
            files = decode_listing(cached)
        else:
            if self.cache.cache_dir is not None:
                self.cache.put(self._listing_key(), encode_listing(files))
        with self._lock:
            self._files, self._exact, self._plans, self._maps = files, None, {}, {}
        self.reader.forget({f.path for f in files})
        self.writer.position = max((f.max_txid for f in files), default=0)
        return files

    def files(self, *, exact_times: bool = False) -> list[FileInfo]:
        """Every LTX file, by level then TXID (listed once, then cached until ``refresh``).

        ``exact_times`` gives the creation times timestamp restores use (S3: one HEAD per
        object; WebDAV: the header timestamp).
        """
        files = self._files if self._files is not None else self.refresh()
        if not exact_times:
            return files
        if self._exact is None:
            self._exact = self.store.exact_times(files)
        return self._exact

    def explain_empty(self) -> str:
        """Why no LTX file was found: what was looked for, where, and what is there."""
        store = self.store
        levels = "ltx/0..ltx/9" if store.layout.name == "decimal" else "0000..0009"
        where = store.root or "/"
        try:
            found = store.root_entries()
        except StorageError as exc:
            return f"no replica at {store.url}: cannot list {where}: {exc}"
        hint = ""
        if where.rstrip("/").endswith((".db", ".sqlite", ".sqlite3")) or store.is_file(where):
            hint = " (the URL names a file: give the replica folder, not the database)"
        seen = ", ".join(found[:8]) + (" ..." if len(found) > 8 else "") if found else "nothing"
        return (
            f"no replica at {store.url}: looked for {levels} and generations/ under {where}, "
            f"found {seen}{hint}"
        )

    def history(self) -> list[RestorePoint]:
        """Every TXID this replica can rebuild exactly, with when its last file was made."""
        return restorable_points(self.files())

    # -- planning -----------------------------------------------------------------

    def _target(self, timestamp: TimeLike | None) -> dt.datetime | None:
        return None if timestamp is None else parse_time(timestamp, now=self.clock())

    def plan(self, txid: int | None = None, *, timestamp: TimeLike | None = None) -> Plan:
        """The files Litestream's restore would use for this target (kept per listing)."""
        if txid is not None and timestamp is not None:
            raise UsageError("give a txid or a timestamp, not both")
        when = self._target(timestamp)
        key = (txid, when)
        got = self._plans.get(key)
        if got is not None:
            return got
        listed = self.files()
        if when is None or not listed:
            plan = plan_restore(listed, txid=txid, timestamp=when)
        else:
            bounds = (min(f.created_at for f in listed), max(f.created_at for f in listed))
            exact = self.files(exact_times=True)
            plan = plan_restore(exact, timestamp=when, time_bounds=bounds)
        if len(self._plans) >= 256:  # relative times make new keys: keep this bounded
            self._plans.clear()
        self._plans[key] = plan
        return plan

    def page_map(
        self,
        txid: int | None = None,
        *,
        timestamp: TimeLike | None = None,
        refresh: bool = False,
    ) -> PageMap:
        """The page map of a target (kept per listing); re-plans when compaction deletes
        files meanwhile."""
        key = (txid, timestamp)
        if not refresh and not isinstance(timestamp, str):  # "5 minutes ago" moves on
            got = self._maps.get(key)
            if got is not None:
                return got
        for attempt in range(_REPLANS):
            if refresh or attempt:
                self.refresh()
            try:
                pm = self.reader.page_map(self.plan(txid, timestamp=timestamp))
            except NotFoundError:
                if attempt == _REPLANS - 1:
                    raise
                continue
            if len(self._maps) >= 64:
                self._maps.clear()
            self._maps[key] = pm
            return pm
        raise AssertionError("unreachable")  # pragma: no cover

    def _header_of(self, f: FileInfo) -> Header:
        header = self.reader.file_index(f).header
        if header is None:  # pragma: no cover - file_index always reads the header
            raise FormatError("file index without a header", path=f.path)
        return header

    # -- reading ------------------------------------------------------------------

    def read_page(self, page_map: PageMap, pgno: int) -> bytes:
        """Page ``pgno`` of a page map (cached, or one ranged read)."""
        return self.reader.read_page(page_map, pgno)

    def snapshot(self, txid: int | None = None, *, timestamp: TimeLike | None = None) -> View:
        """A View of the database at ``txid`` or ``timestamp`` (latest if neither)."""
        pm = self.page_map(txid, timestamp=timestamp)
        latest = txid is None and timestamp is None
        return View(self, pm, following=latest and self.follow is not None)

    def page_at(
        self, pgno: int, txid: int | None = None, *, timestamp: TimeLike | None = None
    ) -> bytes:
        """Page ``pgno`` as of ``txid`` or ``timestamp`` (latest when neither is given)."""
        pm = self.page_map(txid, timestamp=timestamp)
        try:
            return self.reader.read_page(pm, pgno)
        except NotFoundError:
            return self.reader.read_page(self.page_map(pm.txid, refresh=True), pgno)

    def restore(
        self,
        path: str | os.PathLike[str],
        txid: int | None = None,
        *,
        timestamp: TimeLike | None = None,
        overwrite: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> View:
        """Write the database at that point to ``path``, byte-identical to ``litestream restore``.

        Every page comes from a file read whole through the verifying decoder; the old
        ``-wal`` and ``-shm`` beside ``path`` are removed, as ``litestream restore -force``.
        """
        view = self.snapshot(txid, timestamp=timestamp)
        restore_file(self.store, view.page_map, path, overwrite=overwrite, progress=progress)
        return view

    def verify(
        self, *, deep: bool = False, progress: Callable[[int, int], None] | None = None
    ) -> Report:
        """Is this backup really restorable? Every file read once, in parallel, and checked
        (see ``ltx.verify``); ``deep`` also rebuilds the latest point and each snapshot and
        runs SQLite's integrity and foreign-key checks on them."""
        files = self.refresh()
        if not files:
            problem = Problem("empty", self.explain_empty())
            return Report(self.store.url, 0, 0, (problem,), deep=deep)

        def maps() -> list[PageMap]:
            snaps = [f.max_txid for f in files if f.level == SNAPSHOT_LEVEL]
            return [self.page_map(t) for t in dict.fromkeys([None, *snaps])]

        return verify_files(self.store, files, deep_maps=maps if deep else None, progress=progress)

    # -- writing ------------------------------------------------------------------

    def _stamp(self, timestamp: TimeLike | None) -> int:
        when = self._target(timestamp) or self.clock()
        return int(when.timestamp() * 1000)

    def append(
        self,
        pages: Pages,
        commit: int,
        timestamp: TimeLike | None = None,
        *,
        page_size: int | None = None,
    ) -> FileInfo:
        """Write the next level-0 file (TXID = position + 1) holding ``pages``.

        ``commit`` is the database size in pages after the transaction. Raises
        ConflictError, writing nothing, when another writer took that TXID (see
        ``Store.conditional_create`` for where that check is atomic).
        """
        info = self.writer.append(pages, commit, self._stamp(timestamp), page_size=page_size)
        self._forget_listing()
        return info

    def write_snapshot(
        self, source: str | os.PathLike[str] | View, *, timestamp: TimeLike | None = None
    ) -> FileInfo:
        """Write a level-9 snapshot from a SQLite file (at the replica's position) or a View."""
        info = self.writer.write_snapshot(source, self._stamp(timestamp))
        self._forget_listing()
        return info

    def _forget_listing(self) -> None:
        with self._lock:
            self._files, self._exact, self._plans, self._maps = None, None, {}, {}

    def compact(
        self,
        config: LevelsConfig | None = None,
        *,
        now: TimeLike | None = None,
        dry_run: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Step]:
        """Plan Litestream's compaction and retention at ``now`` and run it (unless dry_run)."""
        when = self._target(now) or self.clock()
        steps = plan_compaction(config or LevelsConfig.default(), self.refresh(), when)
        if not dry_run and steps:

            def snapshot_inputs(txid: int) -> Iterable[FileInfo]:
                self.refresh()
                return self.plan(txid).files

            run_steps(
                self.store,
                steps,
                snapshot_inputs=snapshot_inputs,
                now_ms=self._stamp(None),
                progress=progress,
            )
            self.refresh()
        return steps
