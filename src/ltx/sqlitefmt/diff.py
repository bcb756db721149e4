"""Row and schema differences between two states of one database, reading few pages.

``changed`` names the pages whose bytes differ (pages on one side only count as
changed). Rows are compared only where they can differ: on changed pages, on pages
that left or joined a table's tree, and under overflow chains rewritten in place.
Tables whose layout changed (or that cannot be searched) are compared in full.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import attrs

from ltx.errors import DatabaseFormatError
from ltx.sqlitefmt._cells import narrow
from ltx.sqlitefmt._locate import Tree
from ltx.sqlitefmt._prune import (
    Side,
    classify,
    expand,
    explain,
    find_owners,
    note_children,
    owners_by_ptrmap,
    owners_nearby,
    prunable,
)
from ltx.sqlitefmt.page import BTreePage
from ltx.sqlitefmt.pager import PageFn, Pager
from ltx.sqlitefmt.record import decode_record, sort_key
from ltx.sqlitefmt.schema import Schema, Table, build_schema, read_entries
from ltx.sqlitefmt.walk import Key, Row, records, row_key, row_values

__all__ = [
    "RowChange",
    "SchemaChange",
    "DatabaseDiff",
    "diff_database",
    "diff_rows",
    "diff_schema",
    "iter_row_changes",
]

#: Column defaults a diff may fill in beyond the values its records store. A record
#: stores each value it has (a byte at least), so only defaults (ALTER TABLE ADD
#: COLUMN, or a hostile schema declaring 2,000 columns over one-field records) can
#: make decoded rows outgrow the database; past this and past the stored values, refuse.
MAX_FILLED_DEFAULTS = 500_000


@attrs.frozen(slots=True)
class RowChange:
    """One row inserted, updated or deleted; ``before``/``after`` are None where absent."""

    table: str
    key: Key
    op: str
    before: Row | None
    after: Row | None


@attrs.frozen(slots=True)
class SchemaChange:
    """A schema object created, dropped or altered (its SQL changed)."""

    type: str
    name: str
    op: str
    before: str | None
    after: str | None


@attrs.frozen(slots=True)
class DatabaseDiff:
    """Schema changes and row changes, each sorted (by name; by table then key)."""

    schema: tuple[SchemaChange, ...]
    rows: tuple[RowChange, ...]


def diff_schema(a: Schema, b: Schema) -> list[SchemaChange]:
    """Objects of ``sqlite_schema`` created, dropped or whose SQL changed, A to B."""
    ea = {(e.type, e.name): e.sql for e in a.entries}
    eb = {(e.type, e.name): e.sql for e in b.entries}
    out = []
    for kind, name in sorted(ea.keys() | eb.keys()):
        if (kind, name) not in eb:
            out.append(SchemaChange(kind, name, "drop", ea[kind, name], None))
        elif (kind, name) not in ea:
            out.append(SchemaChange(kind, name, "create", None, eb[kind, name]))
        elif ea[kind, name] != eb[kind, name]:
            out.append(SchemaChange(kind, name, "alter", ea[kind, name], eb[kind, name]))
    return out


def diff_rows(page_a: PageFn, page_b: PageFn, changed: Iterable[int]) -> list[RowChange]:
    """Rows that differ between state A and state B (see :func:`diff_database`)."""
    return list(diff_database(page_a, page_b, changed).rows)


def diff_database(page_a: PageFn, page_b: PageFn, changed: Iterable[int]) -> DatabaseDiff:
    """Schema and row differences from state A (``page_a``) to state B (``page_b``).

    ``changed`` must hold every page number whose bytes differ between the two (pages
    present on one side only included); the result is exact when it does.
    """
    schema, rows = _start(page_a, page_b, changed)
    return DatabaseDiff(schema, tuple(rows))


def iter_row_changes(page_a: PageFn, page_b: PageFn, changed: Iterable[int]) -> Iterator[RowChange]:
    """The rows of :func:`diff_database`, yielded table by table as each is compared, so
    the decoded rows are not held (all pages are read before the first row comes)."""
    _, rows = _start(page_a, page_b, changed)
    yield from rows


def _start(
    page_a: PageFn, page_b: PageFn, changed: Iterable[int]
) -> tuple[tuple[SchemaChange, ...], Iterator[RowChange]]:
    """The schema changes, and the row changes still to be worked out."""
    changed = frozenset(changed)
    pa = Pager(page_a)
    pb = Pager(page_b, pa.header) if 1 not in changed else Pager(page_b)
    compatible = (pa.page_size, pa.usable, pa.encoding) == (pb.page_size, pb.usable, pb.encoding)
    if compatible:
        shared: dict[int, bytes] = {}
        pa.share(shared, changed)
        pb.share(shared, changed)
    sa, seen_a = _schema(pa)
    sb, seen_b = _same_schema(pa, pb, sa, seen_a, changed) if compatible else _schema(pb)
    rows = _Rows(pa, pb, sa, sb, changed, compatible)
    rows.side_a.explained |= seen_a
    rows.side_b.explained |= seen_b
    return tuple(diff_schema(sa, sb)), rows.changes()


def _schema(pager: Pager) -> tuple[Schema, set[int]]:
    seen: set[int] = set()
    pager.overflow_seen = seen
    try:
        entries, pages = read_entries(pager)
    finally:
        pager.overflow_seen = None
    return build_schema(pager.header, entries, pages), seen


def _same_schema(
    pa: Pager, pb: Pager, sa: Schema, overflow: set[int], changed: frozenset[int]
) -> tuple[Schema, set[int]]:
    """B's schema, reusing A's when its pages (b-tree past the header, and overflow)
    are byte-identical."""
    same_tree = all(p == 1 or p not in changed for p in sa.pages) and not overflow & changed
    if same_tree and (1 not in changed or pa.raw(1)[100:] == pb.raw(1)[100:]):
        return Schema(pb.header, sa.entries, sa.tables, sa.indexes, sa.pages), set()
    sb, seen = _schema(pb)
    if sb.entries == sa.entries:
        sb = Schema(pb.header, sa.entries, sa.tables, sa.indexes, sb.pages)
    return sb, seen


def _key_order(key: Key) -> tuple[tuple[int, object], ...]:
    return tuple(sort_key(v) for v in key)


def _same(a: Row, b: Row) -> bool:
    return a.keys() == b.keys() and all(type(a[k]) is type(b[k]) and a[k] == b[k] for k in a)


def _change(name: str, key: Key, before: Row | None, after: Row | None) -> RowChange | None:
    if before is None and after is None:
        return None
    if before is None:
        return RowChange(name, key, "insert", None, after)
    if after is None:
        return RowChange(name, key, "delete", before, None)
    return None if _same(before, after) else RowChange(name, key, "update", before, after)


class _Rows:
    """Works out the row changes of every table, pruned where it can be."""

    def __init__(
        self,
        pa: Pager,
        pb: Pager,
        sa: Schema,
        sb: Schema,
        changed: frozenset[int],
        compatible: bool,
    ) -> None:
        self.side_a = Side(pa, sa, changed)
        self.side_b = Side(pb, sb, changed)
        names = {t.name for t in sa.tables if t.has_rows} | {
            t.name for t in sb.tables if t.has_rows
        }
        self.names = sorted(names)
        self.tables = {n: (_find(sa, n), _find(sb, n)) for n in self.names}
        self.pruned = [n for n in self.names if compatible and prunable(*self.tables[n])]
        #: per pruned table, on each side: key -> payload of the rows that may differ
        self.found: dict[str, tuple[dict[Key, bytes], dict[Key, bytes]]] = {}
        #: per pruned table, on each side: the pages those rows were read from
        self.pages: dict[str, tuple[set[int], set[int]]] = {}
        self.stored = 0  # values decoded from records
        self.filled = 0  # values taken from column defaults

    def changes(self) -> Iterator[RowChange]:
        """Every row change, by table name then key (a table's rows dropped once compared)."""
        # Full reads first: the overflow pages they read are then accounted for.
        for name in self.names:
            if name not in self.pruned:
                ta, tb = self.tables[name]
                self.found[name] = (
                    records(self.side_a.pager, ta, self.side_a.explained),
                    records(self.side_b.pager, tb, self.side_b.explained),
                )
        if self.pruned:
            self._prune()
        for name in self.names:
            yield from self._compare_found(name, name in self.pruned)
            del self.found[name]

    def _trees(self, side: Side) -> list[Tree]:
        return [Tree.of_table(t) for t in side.schema.tables if t.has_rows and t.decidable]

    def _prune(self) -> None:
        a, b = self.side_a, self.side_b
        trees_a = {t.name: t for t in self._trees(a)}
        trees_b = {t.name: t for t in self._trees(b)}
        classify(a, list(trees_a.values()))
        classify(b, list(trees_b.values()))
        for name in self.pruned:
            note_children(a, trees_a[name])
            note_children(b, trees_b[name])
        for name in self.pruned:
            ta, tb = trees_a[name], trees_b[name]
            differ = ta.root != tb.root
            pages_a = expand(a, b, ta, tb, differ)
            pages_b = expand(b, a, tb, ta, differ)
            self.pages[name] = ({p.pgno for p in pages_a}, {p.pgno for p in pages_b})
            skip_a, skip_b = narrow(pages_a, pages_b)
            self.found[name] = (
                self._read(a, name, pages_a, cells=skip_a),
                self._read(b, name, pages_b, cells=skip_b),
            )
        self._owners(a, b, trees_a, trees_b)
        self._owners(b, a, trees_b, trees_a)

    def _read(
        self,
        side: Side,
        name: str,
        pages: Sequence[BTreePage],
        into: dict[Key, bytes] | None = None,
        only: int = 0,
        cells: dict[int, list[int]] | None = None,
    ) -> dict[Key, bytes]:
        """key -> payload for the cells of ``pages`` (``only`` the cell whose overflow
        chain starts at that page, if given; of a page in ``cells``, only the cells at
        those offsets); their overflow pages become explained."""
        table = side.schema.table(name)
        pager = side.pager
        out: dict[Key, bytes] = {} if into is None else into
        pager.overflow_seen = side.explained
        try:
            for page in pages:
                offsets = None if cells is None else cells.get(page.pgno)
                found = (
                    page.payload_cells()
                    if offsets is None
                    else [page.payload_cell(o) for o in offsets]
                )
                for cell in found:
                    if only and cell.overflow != only:
                        continue
                    payload = pager.payload(cell, page.pgno)
                    if table.without_rowid:
                        values = row_values(table, decode_record(payload, pager.encoding), None)
                        out[row_key(table, values, None)] = payload
                    else:
                        out[(cell.rowid,)] = payload
        finally:
            pager.overflow_seen = None
        return out

    def _owners(
        self, side: Side, other: Side, trees: dict[str, Tree], other_trees: dict[str, Tree]
    ) -> None:
        """Compare the rows whose overflow chains changed under unchanged pages."""
        rest = explain(side, other)
        if not rest:
            return
        if side.pager.header.auto_vacuum:
            owners = owners_by_ptrmap(side, list(trees.values()), rest)
        else:
            owners = owners_nearby(side, list(trees.values()), rest)
            if rest:
                everything = [Tree.of_table(t) for t in side.schema.tables if t.has_rows]
                everything += [Tree.of_index(i) for i in side.schema.indexes if i.root]
                owners += find_owners(side, everything, rest)
        mine, theirs = (0, 1) if side is self.side_a else (1, 0)
        for tree, pgno, first in owners:
            if tree.name not in self.found or pgno in self.pages[tree.name][mine]:
                continue
            found = self.found[tree.name]
            self._read(side, tree.name, [side.pager.btree(pgno)], found[mine], first)
            page = other.pager.btree(pgno)
            if other.loc.contains(other_trees[tree.name], page):
                self._read(other, tree.name, [page], found[theirs], first)

    def _decode(self, side: Side, name: str, key: Key, payload: bytes | None) -> Row | None:
        if payload is None:
            return None
        table = side.schema.table(name)
        fields = decode_record(payload, side.pager.encoding)
        rowid = key[0] if not table.without_rowid else None
        assert rowid is None or isinstance(rowid, int)
        row = row_values(table, fields, rowid)
        self.stored += len(fields)
        self.filled += max(len(row) - len(fields), 0)
        if self.filled > MAX_FILLED_DEFAULTS and self.filled > self.stored:
            raise DatabaseFormatError(
                f"table {name!r}: its rows would take {self.filled} values from column "
                f"defaults for {self.stored} stored (declares {len(table.columns)} columns)"
            )
        return row

    def _compare_found(self, name: str, pruned: bool) -> Iterator[RowChange]:
        """Changes between the rows found on each side; equal records are equal rows only
        when both sides decode them alike (``pruned``: same layout)."""
        rows_a, rows_b = self.found[name]
        keys = rows_a.keys() | rows_b.keys()
        tables = [t for t in self.tables[name] if t is not None]
        rowid = not any(t.without_rowid for t in tables)  # keys are (int,): plain order
        for key in sorted(keys) if rowid else sorted(keys, key=_key_order):
            pa, pb = rows_a.get(key), rows_b.get(key)
            if pruned and pa == pb:
                continue
            before = self._decode(self.side_a, name, key, pa)
            change = _change(name, key, before, self._decode(self.side_b, name, key, pb))
            if change is not None:
                yield change


def _find(schema: Schema, name: str) -> Table | None:
    try:
        return schema.table(name)
    except KeyError:
        return None
