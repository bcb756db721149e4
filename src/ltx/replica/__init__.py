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
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ltx.changes import Diff, Point, TxChanges
from ltx.changes import changes as change_feed
from ltx.changes import diff as diff_points
from ltx.codec import FileInfo, Header, check_txid
from ltx.errors import FormatError, NotFoundError, UsageError
from ltx.replica._write import TimeLike, Writing
from ltx.resolve import PageCache, Plan, RestorePoint
from ltx.sources import Kind, LTXSource, Source, choose_source
from ltx.storage import RetryPolicy, Store, open_store, reject_misspelled
from ltx.times import UTC, parse_time, rfc3339_ns
from ltx.verify import Report, verify_replica
from ltx.view import PageMapLike, View
from ltx.writer import Writer

__all__ = ["open", "Replica", "View", "TimeLike"]


def open(
    url: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    cache_bytes: int = 64 << 20,
    max_concurrency: int = 16,
    follow: float | None = None,
    env: Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
    age_identity: str | Sequence[str] | None = None,
    verify_files: bool = False,
    **storage_options: Any,
) -> Replica:
    """Open the replica at ``url`` (any URL Litestream accepts, or any fsspec URL).

    ``storage_options`` go to the filesystem and win over the URL and the environment
    (``LITESTREAM_*``, then ``AWS_*``). ``cache_dir`` keeps pages, page indexes and the
    last listing on disk so a reader that goes offline keeps serving what it has seen.
    ``follow`` (seconds) makes views opened at the latest point move forward on access.
    ``retry`` sets attempts, backoff, a total deadline and a retry callback.
    ``age_identity`` decrypts Litestream 0.3 replicas encrypted with age (default: the
    file named by ``LITESTREAM_AGE_IDENTITY_FILE``).
    ``verify_files`` checks each LTX file's whole checksum before serving any page of
    it (one whole-file GET per file on first use; see docs/verify.md).
    """
    reject_misspelled(storage_options, _OPEN_KEYWORDS, "ltx.open")
    env = os.environ if env is None else env
    if age_identity is None and env.get("LITESTREAM_AGE_IDENTITY_FILE"):
        age_identity = Path(env["LITESTREAM_AGE_IDENTITY_FILE"]).read_text()
    store = open_store(
        url,
        env=env,
        retry=retry,
        max_concurrency=max_concurrency,
        **storage_options,
    )
    cache = PageCache(cache_bytes, cache_dir)
    return Replica(
        store, cache=cache, follow=follow, age_identity=age_identity, verify_files=verify_files
    )


_OPEN_KEYWORDS = (
    "cache_dir", "cache_bytes", "max_concurrency", "follow", "env", "retry", "age_identity"
)  # fmt: skip


def _now() -> dt.datetime:
    return dt.datetime.now(UTC)


def _txid(value: object) -> int | None:
    return None if value is None else check_txid(value)


class Replica(Writing):
    """A Litestream replica: list files, read pages at any TXID or time, restore, write.

    Reading goes through the root's ``Source`` (LTX, 0.3 or mixed; see ``ltx.sources``),
    chosen once per listing; writing and compaction act on the LTX files.
    """

    def __init__(
        self,
        store: Store,
        *,
        cache: PageCache | None = None,
        follow: float | None = None,
        clock: Callable[[], dt.datetime] = _now,
        age_identity: str | Sequence[str] | None = None,
        legacy: bool = True,
        verify_files: bool = False,
    ) -> None:
        self.store = store
        self.age_identity = age_identity
        self._legacy_enabled = legacy
        self.cache = cache or PageCache()
        self.clock = clock
        self._ltx = LTXSource(store, cache=self.cache, follow=follow, on_listed=self._listed)
        self.reader = self._ltx.reader
        self.reader.verify_files = verify_files
        self.writer = Writer(store, list_files=self.refresh, header_of=self._header_of)
        self._lock = threading.Lock()
        self._source: Source[Any] | None = None

    def __repr__(self) -> str:
        return f"<Replica {self.store.url}>"

    @property
    def follow(self) -> float | None:
        """Seconds between re-listings for a View opened at the latest point (None: fixed)."""
        return self._ltx.follow

    @follow.setter
    def follow(self, seconds: float | None) -> None:
        self._ltx.follow = seconds

    @property
    def position(self) -> int | None:
        """The max TXID this object has seen or written (None before the first listing)."""
        return self.writer.position

    # -- listing ------------------------------------------------------------------

    def refresh(self) -> list[FileInfo]:
        """List the replica again (picks up new files, forgets deleted ones)."""
        with self._lock:
            self._source = None
        return self._ltx.refresh()

    def adopt(self, files: list[FileInfo]) -> list[FileInfo]:
        """Take ``files`` (this root's LTX files as a listing made elsewhere saw them, e.g.
        ``store.files_in`` of a prefix walk) as the listing, instead of listing again."""
        with self._lock:
            self._source = None
        return self._ltx.adopt(files)

    def _listed(self, files: list[FileInfo]) -> None:
        self.writer.position = max((f.max_txid for f in files), default=0)

    def files(self, *, exact_times: bool = False) -> list[FileInfo]:
        """Every LTX file, by level then TXID (listed once, then cached until ``refresh``).

        ``exact_times`` gives the creation times timestamp restores use (S3: one HEAD per
        object; WebDAV: the header timestamp).
        """
        return self._ltx.files(exact_times=exact_times)

    @property
    def source(self) -> Source[Any]:
        """What this root holds, read as Litestream reads it: an ``LTXSource``, a
        ``LegacySource`` (0.3) or a ``MixedSource`` (both); chosen once per listing."""
        got = self._source
        if got is None:
            got = choose_source(
                self._ltx, legacy=self._legacy_enabled, age_identity=self.age_identity
            )
            with self._lock:
                self._source = got
        return got

    def _found(self) -> Source[Any]:
        """The source, or NotFoundError saying what was looked for when nothing is there."""
        src = self.source
        if src.kind == "ltx" and not self.files():
            raise NotFoundError(self.store.explain_empty())
        return src

    @property
    def kind(self) -> Kind:
        """What the root holds: "ltx", "0.3" (``generations/`` only) or "mixed" (both)."""
        return self.source.kind

    def legacy(self) -> Source[Any] | None:
        """The source when this root holds Litestream 0.3 objects (``generations/``): a
        LegacySource, or a MixedSource when LTX files exist too; None otherwise."""
        src = self.source
        return None if src.kind == "ltx" else src

    def history(self) -> list[RestorePoint]:
        """Every TXID this replica can rebuild exactly, with when its last file was made
        (on a 0.3 or mixed root, its 0.3 points too, as ``LegacyRestorePoint``)."""
        return list(self._found().history())

    def time_bounds(self) -> tuple[dt.datetime, dt.datetime] | None:
        """The earliest and latest time a timestamp target may name (None when empty)."""
        return self.source.time_bounds()

    # -- planning -----------------------------------------------------------------

    def _target(self, timestamp: TimeLike | None) -> dt.datetime | None:
        # ``now`` names the latest point (docs/concepts.md), not a time to bound-check.
        if timestamp is None or (isinstance(timestamp, str) and timestamp.strip() == "now"):
            return None
        return parse_time(timestamp, now=self.clock())

    def plan(self, txid: int | None = None, *, timestamp: TimeLike | None = None) -> Plan:
        """The LTX files Litestream's restore would use for this target (kept per listing)."""
        if txid is not None and timestamp is not None:
            raise UsageError("give a txid or a timestamp, not both")
        self._found()
        return self._ltx.plan(_txid(txid), self._target(timestamp))

    def page_map(
        self,
        txid: int | None = None,
        *,
        timestamp: TimeLike | None = None,
        refresh: bool = False,
    ) -> PageMapLike:
        """The page map of a target (kept per plan); re-plans when compaction deletes
        files meanwhile. On a 0.3 or mixed root, from the half Litestream would read."""
        if refresh:
            self.refresh()
        src = self._found()
        # A 0.3 root compares nanosecond object times: RFC 3339 text keeps every digit.
        ns = rfc3339_ns(timestamp) if src.kind == "0.3" else None
        when = self._target(timestamp) if ns is None else ns
        pm: PageMapLike = src.page_map(_txid(txid), timestamp=when)  # type: ignore[arg-type]
        return pm

    def _header_of(self, f: FileInfo) -> Header:
        header = self.reader.file_index(f).header
        if header is None:  # pragma: no cover - file_index always reads the header
            raise FormatError("file index without a header", path=f.path)
        return header

    # -- reading ------------------------------------------------------------------

    def read_page(self, page_map: PageMapLike, pgno: int) -> bytes:
        """Page ``pgno`` of a page map (cached, or one ranged read)."""
        return self.source.read_page(page_map, pgno)

    def read_pages(self, page_map: PageMapLike, pgnos: Sequence[int]) -> list[bytes]:
        """Pages ``pgnos`` of a page map, in order; on LTX roots runs of adjacent frames
        come in one ranged read each (a diff compares thousands of pages this way)."""
        batch = getattr(self.source, "read_pages", None)
        if batch is None:
            return [self.source.read_page(page_map, p) for p in pgnos]
        return list(batch(page_map, pgnos))

    def view(self, txid: int | None = None, *, timestamp: TimeLike | None = None) -> View:
        """A View of the database at ``txid`` or ``timestamp`` (latest if neither): pages
        read on demand, nothing written (``write_snapshot`` writes a level-9 file)."""
        pm = self.page_map(txid, timestamp=timestamp)
        latest = txid is None and timestamp is None
        return View(self, pm, following=latest and self.follow is not None)

    def snapshot(self, txid: int | None = None, *, timestamp: TimeLike | None = None) -> View:
        """Deprecated name of ``view`` (a View, not a level-9 snapshot)."""
        warnings.warn(
            "Replica.snapshot() is now Replica.view(); snapshot() goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.view(txid, timestamp=timestamp)

    def page_at(
        self, pgno: int, txid: int | None = None, *, timestamp: TimeLike | None = None
    ) -> bytes:
        """Page ``pgno`` as of ``txid`` or ``timestamp`` (latest when neither is given)."""
        pm = self.page_map(txid, timestamp=timestamp)
        try:
            return self.read_page(pm, pgno)
        except NotFoundError:
            return self.read_page(self.page_map(pm.txid, refresh=True), pgno)

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
        view = self.view(txid, timestamp=timestamp)
        self.source.restore(view.page_map, path, overwrite=overwrite, progress=progress)
        return view

    def verify(
        self, *, deep: bool = False, progress: Callable[[int, int], None] | None = None
    ) -> Report:
        """Is this backup really restorable? Every file read once, in parallel, and checked
        (see ``ltx.verify``); ``deep`` also rebuilds the latest point and each snapshot and
        runs SQLite's integrity and foreign-key checks on them."""
        return verify_replica(self, deep=deep, progress=progress)

    # -- changes ------------------------------------------------------------------

    def diff(self, a: Point, b: Point, *, workers: int = 8, memo_bytes: int = 512 << 20) -> Diff:
        """What changed from point ``a`` to point ``b`` (TXIDs, Views or page maps; TXID 0
        is the empty database): ``.pages``, ``.rows(tables)``, ``.schema()``."""
        return diff_points(self, a, b, workers=workers, memo_bytes=memo_bytes)

    def changes(self, since: int | None = None, **options: Any) -> Iterator[TxChanges]:
        """One ``TxChanges`` per restorable point after ``since`` (from the empty database
        when None). Options of ``ltx.changes.changes``: ``follow``, ``poll``, ``tables``,
        ``stop``, ``max_idle``; resuming from the last TXID yielded loses nothing."""
        return change_feed(self, since, **options)
