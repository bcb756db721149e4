"""The schema: ``sqlite_schema`` rows and what each table's records look like on disk.

Column lists, primary keys and index orderings come from replaying each stored
``CREATE`` statement in a private in-memory ``sqlite3`` connection and reading
``PRAGMA table_xinfo`` / ``index_list`` / ``index_xinfo`` (SQLite parses its own SQL).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from ltx.errors import DatabaseFormatError
from ltx.sqlitefmt._ddl import Ddl, FieldInfo
from ltx.sqlitefmt.btree import iter_cells
from ltx.sqlitefmt.header import DatabaseHeader
from ltx.sqlitefmt.pager import PageFn, Pager
from ltx.sqlitefmt.record import KNOWN_COLLATIONS, Value, column_affinity, decode_record

__all__ = ["Column", "KeyField", "Table", "Index", "SchemaEntry", "Schema", "read_schema"]

#: Slot markers in :attr:`Table.storage`: the rowid alias, and a virtual generated column.
ROWID_SLOT = -1
NOT_STORED = -2


@attrs.frozen(slots=True)
class Column:
    """A declared column; ``default`` fills records written before ALTER TABLE ADD COLUMN."""

    name: str
    decl_type: str = ""
    affinity: str = "BLOB"
    default_sql: str | None = None
    default: Value = None
    hidden: int = 0
    pk: int = 0


@attrs.frozen(slots=True)
class KeyField:
    """One field of an index record; ``column`` is None for the rowid or an expression."""

    column: str | None
    collation: str = "BINARY"
    descending: bool = False


@attrs.frozen(slots=True)
class Table:
    """A table and its on-disk layout.

    ``storage[i]`` is the record slot of ``columns[i]`` (``ROWID_SLOT`` for the INTEGER
    PRIMARY KEY alias, ``NOT_STORED`` for virtual generated columns). WITHOUT ROWID
    tables live in an index b-tree ordered by ``key_fields`` (the primary key).
    """

    name: str
    root: int
    sql: str | None
    columns: tuple[Column, ...] = ()
    storage: tuple[int, ...] = ()
    without_rowid: bool = False
    rowid_alias: str | None = None
    primary_key: tuple[str, ...] = ()
    key_fields: tuple[KeyField, ...] = ()
    virtual: bool = False

    @property
    def has_rows(self) -> bool:
        """False for virtual tables (no b-tree of their own)."""
        return not self.virtual and self.root > 0

    @property
    def decidable(self) -> bool:
        """True when this reader can order keys itself (only built-in collations)."""
        return all(f.collation in KNOWN_COLLATIONS for f in self.key_fields)

    @property
    def layout(self) -> tuple[object, ...]:
        """Everything that decides how a record decodes; equal layouts decode alike."""
        return (
            self.columns,
            self.storage,
            self.without_rowid,
            self.rowid_alias,
            self.primary_key,
            self.key_fields,
            self.virtual,
        )


@attrs.frozen(slots=True)
class Index:
    """An index; ``fields`` are its record fields (key columns, then rowid or PK columns)."""

    name: str
    table: str
    root: int
    sql: str | None
    fields: tuple[KeyField, ...] = ()

    @property
    def decidable(self) -> bool:
        """True when the fields are known and use only built-in collations."""
        return bool(self.fields) and all(f.collation in KNOWN_COLLATIONS for f in self.fields)


@attrs.frozen(slots=True)
class SchemaEntry:
    """One row of ``sqlite_schema``."""

    type: str
    name: str
    tbl_name: str
    rootpage: int
    sql: str | None


@attrs.frozen(slots=True)
class Schema:
    """The database header, the ``sqlite_schema`` rows and the tables and indexes they define.

    ``pages`` are the pages of the ``sqlite_schema`` b-tree itself.
    """

    header: DatabaseHeader
    entries: tuple[SchemaEntry, ...]
    tables: tuple[Table, ...]
    indexes: tuple[Index, ...]
    pages: frozenset[int] = frozenset()

    def table(self, name: str) -> Table:
        """The table called ``name`` (KeyError if there is none)."""
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

    def index(self, name: str) -> Index:
        """The index called ``name`` (KeyError if there is none)."""
        for i in self.indexes:
            if i.name == name:
                return i
        raise KeyError(name)


def _entry(values: Sequence[Value], pgno: int) -> SchemaEntry:
    v = list(values[:5]) + [None] * (5 - min(len(values), 5))
    kind, name, tbl, root, sql = v
    if not (isinstance(kind, str) and isinstance(name, str) and isinstance(tbl, str)):
        raise DatabaseFormatError("sqlite_schema row without type or name", pgno=pgno)
    if root is None:
        root = 0
    if not isinstance(root, int) or not 0 <= root <= 0xFFFFFFFF:
        raise DatabaseFormatError(f"schema object {name!r} has root page {root!r}", pgno=pgno)
    if sql is not None and not isinstance(sql, str):
        raise DatabaseFormatError(f"schema object {name!r} has non-text SQL", pgno=pgno)
    return SchemaEntry(kind, name, tbl, root, sql)


def read_entries(pager: Pager) -> tuple[list[SchemaEntry], frozenset[int]]:
    """Every ``sqlite_schema`` row (page 1's tree) and the pages that tree occupies."""
    entries = []
    pages = {1}
    for pgno, cell in iter_cells(pager, 1, table=True):
        pages.add(pgno)
        payload = pager.payload(cell, pgno)
        entries.append(_entry(decode_record(payload, pager.encoding, pgno), pgno))
    return entries, frozenset(pages)


def build_schema(
    header: DatabaseHeader, entries: Sequence[SchemaEntry], pages: frozenset[int] = frozenset()
) -> Schema:
    """Describe every table and index named by ``entries``.

    Each table is described with its indexes, then dropped from the scratch database,
    so memory holds one definition at a time however many the schema has.
    """
    _check_roots(entries)
    tables: dict[int, Table] = {}
    indexes: dict[int, Index] = {}
    of_table: dict[str, list[tuple[int, SchemaEntry]]] = {}
    for i, e in enumerate(entries):
        if e.type == "index":
            of_table.setdefault(e.tbl_name.casefold(), []).append((i, e))
    ddl = Ddl()
    try:
        for i, e in enumerate(entries):
            if e.type == "table":
                tables[i] = _table(ddl, e)
                for j, ix in of_table.pop(e.name.casefold(), []):
                    indexes[j] = _index(ddl, ix)
                ddl.forget(e.name)
        for j, ix in (x for rest in of_table.values() for x in rest):
            indexes[j] = _index(ddl, ix)  # of no table: undescribable
    finally:
        ddl.close()
    return Schema(
        header,
        tuple(entries),
        tuple(tables[i] for i in sorted(tables)),
        tuple(indexes[j] for j in sorted(indexes)),
        pages,
    )


def _check_roots(entries: Sequence[SchemaEntry]) -> None:
    """Each b-tree has one owner (SQLite's integrity_check: "2nd reference to page")."""
    owner: dict[int, SchemaEntry] = {}
    for e in entries:
        if e.rootpage == 0:
            continue
        first = owner.setdefault(e.rootpage, e)
        if e.rootpage == 1 or first is not e:
            claims = "sqlite_schema" if e.rootpage == 1 else f"{first.type} {first.name!r}"
            raise DatabaseFormatError(
                f"sqlite_schema row {e.type} {e.name!r} claims root page {e.rootpage}, "
                f"already the root of {claims}",
                pgno=e.rootpage,
            )


def read_schema(page: PageFn | Pager) -> Schema:
    """Read the header and the schema of the database behind ``page``."""
    pager = page if isinstance(page, Pager) else Pager(page)
    entries, pages = read_entries(pager)
    return build_schema(pager.header, entries, pages)


def _table(ddl: Ddl, e: SchemaEntry) -> Table:
    sql = e.sql or ""
    if e.rootpage == 0 or sql.lstrip()[:14].upper().startswith("CREATE VIRTUAL"):
        return Table(e.name, e.rootpage, e.sql, virtual=True)
    info = ddl.describe_table(e.name, sql)
    columns = tuple(
        Column(
            c.name,
            c.decl_type,
            _affinity(c.decl_type, info.strict),
            c.default_sql,
            ddl.evaluate_default(c.default_sql, _affinity(c.decl_type, info.strict)),
            c.hidden,
            c.pk,
        )
        for c in info.columns
    )
    pk = tuple(c.name for c in sorted((c for c in columns if c.pk), key=lambda c: c.pk))
    if info.pk_fields is not None:  # WITHOUT ROWID: the record is the PK index's
        slot = {f.cid: i for i, f in enumerate(info.pk_fields)}
        storage = tuple(slot.get(i, NOT_STORED) for i in range(len(columns)))
        keys = tuple(_field(f) for f in info.pk_fields if f.key)
        return Table(e.name, e.rootpage, e.sql, columns, storage, True, None, pk, keys)
    alias = None
    pk_types = [c.decl_type.upper() for c in columns if c.pk]
    if pk_types == ["INTEGER"] and not info.pk_index:
        alias = pk[0]
    slots: list[int] = []
    n = 0
    for c in columns:
        if c.hidden == 2:
            slots.append(NOT_STORED)
            continue
        slots.append(ROWID_SLOT if c.name == alias else n)
        n += 1
    return Table(e.name, e.rootpage, e.sql, columns, tuple(slots), False, alias, pk)


def _affinity(decl_type: str, strict: bool) -> str:
    if strict and decl_type.upper() == "ANY":
        return "BLOB"
    return column_affinity(decl_type)


def _index(ddl: Ddl, e: SchemaEntry) -> Index:
    fields = ddl.describe_index(e.name, e.sql, e.tbl_name) if e.rootpage else ()
    return Index(e.name, e.tbl_name, e.rootpage, e.sql, tuple(_field(f) for f in fields))


def _field(f: FieldInfo) -> KeyField:
    return KeyField(f.name if f.cid >= 0 else None, f.collation, f.descending)
