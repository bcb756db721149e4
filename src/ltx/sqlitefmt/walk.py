"""Rows of a table and entries of an index, decoded from the raw b-tree pages."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ltx.errors import DatabaseFormatError
from ltx.sqlitefmt.btree import iter_cells
from ltx.sqlitefmt.pager import PageFn, Pager
from ltx.sqlitefmt.record import Value, decode_record
from ltx.sqlitefmt.schema import NOT_STORED, ROWID_SLOT, Index, Schema, Table, read_schema

__all__ = [
    "Key",
    "Row",
    "Layout",
    "layout",
    "iter_rows",
    "iter_index",
    "records",
    "row_values",
    "row_key",
]

Key = tuple[Value, ...]
Row = dict[str, Value]


Layout = tuple[tuple[str, int, bool, Value], ...]


def layout(table: Table) -> Layout:
    """(name, record slot, is REAL, default) of each stored column: decoding made quick."""
    return tuple(
        (c.name, slot, c.affinity == "REAL", c.default)
        for c, slot in zip(table.columns, table.storage, strict=False)
        if slot != NOT_STORED
    )


def row_values(table: Table | Layout, fields: Sequence[Value], rowid: int | None) -> Row:
    """Column -> value for one record, in declared order.

    Missing trailing fields take the column default (ALTER TABLE ADD COLUMN), the rowid
    alias takes the rowid, REAL columns turn integers back into floats (SQLite stores
    integral reals as integers), and virtual generated columns are left out.
    """
    cols = layout(table) if isinstance(table, Table) else table
    out: Row = {}
    n = len(fields)
    for name, slot, real, default in cols:
        v = rowid if slot == ROWID_SLOT else fields[slot] if slot < n else default
        if real and type(v) is int:
            v = float(v)
        out[name] = v
    return out


def row_key(table: Table, values: Row, rowid: int | None) -> Key:
    """``(rowid,)`` for rowid tables, the primary-key values for WITHOUT ROWID tables."""
    if table.without_rowid:
        return tuple(values.get(name) for name in table.primary_key)
    return (rowid,)


def _resolve(page: PageFn | Pager, schema: Schema | None) -> tuple[Pager, Schema]:
    pager = page if isinstance(page, Pager) else Pager(page)
    return pager, schema if schema is not None else read_schema(pager)


def iter_rows(
    page: PageFn | Pager, table: Table | str, schema: Schema | None = None
) -> Iterator[tuple[Key, Row]]:
    """(key, row) for every row of ``table`` in b-tree (key) order.

    Virtual tables yield nothing. ``schema`` saves re-reading it when given.
    """
    pager, schema = _resolve(page, schema)
    t = schema.table(table) if isinstance(table, str) else table
    if not t.has_rows:
        return
    enc = pager.encoding
    cols = layout(t)
    npk = len(t.primary_key)
    for pgno, cell in iter_cells(pager, t.root, table=not t.without_rowid):
        payload = cell.local if cell.size == len(cell.local) else pager.payload(cell, pgno)
        fields = decode_record(payload, enc, pgno)
        values = row_values(cols, fields, cell.rowid)
        if cell.rowid is not None:
            yield (cell.rowid,), values
        elif len(fields) < npk:
            raise DatabaseFormatError(f"{t.name}: record shorter than its key", pgno=pgno)
        else:
            yield row_key(t, values, None), values


def iter_index(
    page: PageFn | Pager, index: Index | str, schema: Schema | None = None
) -> Iterator[tuple[Value, ...]]:
    """Every entry (record values: indexed columns, then rowid or key) of an index, in order."""
    pager, schema = _resolve(page, schema)
    ix = schema.index(index) if isinstance(index, str) else index
    if ix.root <= 0:
        return
    for pgno, cell in iter_cells(pager, ix.root, table=False):
        yield tuple(decode_record(pager.payload(cell, pgno), pager.encoding, pgno))


def records(pager: Pager, table: Table | None, overflow_seen: set[int]) -> dict[Key, bytes]:
    """key -> record of every row of ``table`` (the records, not decoded rows: a record
    is never larger than its share of the database); overflow pages read go into
    ``overflow_seen``."""
    if table is None or not table.has_rows:
        return {}
    caching, pager.caching = pager.caching, False
    pager.overflow_seen = overflow_seen
    out: dict[Key, bytes] = {}
    cols = layout(table)
    try:
        for pgno, cell in iter_cells(pager, table.root, table=not table.without_rowid):
            payload = cell.local if cell.size == len(cell.local) else pager.payload(cell, pgno)
            if not table.without_rowid:
                out[(cell.rowid,)] = payload
                continue
            fields = decode_record(payload, pager.encoding, pgno)
            if len(fields) < len(table.primary_key):
                raise DatabaseFormatError(f"{table.name}: record shorter than its key", pgno=pgno)
            out[row_key(table, row_values(cols, fields, None), None)] = payload
    finally:
        pager.caching = caching
        pager.overflow_seen = None
    return out
