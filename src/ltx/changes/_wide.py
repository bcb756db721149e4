"""The wide-diff path: when many pages changed, rows are compared through SQLite table
scans (``_sql``) over both sides' pages, read ahead in batches, instead of a page walk."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

import attrs

from ltx.changes import _sql
from ltx.sqlitefmt import Pager, RowChange, Table, read_schema
from ltx.sqlitefmt.schema import Schema
from ltx.view import PageMapLike

if TYPE_CHECKING:
    from ltx.changes._diff import DiffSource

_AHEAD = 256  # pages a SQLite scan of one side reads ahead on a miss
_WIDE_MIN = 256  # a diff of at least this many pages ...
_WIDE_SHARE = 0.5  # ... and this share of the database compares rows through SQLite
# Measured (docs/changes.md, "Costs and limits"): the page walk costs ~100 us of CPU per
# changed page, the two scans ~65 us per page of the database; they meet near 60%.


@attrs.frozen
class Wide:
    """What the SQLite way needs: both sides' pages and schemas, and the tables."""

    page_a: Callable[[int], bytes]
    page_b: Callable[[int], bytes]
    page_size: int
    pages: tuple[int, int]
    tables: list[Table]
    sa: Schema
    sb: Schema

    def changes(self, after: tuple[str, int] | None = None) -> Iterator[RowChange]:
        return _sql.iter_row_changes(
            self.page_a, self.page_b, self.page_size, self.pages, self.tables, after=after
        )


def plan(
    a: PageMapLike | None,
    b: PageMapLike | None,
    changed: int,
    ahead_fn: Callable[[str], Callable[[int], bytes]],
) -> Wide | None:
    """The SQLite way, when many pages changed (``changed``) and every table can go that
    way (same layout on both sides, rowid tables); None to walk the pages instead."""
    if a is None or b is None or a.page_size != b.page_size or not _sql.available():
        return None
    if changed < max(_WIDE_MIN, _WIDE_SHARE * max(a.commit, b.commit)):
        return None
    page_a, page_b = ahead_fn("a"), ahead_fn("b")
    sa, sb = read_schema(Pager(page_a)), read_schema(Pager(page_b))
    names = sorted({t.name for s in (sa, sb) for t in s.tables if t.has_rows})
    pairs = [(_table(sa, n), _table(sb, n)) for n in names]
    if not all(_sql.eligible(ta, tb) for ta, tb in pairs):
        return None
    tables = [ta for ta, _ in pairs if ta is not None]
    return Wide(page_a, page_b, a.page_size, (a.commit, b.commit), tables, sa, sb)


def read_ahead(
    base: Callable[[int], bytes],
    source: DiffSource,
    pm: PageMapLike | None,
    own: Mapping[int, bytes],
    same: Mapping[int, bytes],
) -> Callable[[int], bytes]:
    """``base`` that reads ahead for scans: a page in neither the memo (``own``, ``same``)
    nor the window brings the next ``_AHEAD`` such pages with it (``read_pages``: adjacent
    frames in one request), so a SQLite table scan does not read page by page."""
    batch = getattr(source, "read_pages", None)
    if batch is None or pm is None:
        return base
    window: dict[int, bytes] = {}

    def page(pgno: int) -> bytes:
        got = own.get(pgno) or same.get(pgno) or window.get(pgno)
        if got is not None:
            return got
        if not 1 <= pgno <= pm.commit:
            return base(pgno)
        stop = min(pgno + _AHEAD, pm.commit + 1)
        want = [p for p in range(pgno, stop) if p not in own and p not in same]
        window.clear()
        window.update(zip(want, batch(pm, want), strict=True))
        return window[pgno]

    return page


def _table(schema: Schema, name: str) -> Table | None:
    try:
        return schema.table(name)
    except KeyError:
        return None
