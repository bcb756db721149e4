"""A Litestream 0.3 replica (``generations/``) on any Store, read the way a View reads LTX.

``LegacySource`` lists ``generations/`` once (until ``refresh``), plans as 0.3.13's
``restore`` does (or as 0.5.17 does, for mixed replicas), builds page maps by replaying
the plan's WAL segments, and serves single pages lazily through the PageCache.

TXIDs: a 0.3 point is (generation, WAL index, segments applied). Its TXID packs the
first four hex digits of the generation's ID, the index and the count into 16 | 28 | 20
bits (``legacy_txid``): stable while the objects exist, and distinct across
generations (two generations sharing four hex digits make a TXID ambiguous: pass
``generation=``). Times come from the listing (file mtimes to the nanosecond, S3
upload times to the second), as 0.3.13 compares them.
"""

# 362 lines, a few over the house limit of ~350: the one clean seam (split_txid beside
# legacy_txid in _plan.py, itself at 350) would only move the excess there.

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar, Literal

import attrs

from ltx.codec import lock_pgno
from ltx.dbfile import database_output
from ltx.errors import PageNotFoundError, TxidNotAvailableError, UsageError
from ltx.resolve import PageCache, RestorePoint
from ltx.storage import Store

from ._apply import LegacyPages, build_legacy_pages, write_database
from ._lz4 import ObjectReader, open_reader
from ._names import LegacyObject, datetime_to_ns, ns_to_datetime
from ._opener import ObjectOpener, list_generations
from ._plan import (
    TXID_COUNT_BITS,
    TXID_INDEX_BITS,
    LegacyPlan,
    LegacyPoint,
    history,
    legacy_txid,
    plan_at,
    plan_for_position,
    plan_latest,
)
from ._plan05 import plan_v05, time_bounds_v05

__all__ = ["LegacyPageMap", "LegacyRestorePoint", "LegacySource", "legacy_txid", "split_txid"]

Rules = Literal["0.3.13", "0.5.17"]
_INDEX_BITS, _COUNT_BITS = TXID_INDEX_BITS, TXID_COUNT_BITS
_MAPS = 16


def split_txid(txid: int) -> tuple[int, int]:
    """(generation tag, position) of a 0.3 TXID (the inverse of ``legacy_txid``)."""
    index = (txid >> _COUNT_BITS) & ((1 << _INDEX_BITS) - 1)
    return txid >> 48, index << 32 | (txid & ((1 << _COUNT_BITS) - 1))


@attrs.frozen
class LegacyRestorePoint(RestorePoint):
    """A 0.3 point; ``created_at`` (to the microsecond) restores it, ``time_ns`` exactly."""

    generation: str
    position: int
    time_ns: int


@attrs.frozen(eq=False)
class LegacyPageMap:
    """The database of one 0.3 point: what a View reads (txid, timestamp, page size, commit)."""

    kind: ClassVar[Literal["0.3"]] = "0.3"
    txid: int
    timestamp: dt.datetime
    pages: LegacyPages

    @property
    def page_size(self) -> int:
        """Database page size in bytes."""
        return self.pages.page_size

    @property
    def commit(self) -> int:
        """Database size in pages."""
        return self.pages.page_count

    def same_source(self, other: object, pgno: int) -> bool:
        """Only the lock page (zeros in every SQLite file) is known to match: a 0.3 page
        map names objects, not frames, so any other page must be compared."""
        return pgno == lock_pgno(self.page_size)

    @property
    def plan(self) -> LegacyPlan:
        """The snapshot and segments behind it."""
        return self.pages.plan

    @property
    def generation(self) -> str:
        """The 0.3 generation it comes from."""
        return self.pages.plan.generation


class LegacySource:
    """A 0.3 replica on ``store``: history, page maps, lazy pages and restores.

    ``rules`` picks whose restore to match for times and "latest": "0.3.13" (a plain
    0.3 replica) or "0.5.17" (the 0.3 half of a replica 0.5 has written to since).
    ``age_identity``: X25519 secret keys (or an identity file's text) for replicas
    0.3.10+ encrypted with ``age``.
    """

    kind: ClassVar[Literal["0.3"]] = "0.3"

    def __init__(
        self,
        store: Store,
        *,
        cache: PageCache | None = None,
        age_identity: str | Sequence[str] | None = None,
        rules: Rules = "0.3.13",
    ) -> None:
        if rules not in ("0.3.13", "0.5.17"):
            raise UsageError(f"rules must be '0.3.13' or '0.5.17', not {rules!r}")
        self.store = store
        self.cache = cache or PageCache()
        self.rules = rules
        self.open_object = ObjectOpener(store, age_identity)
        self._listing: list[LegacyObject] | None = None
        self._points: list[LegacyPoint] | None = None
        self._maps: dict[tuple[str, int], LegacyPageMap] = {}
        self._readers: dict[str, ObjectReader] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<LegacySource {self.store.url} rules={self.rules}>"

    @property
    def follow(self) -> float | None:
        """0.3 replicas are not followed: a View on one stays where it was opened."""
        return None

    # -- listing ------------------------------------------------------------------

    def refresh(self) -> list[LegacyObject]:
        """List ``generations/`` again (new objects, retention's deletions)."""
        listing = list_generations(self.store)
        with self._lock:
            self._listing, self._points, self._maps, self._readers = listing, None, {}, {}
        return listing

    def listing(self) -> list[LegacyObject]:
        """Every 0.3 object (listed once, then kept until ``refresh``)."""
        got = self._listing
        return got if got is not None else self.refresh()

    def legacy_objects(self) -> list[LegacyObject]:
        """Every 0.3 object (the same as ``listing``)."""
        return self.listing()

    def points(self) -> list[LegacyPoint]:
        """Every restorable point of every generation, oldest first."""
        if self._points is None:
            self._points = history(self.listing())
        return self._points

    def history(self) -> list[LegacyRestorePoint]:
        """Every point as a RestorePoint (TXID as ``legacy_txid``), oldest first."""
        return [
            LegacyRestorePoint(
                legacy_txid(p.generation, p.position),
                ns_to_datetime(p.time_ns),
                p.generation,
                p.position,
                p.time_ns,
            )
            for p in self.points()
        ]

    def time_bounds_ns(self) -> tuple[int, int] | None:
        """Earliest and latest object time in ns, as the chosen ``rules`` count them."""
        listing = self.listing()
        if self.rules == "0.5.17":
            return time_bounds_v05(listing)
        times = [o.time_ns for o in listing]
        return (min(times), max(times)) if times else None

    def time_bounds(self) -> tuple[dt.datetime, dt.datetime] | None:
        """Earliest and latest object time (None for an empty replica)."""
        b = self.time_bounds_ns()
        return None if b is None else (ns_to_datetime(b[0]), ns_to_datetime(b[1]))

    # -- planning -----------------------------------------------------------------

    def _generation_of(self, txid: int) -> tuple[str, int]:
        tag, position = split_txid(txid)
        gens = sorted({p.generation for p in self.points() if p.position == position})
        mine = [g for g in gens if int(g[:4], 16) == tag]
        if len(mine) == 1:
            return mine[0], position
        if not mine:
            raise TxidNotAvailableError(f"0.3 TXID {txid:016x} names no point of this replica")
        raise UsageError(f"0.3 TXID {txid:016x} is in generations {', '.join(mine)}: pass one")

    def _check_bounds(self, when: dt.datetime | int) -> None:
        """0.5.17 refuses a time outside its time bounds ("timestamp does not exist")."""
        t = when if isinstance(when, int) else datetime_to_ns(when)
        b = self.time_bounds_ns()
        if b is None or not b[0] <= t <= b[1]:
            raise TxidNotAvailableError(
                "time is outside the 0.3 backup's time bounds (0.5.17: timestamp does not exist)"
            )

    def plan(
        self,
        txid: int | None = None,
        *,
        timestamp: dt.datetime | int | None = None,
        generation: str | None = None,
        check_bounds: bool = True,
    ) -> LegacyPlan:
        """The snapshot and segments that rebuild ``txid``, the state at ``timestamp`` (a
        datetime, or ns), or the latest, as the chosen ``rules`` choose them.

        ``check_bounds=False`` skips 0.5.17's time bounds check (``MixedSource`` checks
        the bounds of both halves together, as 0.5.17 does)."""
        if txid is not None and timestamp is not None:
            raise UsageError("give a txid or a timestamp, not both")
        listing = self.listing()
        if txid is not None:
            if generation is None:
                generation, position = self._generation_of(txid)
            else:
                position = split_txid(txid)[1]
            return plan_for_position(listing, generation, position)
        if timestamp is None:
            return plan_v05(listing, None) if self.rules == "0.5.17" else plan_latest(listing)
        if isinstance(timestamp, int):
            return self._plan_at(timestamp, check_bounds)
        if not isinstance(timestamp, dt.datetime):
            raise UsageError(f"a 0.3 restore time is a datetime or int ns, not {timestamp!r}")
        if timestamp.tzinfo is None:
            raise UsageError("timestamp must be timezone-aware")
        return self._plan_in_microsecond(datetime_to_ns(timestamp), check_bounds)

    def _plan_at(self, t: int, check_bounds: bool) -> LegacyPlan:
        if self.rules == "0.5.17":
            if check_bounds:
                self._check_bounds(t)
            return plan_v05(self.listing(), t)
        return plan_at(self.listing(), t)

    def _plan_in_microsecond(self, lo: int, check_bounds: bool) -> LegacyPlan:
        """A datetime names a whole microsecond; object times are finer (file mtimes), so
        restore the latest nanosecond of it that can be restored (None found: ``lo``'s error)."""
        hi = lo + 999
        inside = sorted({o.time_ns for o in self.listing() if lo < o.time_ns < hi}, reverse=True)
        for t in [hi, *inside]:
            try:
                return self._plan_at(t, check_bounds)
            except TxidNotAvailableError:
                continue
        return self._plan_at(lo, check_bounds)

    def page_map(
        self,
        txid: int | None = None,
        *,
        timestamp: dt.datetime | int | None = None,
        refresh: bool = False,
        generation: str | None = None,
        check_bounds: bool = True,
    ) -> LegacyPageMap:
        """The page map of a point (kept per listing; the WAL is replayed and verified once)."""
        if refresh:
            self.refresh()
        plan = self.plan(
            txid, timestamp=timestamp, generation=generation, check_bounds=check_bounds
        )
        key = (plan.generation, plan.position)
        got = self._maps.get(key)
        if got is not None and got.plan == plan:
            return got
        pages = build_legacy_pages(plan, self.open_object)
        times = [plan.snapshot.time_ns, *(s.time_ns for s in plan.segments)]
        pm = LegacyPageMap(
            legacy_txid(plan.generation, plan.position), ns_to_datetime(max(times)), pages
        )
        with self._lock:
            if len(self._maps) >= _MAPS:
                self._maps.clear()
            self._maps[key] = pm
        return pm

    # -- reading ------------------------------------------------------------------

    def read_page(self, page_map: LegacyPageMap, pgno: int) -> bytes:
        """Page ``pgno``: from the cache, or decompressing only up to it in one object."""
        if getattr(page_map, "kind", None) != self.kind:
            raise UsageError(f"a page map of another replica: {page_map!r}")
        pm = page_map.pages
        if not 1 <= pgno <= pm.page_count:
            raise PageNotFoundError(
                f"page {pgno} does not exist: pages are numbered 1..{pm.page_count} "
                f"at 0.3 TXID {page_map.txid:016x}",
                pgno=pgno,
                txid=page_map.txid,
            )
        src = pm.source(pgno)
        if src.object is None:
            return bytes(pm.page_size)
        key = PageCache.key(self.store.url, src.object.path, src.object.size, src.offset)
        data = self.cache.get(key)
        if data is not None:
            return data
        if src.kind == "snapshot":
            return self._snapshot_page(src.object, src.offset, pm.page_size)
        rd = open_reader(src.object, self.open_object(src.object))
        rd.skip(src.offset)
        data = rd.read_exact(pm.page_size, "WAL page")
        self.cache.put(key, data)
        return data

    def _snapshot_page(self, snap: LegacyObject, offset: int, ps: int) -> bytes:
        """Decompress the snapshot forward to ``offset``, caching every page passed; zeros
        past its end (a database the WAL grew reads them as zeros)."""
        with self._lock:
            rd = self._readers.pop(snap.path, None)
        if rd is None or rd.position > offset:
            rd = open_reader(snap, self.open_object(snap))
        while True:
            at = rd.position
            data = rd.read(ps)
            if len(data) < ps:
                return bytes(ps)  # the snapshot ended before the page
            self.cache.put(PageCache.key(self.store.url, snap.path, snap.size, at), data)
            if at >= offset:
                break
        with self._lock:
            self._readers[snap.path] = rd
        return data

    def restore(
        self,
        page_map: LegacyPageMap,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> Path:
        """Write the database of ``page_map`` to ``path`` atomically (as 0.3.13 restores it)."""
        with (
            database_output(path, overwrite=overwrite) as fd,
            os.fdopen(fd, "r+b", buffering=1 << 20, closefd=False) as out,
        ):
            write_database(page_map.pages, self.open_object, out, progress=progress)
        return Path(path)
