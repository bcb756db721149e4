"""Hostile database images: stored SQL is never run, memory stays bounded, errors are typed.

Each case is measured in a fresh interpreter (``tests.fuzz.hostile.measure``: peak RSS
from VmHWM over the footprint after imports) and must stay under 64 MiB of growth.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ltx.errors import DatabaseFormatError
from ltx.sqlitefmt import Pager, read_schema
from tests.fuzz.hostile import Measured, measure
from tests.test_sqlitefmt_util import pages_of

BOUND_MIB = 64
BIG = 200_000_000

#: Read the schema and every row of b.db, and diff a.db (clean) against it.
_READ_AND_DIFF = """
from ltx.sqlitefmt import Pager, diff_database, iter_rows, read_schema
from tests.test_sqlitefmt_util import changed_pages, pages_of
with open(os.path.join(path, "a.db"), "rb") as f:
    a = f.read()
with open(os.path.join(path, "b.db"), "rb") as f:
    b = f.read()
try:
    pager = Pager(pages_of(b))
    schema = read_schema(pager)
    for table in schema.tables:
        if table.has_rows:
            for _ in iter_rows(pager, table, schema):
                pass
finally:
    d = diff_database(pages_of(a), pages_of(b), changed_pages(a, b))
    for _ in d.rows:
        pass
"""


def write_db(path: Path, script: str, *, edits: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A database made by ``script``, then ``sqlite_schema.sql`` rewritten per (name, sql)."""
    con = sqlite3.connect(path)
    con.executescript(script)
    con.commit()
    if edits:
        con.execute("PRAGMA writable_schema=ON")
        for name, sql in edits:
            con.execute("UPDATE sqlite_schema SET sql=? WHERE name=?", (sql, name))
        con.commit()
    con.close()
    return path.read_bytes()


def hostile_pair(tmp_path: Path, script: str, edits: tuple[tuple[str, str], ...]) -> Path:
    """A folder with a.db (``script``) and b.db (the same with ``edits`` to its schema)."""
    write_db(tmp_path / "a.db", script)
    write_db(tmp_path / "b.db", script, edits=edits)
    return tmp_path


def measure_pair(folder: Path) -> Measured:
    return measure(_READ_AND_DIFF, folder)


_ONE_TABLE = "CREATE TABLE t(a); INSERT INTO t VALUES (1), ('x');"


@pytest.mark.parametrize(
    "select",
    [
        f"SELECT zeroblob({BIG}) AS a",
        f"SELECT randomblob({BIG}) AS a",
        f"SELECT printf('%.*c', {BIG}, 'x') AS a",
        f"VALUES (zeroblob({BIG}))",
        f"WITH c(x) AS (SELECT zeroblob({BIG})) SELECT x AS a FROM c",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x AS a FROM c",
    ],
)
def test_create_table_as_select_is_refused_not_run(tmp_path: Path, select: str) -> None:
    got = measure_pair(hostile_pair(tmp_path, _ONE_TABLE, (("t", f"CREATE TABLE t AS {select}"),)))
    assert got.error == "DatabaseFormatError" and got.rss_mib < BOUND_MIB, got


def test_refusal_names_the_schema_row(tmp_path: Path) -> None:
    image = write_db(
        tmp_path / "b.db", _ONE_TABLE, edits=(("t", "CREATE TABLE t AS SELECT 1 AS a"),)
    )
    with pytest.raises(DatabaseFormatError, match=r"sqlite_schema row table 't'.*AS SELECT"):
        read_schema(Pager(pages_of(image)))


@pytest.mark.parametrize(
    ("name", "sql"),
    [
        ("t", "CREATE VIEW t AS SELECT zeroblob(200000000)"),
        ("t", "CREATE TEMP TABLE t(a)"),
        ("t", "CREATE TABLE t(a); SELECT zeroblob(200000000)"),
        ("t", "CREATE TABLE t(a CHECK((SELECT count(*) FROM sqlite_schema)))"),
        ("i", "CREATE TABLE i(a)"),
        ("i", "CREATE INDEX i ON u(b)"),
    ],
)
def test_anything_but_a_plain_definition_is_a_format_error(
    tmp_path: Path, name: str, sql: str
) -> None:
    script = _ONE_TABLE + "CREATE TABLE u(b); CREATE INDEX i ON t(a);"
    image = write_db(tmp_path / "b.db", script, edits=((name, sql),))
    with pytest.raises(DatabaseFormatError, match=f"sqlite_schema row (table|index) '{name}'"):
        read_schema(Pager(pages_of(image)))


@pytest.mark.parametrize(
    "sql",
    [
        f"CREATE TABLE t(a DEFAULT (zeroblob({BIG})))",
        f"CREATE TABLE t(a CHECK (length(zeroblob({BIG})) > 0))",
        f"CREATE TABLE t(a, b AS (randomblob({BIG})))",
        f"CREATE TABLE t(a, b AS (printf('%.*c', {BIG}, 'x')) STORED)",
    ],
)
def test_expressions_in_definitions_are_never_evaluated(tmp_path: Path, sql: str) -> None:
    got = measure_pair(hostile_pair(tmp_path, _ONE_TABLE, (("t", sql),)))
    assert got.error in (None, "DatabaseFormatError") and got.rss_mib < BOUND_MIB, got


def test_expression_index_is_never_evaluated(tmp_path: Path) -> None:
    script = _ONE_TABLE + "CREATE INDEX i ON t(a);"
    sql = f"CREATE INDEX i ON t(zeroblob({BIG})) WHERE randomblob({BIG}) IS NOT NULL"
    got = measure_pair(hostile_pair(tmp_path, script, (("i", sql),)))
    assert got.error in (None, "DatabaseFormatError") and got.rss_mib < BOUND_MIB, got


def test_real_definitions_still_describe(tmp_path: Path) -> None:
    """CHECKs, generated columns, expression and partial indexes read as before."""
    image = write_db(
        tmp_path / "ok.db",
        "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT CHECK (length(a) < 99),"
        " b AS (upper(a)), c DEFAULT (lower('X')));"
        "CREATE INDEX ia ON t(a COLLATE NOCASE DESC);"
        "CREATE INDEX ie ON t(lower(a)) WHERE id > 3;"
        "CREATE TABLE w(x, y, PRIMARY KEY (x, y)) WITHOUT ROWID;",
    )
    schema = read_schema(Pager(pages_of(image)))
    t = schema.table("t")
    assert [c.name for c in t.columns] == ["id", "a", "b", "c"]
    assert t.rowid_alias == "id"
    ia = schema.index("ia")
    assert (ia.fields[0].column, ia.fields[0].collation, ia.fields[0].descending) == (
        "a",
        "NOCASE",
        True,
    )
    assert schema.index("ie").fields[0].column is None
    assert schema.table("w").without_rowid
