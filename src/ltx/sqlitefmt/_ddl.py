"""Has SQLite parse stored CREATE statements in a private in-memory database to describe them.

Stored SQL is hostile input: only ``CREATE TABLE`` / ``CREATE [UNIQUE] INDEX`` text is
prepared, under an authorizer that lets it define things and nothing else (no query, no
read of another table, every function call replaced by NULL, so ``AS SELECT`` is refused)
and under SQLite limits that keep one definition to a few MiB. Unknown collations and
functions get inert stand-ins.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Callable
from typing import Any

import attrs

from ltx.errors import DatabaseFormatError
from ltx.sqlitefmt.record import Value

__all__ = ["Ddl", "ColumnInfo", "TableInfo", "FieldInfo"]

#: The statement each kind of ``sqlite_schema`` row may hold (SQLite stores no TEMP, no IF).
_DDL = {
    "table": re.compile(r"\s*CREATE\s+TABLE\b", re.I),
    "index": re.compile(r"\s*CREATE\s+(?:UNIQUE\s+)?INDEX\b", re.I),
}
_LITERAL = re.compile(
    r"""\s*\(?\s*(?:(?P<sign>[-+])\s*)?(?:
        (?P<hex>0[xX][0-9a-fA-F]+) | (?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)
        | '(?P<str>.*)' | [xX]'(?P<blob>[0-9a-fA-F]*)' | (?P<word>NULL|TRUE|FALSE)
    )\s*\)?\s*""",
    re.I | re.X | re.S,
)  # single-character repeats only: memory stays flat however long the literal
_AFFINITIES = ("INTEGER", "TEXT", "BLOB", "REAL", "NUMERIC")
#: What sqlite3 raises for SQL it cannot take (bad text, NUL, several statements...).
_ERRORS = (sqlite3.Error, sqlite3.Warning, ValueError)
_MAX_TICKS = 10_000  # x 1000 virtual-machine steps for a whole schema
_MISSING = re.compile(r"no such (collation sequence|function): (.+)")
#: Bytes of one stored definition (and of any value made from it): far above any real schema.
MAX_DEFINITION = 256 << 10
#: SQLITE_MAX_COLUMN's default: SQLite itself opens no table with more columns.
MAX_COLUMNS = 2000
#: sqlite3_limit() ids and values (the C API's numbers: sqlite3 names them from Python 3.11).
_LIMITS = {
    0: MAX_DEFINITION,  # SQLITE_LIMIT_LENGTH: any string or blob
    1: MAX_DEFINITION,  # SQLITE_LIMIT_SQL_LENGTH
    2: MAX_COLUMNS,  # SQLITE_LIMIT_COLUMN
    3: 250,  # SQLITE_LIMIT_EXPR_DEPTH
    5: 50_000,  # SQLITE_LIMIT_VDBE_OP
    7: 0,  # SQLITE_LIMIT_ATTACHED
    10: 1,  # SQLITE_LIMIT_TRIGGER_DEPTH
    11: 0,  # SQLITE_LIMIT_WORKER_THREADS
}
#: What a definition does to the scratch database: define, and record itself in sqlite_schema.
_DEFINE = (sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_CREATE_INDEX)
_RECORD = (sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_READ)
_SCHEMA_TABLES = ("sqlite_master", "sqlite_schema")


@attrs.frozen(slots=True)
class ColumnInfo:
    """A row of ``PRAGMA table_xinfo``."""

    name: str
    decl_type: str
    default_sql: str | None
    pk: int
    hidden: int


@attrs.frozen(slots=True)
class FieldInfo:
    """A row of ``PRAGMA index_xinfo``: table column number (-1 rowid, -2 expression)."""

    cid: int
    name: str | None
    descending: bool
    collation: str
    key: bool


@attrs.frozen(slots=True)
class TableInfo:
    """What a CREATE TABLE declares; ``pk_fields`` only for WITHOUT ROWID tables."""

    columns: tuple[ColumnInfo, ...]
    strict: bool
    pk_index: str | None
    pk_fields: tuple[FieldInfo, ...] | None


_ACTION_NAMES = {
    sqlite3.SQLITE_SELECT: "run a query (AS SELECT)",
    sqlite3.SQLITE_CREATE_TABLE: "define another table than its row names",
    sqlite3.SQLITE_CREATE_INDEX: "index another table than its row names",
    sqlite3.SQLITE_READ: "read another table",
    sqlite3.SQLITE_PRAGMA: "run a PRAGMA",
    sqlite3.SQLITE_ATTACH: "attach a database",
    sqlite3.SQLITE_CREATE_VIEW: "create a view",
    sqlite3.SQLITE_CREATE_TRIGGER: "create a trigger",
}


def _stub_collation(a: str, b: str) -> int:
    return (a > b) - (a < b)


class Ddl:
    """A scratch in-memory database that the schema's CREATE statements are replayed into."""

    def __init__(self) -> None:
        self.con = sqlite3.connect(":memory:", isolation_level=None)
        setlimit: Callable[[int, int], int] | None = getattr(self.con, "setlimit", None)
        for limit, value in _LIMITS.items():
            if setlimit is not None:  # Python 3.11+; MAX_DEFINITION is checked here anyway
                setlimit(limit, value)
        self.con.set_authorizer(self._authorize)
        # Stored CREATE statements do no real work; cap what a malicious one could do.
        self.con.set_progress_handler(self._tick, 1000)
        self._ticks = 0
        #: While stored SQL runs: the tables it may read (its own); None for our own queries.
        self._subject: tuple[str, ...] | None = None
        self._denied: list[str] = []
        self.con.execute("PRAGMA writable_schema=ON")  # allows the sqlite_* internal tables

    def _authorize(
        self, action: int, arg1: str | None, arg2: str | None, _db: str | None, _trig: str | None
    ) -> int:
        """Let stored SQL define a table or index and nothing else; calls become NULL."""
        if self._subject is None:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_REINDEX:
            return sqlite3.SQLITE_OK
        defined = arg1 if action == sqlite3.SQLITE_CREATE_TABLE else arg2
        defined = (defined or "").casefold()
        if action in _DEFINE and (defined in self._subject or defined == "sqlite_sequence"):
            return sqlite3.SQLITE_OK  # the row's table, an index on it, AUTOINCREMENT's table
        table = (arg1 or "").casefold()
        if action in _RECORD and table in _SCHEMA_TABLES:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ and table in self._subject:
            return sqlite3.SQLITE_OK  # a CHECK, generated column or index naming its columns
        if action == sqlite3.SQLITE_FUNCTION:
            return sqlite3.SQLITE_IGNORE  # parsed, never called
        self._denied.append(_ACTION_NAMES.get(action, f"action {action}"))
        return sqlite3.SQLITE_DENY

    def _tick(self) -> int:
        self._ticks += 1
        return 1 if self._ticks > _MAX_TICKS else 0

    def close(self) -> None:
        """Drop the scratch database."""
        self.con.close()

    def forget(self, table: str) -> None:
        """Drop ``table`` (and its indexes) once described: one definition in memory."""
        quoted = '"' + table.replace('"', '""') + '"'
        with contextlib.suppress(*_ERRORS):
            self.con.execute(f"DROP TABLE IF EXISTS {quoted}")

    def _run(self, sql: str, what: str, kind: str, subject: str, strict: bool = True) -> bool:
        """Have SQLite define ``sql`` (a ``kind`` row); it may read only table ``subject``.

        SQL that does more than define raises DatabaseFormatError; SQL that SQLite cannot
        parse raises it too when ``strict``, else gives False.
        """
        if not _DDL[kind].match(sql):
            raise DatabaseFormatError(f"{what}: stored SQL is not a CREATE {kind.upper()}")
        if len(sql) > MAX_DEFINITION:
            raise DatabaseFormatError(f"{what}: stored SQL longer than {MAX_DEFINITION} bytes")
        self._subject = (subject.casefold(),)
        try:
            self._define(sql, what)
        except DatabaseFormatError:
            if strict or self._denied:
                raise
            return False
        finally:
            self._subject = None
            self._denied.clear()
        return True

    def _define(self, sql: str, what: str) -> None:
        for _ in range(64):
            try:
                self.con.execute(sql)
                return
            except _ERRORS as exc:
                msg = str(exc)
                if self._denied:
                    raise DatabaseFormatError(
                        f"{what}: its SQL is not a plain definition (it would "
                        f"{', '.join(dict.fromkeys(self._denied))}; SQLite never stores that)"
                    ) from None
                missing = _MISSING.match(msg)
                if missing and missing.group(1) == "function":
                    self.con.create_function(missing.group(2), -1, lambda *a: None)
                elif missing:
                    self.con.create_collation(missing.group(2), _stub_collation)
                elif "already exists" in msg:
                    return
                else:
                    raise DatabaseFormatError(f"{what}: cannot parse its SQL ({msg})") from None
        raise DatabaseFormatError(f"{what}: too many unknown names in its SQL")

    def _query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        try:
            return self.con.execute(sql, args).fetchall()
        except _ERRORS as exc:
            raise DatabaseFormatError(f"cannot describe {args!r}: {exc}") from None

    def describe_table(self, name: str, sql: str) -> TableInfo:
        """Columns, strictness and primary-key index of table ``name`` created by ``sql``."""
        self._run(sql, f"sqlite_schema row table {name!r}", "table", name)
        cols = tuple(
            ColumnInfo(n, t or "", d, pk, hidden)
            for n, t, d, pk, hidden in self._query(
                "SELECT name, type, dflt_value, pk, hidden FROM pragma_table_xinfo(?)", name
            )
        )
        if not cols:
            raise DatabaseFormatError(f"table {name!r}: no columns")
        try:
            strict = bool(self._query("SELECT strict FROM pragma_table_list(?)", name)[0][0])
        except (DatabaseFormatError, IndexError):
            strict = False
        pk_index = None
        for iname, origin in self._query("SELECT name, origin FROM pragma_index_list(?)", name):
            if origin == "pk":
                pk_index = iname
        fields = self.describe_index(pk_index, None) if pk_index else ()
        wr = bool(fields) and all(f.cid >= 0 for f in fields)
        return TableInfo(cols, strict, pk_index, fields if wr else None)

    def describe_index(self, name: str, sql: str | None, table: str = "") -> tuple[FieldInfo, ...]:
        """Fields of index ``name`` on ``table`` (defining ``sql`` first); () if unknowable.

        SQL that is not a plain index definition raises DatabaseFormatError.
        """
        if sql and not self._run(sql, f"sqlite_schema row index {name!r}", "index", table, False):
            return ()
        try:
            rows = self._query("SELECT cid, name, desc, coll, key FROM pragma_index_xinfo(?)", name)
        except DatabaseFormatError:
            return ()
        return tuple(
            FieldInfo(c, n, bool(d), (coll or "BINARY").upper(), bool(k))
            for c, n, d, coll, k in rows
        )

    def evaluate_default(self, default_sql: str | None, affinity: str) -> Value:
        """The value SQLite gives a literal DEFAULT (as for rows predating ADD COLUMN).

        As sqlite3ValueFromExpr: a number is its token text (an int if it fits 32 bits),
        then the column affinity applies (NUMERIC for numbers in BLOB columns).
        Anything but a literal gives None.
        """
        m = _LITERAL.fullmatch(default_sql or "")
        if m is None or affinity not in _AFFINITIES:
            return None
        neg = m["sign"] == "-"
        value: Value
        if m["word"]:
            word = m["word"].upper()
            return None if word == "NULL" else int(word == "TRUE")  # no affinity applied
        elif m["blob"] is not None:
            value = bytes.fromhex(m["blob"]) if len(m["blob"]) % 2 == 0 else None
        elif m["str"] is not None:
            if "'" in m["str"].replace("''", ""):
                return None  # not one string literal (a lone quote inside)
            value = m["str"].replace("''", "'")
        else:
            token = m["hex"] or m["num"]
            small = _int32(token)
            value = (
                (-small if neg else small) if small is not None else ("-" if neg else "") + token
            )
            if affinity == "BLOB":
                affinity = "NUMERIC"
        return self._with_affinity(value, affinity)

    def _with_affinity(self, value: Value, affinity: str) -> Value:
        table = f"temp._ltx_default_{affinity.lower()}"
        try:
            self.con.execute(f"CREATE TABLE IF NOT EXISTS {table}(v {affinity})")
            self.con.execute(f"DELETE FROM {table}")
            self.con.execute(f"INSERT INTO {table} VALUES (?)", (value,))
            got: Value = self.con.execute(f"SELECT v FROM {table}").fetchone()[0]
        except _ERRORS:
            return None
        return got


def _int32(token: str) -> int | None:
    """The token's value when SQLite keeps it as a 32-bit integer (sqlite3GetInt32)."""
    try:
        v = int(token, 16) if token[:2] in ("0x", "0X") else int(token)
    except ValueError:
        return None
    return v if v < 2**31 else None
