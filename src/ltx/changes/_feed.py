"""A change feed: the row changes of each restorable point of a replica, in TXID order.

Each entry is the diff from the previous restorable point, so the feed has the finest
granularity the replica still holds: where compaction merged transactions (their own
level-0 files are gone), one entry covers the whole TXID range and says where it
starts (``merged_from``). Resuming from the last TXID yielded repeats and loses nothing.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator

import attrs

from ltx.changes._diff import EMPTY, DiffSource, diff
from ltx.errors import TxidNotAvailableError, UsageError
from ltx.resolve import RestorePoint
from ltx.sqlitefmt import RowChange, SchemaChange
from ltx.view import PageMapLike

__all__ = ["TxChanges", "changes"]

_REPLANS = 3  # listings in a row that may name a point compaction then removes


@attrs.frozen(slots=True)
class TxChanges:
    """The changes that one restorable point (TXID ``txid``) made over the previous one.

    ``merged_from`` is the first TXID of the range when the entry covers more than one
    transaction (compaction left no point in between), else None. ``timestamp`` is
    when the point's last file was created.
    """

    txid: int
    timestamp: dt.datetime
    rows: tuple[RowChange, ...]
    merged_from: int | None = None
    schema: tuple[SchemaChange, ...] = ()

    @property
    def first_txid(self) -> int:
        """The first TXID this entry covers (``txid`` unless merged)."""
        return self.txid if self.merged_from is None else self.merged_from


def _start(source: DiffSource, since: int) -> PageMapLike | None:
    """The page map at ``since`` (None for the empty database); it must be restorable."""
    if since == EMPTY:
        return None
    pm = source.page_map(since)
    if pm.txid != since:  # pragma: no cover - page_map(txid) plans exactly or raises
        raise TxidNotAvailableError(f"transaction {since:016x} is not available", txid=since)
    return pm


def _entry(
    source: DiffSource,
    prev: PageMapLike | None,
    point: RestorePoint,
    tables: frozenset[str] | None,
) -> tuple[TxChanges, PageMapLike | None] | None:
    """The entry for ``point`` and its page map; None when the point is gone meanwhile."""
    try:
        pm = source.page_map(point.txid)
    except TxidNotAvailableError:
        return None  # compacted away since the listing: the next point will cover it
    d = diff(source, EMPTY if prev is None else prev, pm)
    last = EMPTY if prev is None else prev.txid
    merged = last + 1 if point.txid - last > 1 else None
    rows = d.database_diff().rows
    if tables is not None:  # a table may exist at some points only: filter, never refuse
        rows = tuple(c for c in rows if c.table in tables)
    return TxChanges(point.txid, point.created_at, rows, merged, d.schema()), d.b


def changes(
    source: DiffSource,
    since: int | None = None,
    *,
    follow: bool = False,
    poll: float = 1.0,
    tables: Iterable[str] | None = None,
    stop: Callable[[], bool] | None = None,
    max_idle: float | None = None,
) -> Iterator[TxChanges]:
    """One :class:`TxChanges` per restorable point after TXID ``since``, in TXID order.

    ``since`` None (or 0) starts from the empty database, so the first entry shows every
    row of the first point as inserted; a ``since`` that is not restorable raises
    TxidNotAvailableError (the state there is needed to diff against). ``tables`` keeps
    only those tables' rows. With ``follow``, it then lists the replica again every
    ``poll`` seconds and goes on; it returns when ``stop()`` is true or after
    ``max_idle`` seconds without a new point (both checked between polls).
    """
    if poll <= 0 or (since is not None and since < 0):
        raise UsageError(f"poll must be > 0 and since >= 0, got {poll} and {since}")
    names = None if tables is None else frozenset({tables} if isinstance(tables, str) else tables)
    prev = _start(source, since or EMPTY)
    last = since or EMPTY
    idle_since = time.monotonic()
    gone = 0
    while True:
        for point in [p for p in source.history() if p.txid > last]:
            got = _entry(source, prev, point, names)
            if got is None:
                gone += 1
                if gone > _REPLANS:
                    raise TxidNotAvailableError(
                        f"transaction {point.txid:016x} is listed but cannot be planned",
                        txid=point.txid,
                    )
                break
            entry, prev = got
            last, gone, idle_since = entry.txid, 0, time.monotonic()
            yield entry
        else:
            if not follow or (stop is not None and stop()):
                return
            if max_idle is not None and time.monotonic() - idle_since >= max_idle:
                return
            time.sleep(poll)
        source.refresh()
