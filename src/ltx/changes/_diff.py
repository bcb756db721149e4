"""Page and row differences between two points of a replica, reading as little as it can.

Changed pages come from the two page maps: a page resolved to the same file and frame
on both sides holds the same bytes (the maps' ``same_source``), so it is not read; any
other page is read on both sides (in parallel) and compared, since two files may hold
identical bytes for it. Page maps of Litestream 0.3 points (and any ``PageMapLike``
without ``same_source``) name no frames: every page they share is compared. The
bytes read are kept (up to a budget) for the row walk, which ``ltx.sqlitefmt`` prunes
to the changed pages, the interior pages above them and their overflow chains.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar, cast

from ltx.changes import _pages, _sql, _wide
from ltx.errors import NotFoundError, UsageError
from ltx.resolve import RestorePoint
from ltx.sqlitefmt import (
    DatabaseDiff,
    Pager,
    RowChange,
    SchemaChange,
    diff_database,
    diff_schema,
    iter_row_changes,
    read_schema,
)
from ltx.sqlitefmt.header import lock_pgno
from ltx.view import PageMapLike, View

__all__ = ["EMPTY", "Diff", "DiffSource", "Point", "diff"]

#: The point before the first transaction: an empty database (``diff(source, EMPTY, b)``).
EMPTY = 0
_REPLANS = 3  # how often a diff re-plans when compaction deletes files under it
_T = TypeVar("_T")


class DiffSource(Protocol):
    """What a diff needs of a replica (``ltx.Replica`` has it all).

    A source with a ``store`` attribute (an ``ObjectStore``) reads on that store's one
    pool, so ``max_concurrency`` bounds a diff too; any other source gets a pool of
    ``workers`` threads for the diff.
    """

    def page_map(self, txid: int | None = None, *, refresh: bool = False) -> PageMapLike: ...

    def read_page(self, page_map: PageMapLike, pgno: int) -> bytes: ...

    def history(self) -> list[RestorePoint]: ...

    def refresh(self) -> object: ...


#: A point of a replica: a TXID (``EMPTY`` for the empty database), a View or a page map.
Point = int | View | PageMapLike


class Diff:
    """The difference between two points of a replica, A (``a``) and B (``b``).

    ``pages`` (ascending) are the page numbers whose bytes differ, counting pages that
    exist on one side only. Rows and schema changes are worked out on first use and
    kept. A side is None for the empty database (TXID 0).
    """

    __slots__ = ("_memo", "_result", "_tables", "a", "b", "pages", "source")

    def __init__(
        self, source: DiffSource, a: PageMapLike | None, b: PageMapLike | None, memo_bytes: int
    ) -> None:
        self.source = source
        self.a = a
        self.b = b
        self.pages: tuple[int, ...] = ()
        self._memo = _pages.Memo(memo_bytes)
        self._result: DatabaseDiff | None = None
        self._tables: frozenset[str] | None = None

    def __repr__(self) -> str:
        return f"<Diff {self.txid_a:016x}..{self.txid_b:016x} pages={len(self.pages)}>"

    @property
    def txid_a(self) -> int:
        """TXID of side A (0 for the empty database)."""
        return 0 if self.a is None else self.a.txid

    @property
    def txid_b(self) -> int:
        """TXID of side B (0 for the empty database)."""
        return 0 if self.b is None else self.b.txid

    @property
    def timestamp(self) -> dt.datetime | None:
        """Creation time of the newest file behind side B (None for the empty database)."""
        return None if self.b is None else self.b.timestamp

    def database_diff(self) -> DatabaseDiff:
        """Schema and row changes from A to B, both sorted (worked out once, then kept)."""
        if self._result is None:
            self._result = self._retry(self._walk)
        return self._result

    def rows(self, tables: Iterable[str] | str | None = None) -> Iterator[RowChange]:
        """Row changes A to B by table then key, only of ``tables`` if given.

        A table name that exists on neither side is a UsageError (not an empty answer).
        """
        want = None if tables is None else {tables} if isinstance(tables, str) else set(tables)
        if want is not None:
            unknown = sorted(want - self._table_names())
            if unknown:
                raise UsageError(
                    f"no table {', '.join(map(repr, unknown))} at TXID {self.txid_a:016x} "
                    f"or {self.txid_b:016x}"
                )
        stream = self._stream() if self._result is None else iter(self._result.rows)
        for change in stream:
            if want is None or change.table in want:
                yield change

    def schema(self) -> tuple[SchemaChange, ...]:
        """Tables, indexes, views and triggers created, dropped or altered, in an order a
        mirror can apply: drops first (triggers, views, indexes, tables), then creates and
        alters (tables, indexes, views, triggers), by name within each."""
        if self._result is None:
            plan = self._retry(self._wide_plan)
            if plan is not None:
                return tuple(sorted(diff_schema(plan.sa, plan.sb), key=_apply_order))
        return tuple(sorted(self.database_diff().schema, key=_apply_order))

    # -- internals ------------------------------------------------------------------

    def _retry(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn``; when a file it reads was deleted (compaction), plan both TXIDs again.

        The bytes of a TXID never change, so pages and rows found so far stay valid; a
        TXID that is no longer restorable raises TxidNotAvailableError.
        """
        for attempt in range(_REPLANS):
            try:
                return fn()
            except NotFoundError:
                if attempt == _REPLANS - 1:
                    raise
                self._replan()
        raise AssertionError("unreachable")  # pragma: no cover

    def _replan(self) -> None:
        """Plan both TXIDs again (files were deleted under the diff)."""
        src = self.source
        self.a = None if self.a is None else src.page_map(self.a.txid, refresh=True)
        self.b = None if self.b is None else src.page_map(self.b.txid, refresh=True)

    def _page_fn(self, side: str) -> Callable[[int], bytes]:
        """``page(pgno)`` of one side for sqlitefmt: from the memo, else ``read_page``."""
        memo = self._memo
        own = memo.a if side == "a" else memo.b
        pm, other = (self.a, self.b) if side == "a" else (self.b, self.a)
        if pm is None:
            assert other is not None
            return _pages.empty_database(self.source.read_page(other, 1))
        source = self.source

        def page(pgno: int) -> bytes:
            got = own.get(pgno) or memo.same.get(pgno)
            if got is not None:
                return got
            if pgno > pm.commit:
                return b""  # not a page of this side: sqlitefmt reports it as corrupt
            return source.read_page(pm, pgno)

        return page

    def _walk(self) -> DatabaseDiff:
        if self.a is None and self.b is None:
            return DatabaseDiff((), ())
        plan = self._wide_plan()
        if plan is not None:
            try:
                rows = tuple(plan.changes())
            except _sql.SQLRefused:
                pass
            else:
                return DatabaseDiff(tuple(diff_schema(plan.sa, plan.sb)), rows)
        return diff_database(self._page_fn("a"), self._page_fn("b"), self.pages)

    def _wide_plan(self) -> _wide.Wide | None:
        """The SQLite way when it fits (see ``_wide.plan``); None to walk the pages instead."""
        return _wide.plan(self.a, self.b, len(self.pages), self._ahead_fn)

    def _ahead_fn(self, side: str) -> Callable[[int], bytes]:
        """``_page_fn`` that reads ahead for scans (see ``_wide.read_ahead``)."""
        pm = self.a if side == "a" else self.b
        own = self._memo.a if side == "a" else self._memo.b
        return _wide.read_ahead(self._page_fn(side), self.source, pm, own, self._memo.same)

    def _stream(self) -> Iterator[RowChange]:
        """Row changes without holding them: streamed from SQLite on the wide path
        (resumed after a re-plan; the page walk takes over, past what was streamed, if
        SQLite refuses a side), else from the page walk, table by table."""
        last: tuple[str, int] | None = None

        def wide() -> Iterator[RowChange]:
            nonlocal last
            plan = self._wide_plan()
            if plan is None:
                raise _sql.SQLRefused("few pages changed, or a table SQLite cannot compare")
            for change in plan.changes(after=last):
                last = (change.table, cast(int, change.key[0]))
                yield change

        try:
            yield from self._retry_rows(wide)
            return
        except _sql.SQLRefused:
            pass
        for change in self._retry_rows(self._walk_rows()):
            if last is None or (change.table, cast(int, change.key[0])) > last:
                yield change

    def _walk_rows(self) -> Callable[[], Iterator[RowChange]]:
        """The page walk's row changes as each table is compared, for ``_retry_rows``:
        each call walks again and gives only the rows not given before."""
        given = 0

        def walk() -> Iterator[RowChange]:
            nonlocal given
            if self.a is None and self.b is None:
                return
            rows = iter_row_changes(self._page_fn("a"), self._page_fn("b"), self.pages)
            for i, change in enumerate(rows):
                if i == given:  # the walk of one pair of TXIDs always gives one order
                    given += 1
                    yield change

        return walk

    def _retry_rows(self, rows: Callable[[], Iterator[RowChange]]) -> Iterator[RowChange]:
        """``rows()`` streamed; when a file it reads was deleted (compaction), plan both
        TXIDs again and call it again (it resumes past what it gave)."""
        for attempt in range(_REPLANS):
            try:
                yield from rows()
                return
            except NotFoundError:
                if attempt == _REPLANS - 1:
                    raise
                self._replan()

    def _table_names(self) -> frozenset[str]:
        if self._tables is None:

            def names() -> frozenset[str]:
                out: set[str] = set()
                for side, pm in (("a", self.a), ("b", self.b)):
                    if pm is not None:
                        out.update(t.name for t in read_schema(Pager(self._page_fn(side))).tables)
                return frozenset(out)

            self._tables = self._retry(names)
        return self._tables


_KINDS = ("table", "index", "view", "trigger")


def _apply_order(change: SchemaChange) -> tuple[int, int, str]:
    rank = _KINDS.index(change.type) if change.type in _KINDS else len(_KINDS)
    if change.op == "drop":
        return (0, -rank, change.name)
    return (1, rank, change.name)


def diff(
    source: DiffSource,
    a: Point,
    b: Point,
    *,
    workers: int = 8,
    memo_bytes: int = 512 << 20,
) -> Diff:
    """The difference from point ``a`` to point ``b`` of ``source`` (TXIDs, Views or PageMaps).

    Works out the changed pages now (reading only pages whose sources differ, ``workers``
    at a time); rows and schema wait for ``Diff.rows()`` / ``Diff.schema()``. Up to
    ``memo_bytes`` of the pages compared are kept for that walk. ``EMPTY`` (0) is the
    empty database: ``diff(source, EMPTY, t)`` shows every row at ``t`` as inserted.
    """
    if workers < 1 or memo_bytes < 0:
        raise UsageError(f"workers must be >= 1 and memo_bytes >= 0, got {workers}, {memo_bytes}")
    out = Diff(source, _resolve(source, a), _resolve(source, b), memo_bytes)
    out.pages = out._retry(lambda: _changed_pages(out, workers))
    return out


def _resolve(source: DiffSource, point: Point) -> PageMapLike | None:
    if isinstance(point, View):
        return point.page_map
    if isinstance(point, int) and not isinstance(point, bool) and point >= 0:
        return None if point == EMPTY else source.page_map(point)
    if not isinstance(point, int) and all(
        hasattr(point, a) for a in ("txid", "timestamp", "page_size", "commit")
    ):
        return point
    raise UsageError(f"a point is a TXID (>= 0), a View or a page map, not {point!r}")


def _changed_pages(d: Diff, workers: int) -> tuple[int, ...]:
    a, b = d.a, d.b
    if a is None or b is None:
        one = a or b
        return tuple(range(1, (one.commit if one is not None else 0) + 1))
    top = max(a.commit, b.commit)
    if a.page_size != b.page_size:
        return tuple(range(1, top + 1))
    common = min(a.commit, b.commit)
    same = getattr(a, "same_source", None)  # page maps may say nothing of their sources
    if same is None:
        lock = lock_pgno(a.page_size)  # zeros on both sides
        suspects = [p for p in range(1, common + 1) if p != lock]
    else:
        suspects = [p for p in range(1, common + 1) if not same(b, p)]
    differ = _pages.compare(d.source, a, b, suspects, d._memo, workers)
    return (*differ, *range(common + 1, top + 1))
