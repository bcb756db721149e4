"""Wide diffs through SQLite itself: a table compared by two ordered scans, merge-joined.

When many pages changed, decoding every cell in Python costs more than letting SQLite
read the rows: each side of the diff is opened read-only (apsw, extra ``sqlite``) over
the diff's own page function (its memo of pages already compared, then the source), and
``SELECT rowid, <stored columns> ORDER BY rowid`` runs on both. Only rowid tables whose
layout is the same on both sides go this way; the caller keeps the pruned page walk for
the rest, and for everything when apsw is missing or SQLite refuses a side (the walk
then raises its typed error).
"""

from __future__ import annotations

import importlib.util
import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ltx.sqlitefmt import RowChange
from ltx.sqlitefmt.schema import NOT_STORED, Table

__all__ = ["SQLRefused", "available", "eligible", "iter_row_changes"]

PageFn = Callable[[int], bytes]
_names = itertools.count(1)
_ALIASES = ("rowid", "_rowid_", "oid")


def available() -> bool:
    """True when apsw is installed (the fast path needs it; imported only when used)."""
    return importlib.util.find_spec("apsw") is not None


def eligible(ta: Table | None, tb: Table | None) -> bool:
    """A rowid table on both sides with one layout, whose rowid SQL can name."""
    if ta is None or tb is None or ta.layout != tb.layout:
        return False
    if not ta.has_rows or ta.without_rowid or not ta.decidable:
        return False
    return _alias(ta) is not None


def _alias(table: Table) -> str | None:
    taken = {c.name.lower() for c in table.columns}
    return next((a for a in _ALIASES if a not in taken), None)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _PagesFile:
    """Reads of a database file over ``page(pgno)``; page 1 says rollback journal, so
    SQLite looks for no WAL beside it."""

    def __init__(self, page: PageFn, page_size: int, pages: int) -> None:
        self._page, self._ps, self.size = page, page_size, page_size * pages

    def read(self, offset: int, amount: int) -> bytes:
        ps = self._ps
        if amount == ps and offset % ps == 0 and ps <= offset < self.size:
            return self._page(offset // ps + 1)  # one whole page past page 1: no copy
        out = bytearray()
        pos, end = offset, min(offset + amount, self.size)
        while pos < end:
            pgno, at = divmod(pos, ps)
            data = self._page(pgno + 1)
            if pgno == 0:
                data = data[:18] + b"\x01\x01" + data[20:]
            take = min(ps - at, end - pos)
            out += data[at : at + take]
            pos += take
        return bytes(out)


def _connect(page: PageFn, page_size: int, pages: int) -> tuple[Any, Any]:
    """A read-only connection over the pages, and its VFS (unregister it after closing)."""
    import apsw

    from ltx.sqlfile import ReadOnlyFile

    pages_file = _PagesFile(page, page_size, pages)
    file = ReadOnlyFile(pages_file.read, lambda: pages_file.size, "a diff side")

    class _VFS(apsw.VFS):
        def xOpen(self, name: Any, flags: list[int]) -> Any:
            if flags[0] & apsw.SQLITE_OPEN_MAIN_DB:
                flags[1] = apsw.SQLITE_OPEN_READONLY
                return file
            return super().xOpen(name, flags)

    with _lock:
        name = f"ltx-diff-{next(_names)}"
    vfs = _VFS(name, "")
    con = apsw.Connection(
        f"file:db?vfs={name}", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI
    )
    con.execute("PRAGMA trusted_schema=OFF; PRAGMA query_only=ON")
    return con, vfs


_lock = threading.Lock()


def _scan(
    con: Any, table: Table, after: int | None = None
) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """Stored column names, and the rows (stored values, then rowid) by rowid."""
    names = [c.name for c, slot in zip(table.columns, table.storage, strict=False)]
    stored = [n for n, slot in zip(names, table.storage, strict=False) if slot != NOT_STORED]
    alias = _alias(table)
    assert alias is not None
    cols = ", ".join([*map(_quote, stored), alias])  # rowid last: zip(names, row) skips it
    where = "" if after is None else f" WHERE {alias} > ?"
    sql = f"SELECT {cols} FROM main.{_quote(table.name)}{where} ORDER BY {alias}"
    return stored, iter(con.execute(sql, () if after is None else (after,)))


def _same(x: tuple[Any, ...], y: tuple[Any, ...]) -> bool:
    """Equal values of equal types (1 == 1.0 in Python; an INTEGER is not a REAL)."""
    return x == y and [*map(type, x)] == [*map(type, y)]  # map: twice as fast as all()


def _merge(
    name: str, cols: list[str], rows_a: Iterator[tuple[Any, ...]], rows_b: Iterator[tuple[Any, ...]]
) -> Iterator[RowChange]:
    """Row changes of one table from two scans ordered by rowid (the last value of each)."""
    x, y = next(rows_a, None), next(rows_b, None)
    while x is not None and y is not None:
        kx, ky = x[-1], y[-1]
        if kx < ky:
            yield RowChange(name, (kx,), "delete", dict(zip(cols, x, strict=False)), None)
            x = next(rows_a, None)
        elif ky < kx:
            yield RowChange(name, (ky,), "insert", None, dict(zip(cols, y, strict=False)))
            y = next(rows_b, None)
        else:
            if not _same(x, y):
                yield RowChange(
                    name,
                    (kx,),
                    "update",
                    dict(zip(cols, x, strict=False)),
                    dict(zip(cols, y, strict=False)),
                )
            x, y = next(rows_a, None), next(rows_b, None)
    while x is not None:
        yield RowChange(name, (x[-1],), "delete", dict(zip(cols, x, strict=False)), None)
        x = next(rows_a, None)
    while y is not None:
        yield RowChange(name, (y[-1],), "insert", None, dict(zip(cols, y, strict=False)))
        y = next(rows_b, None)


class SQLRefused(Exception):
    """SQLite could not read a side (damaged pages, text that is not UTF-8, ...): the
    caller walks the pages instead, which names the problem if there is one."""


def iter_row_changes(
    page_a: PageFn,
    page_b: PageFn,
    page_size: int,
    pages: tuple[int, int],
    tables: list[Table],
    *,
    after: tuple[str, int] | None = None,
) -> Iterator[RowChange]:
    """Row changes of ``tables`` (each ``eligible``, sorted by name) by SQLite scans of
    both sides, streamed by table then rowid; those up to ``after`` (table, rowid) are
    skipped (to resume). Raises SQLRefused when SQLite cannot read a side."""
    if not available():
        raise SQLRefused("apsw is not installed")
    import apsw

    opened: list[tuple[Any, Any]] = []
    try:
        for page in (page_a, page_b):
            opened.append(_connect(page, page_size, pages[len(opened)]))
        (con_a, _), (con_b, _) = opened
        for table in tables:
            if after is not None and table.name < after[0]:
                continue
            start = after[1] if after is not None and table.name == after[0] else None
            cols, rows_a = _scan(con_a, table, start)
            _, rows_b = _scan(con_b, table, start)
            yield from _merge(table.name, cols, rows_a, rows_b)
    except (apsw.Error, UnicodeDecodeError) as exc:
        raise SQLRefused(str(exc)) from exc
    finally:
        for con, vfs in opened:
            con.close()
            vfs.unregister()
