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
from tests.sqlitefmt.test_sqlitefmt_util import pages_of

BOUND_MIB = 64
BIG = 200_000_000

#: Read the schema and every row of b.db, and diff a.db (clean) against it.
_READ_AND_DIFF = """
from ltx.sqlitefmt import Pager, diff_database, iter_rows, read_schema
from tests.sqlitefmt.test_sqlitefmt_util import changed_pages, pages_of
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
        ("t", "CREATE TABLE u(b)"),
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


def test_index_row_naming_another_table_is_left_undescribed(tmp_path: Path) -> None:
    """Only its own table is defined when an index row's SQL runs: the index is unknown."""
    script = _ONE_TABLE + "CREATE TABLE u(b); CREATE INDEX i ON t(a);"
    image = write_db(tmp_path / "b.db", script, edits=(("i", "CREATE INDEX i ON u(b)"),))
    index = read_schema(Pager(pages_of(image))).index("i")
    assert index.fields == () and not index.decidable


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


# -- memory bounded for any schema -------------------------------------------------------

_ROWS = (
    "CREATE TABLE t(a);"
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000)"
    " INSERT INTO t SELECT x FROM c;"
)


def test_schema_rows_aliasing_one_root_page_are_a_format_error(tmp_path: Path) -> None:
    """500 rows naming t's b-tree: SQLite's integrity_check calls it a 2nd reference."""
    script = (
        _ROWS
        + "PRAGMA writable_schema=ON;"
        + "".join(
            f"INSERT INTO sqlite_schema VALUES ('table', 'x{i}', 'x{i}',"
            f" (SELECT rootpage FROM sqlite_schema WHERE name = 't'), 'CREATE TABLE x{i}(a)');"
            for i in range(500)
        )
    )
    write_db(tmp_path / "a.db", _ROWS)
    image = write_db(tmp_path / "b.db", script)
    with pytest.raises(DatabaseFormatError, match=r"row table 'x0' claims root page \d+"):
        read_schema(Pager(pages_of(image)))
    got = measure_pair(tmp_path)
    assert got.error == "DatabaseFormatError" and got.rss_mib < BOUND_MIB, got


def test_schema_row_claiming_page_one_is_a_format_error(tmp_path: Path) -> None:
    image = write_db(
        tmp_path / "b.db",
        _ONE_TABLE + "PRAGMA writable_schema=ON;"
        "UPDATE sqlite_schema SET rootpage = 1 WHERE name = 't';",
    )
    with pytest.raises(DatabaseFormatError, match="already the root of sqlite_schema"):
        read_schema(Pager(pages_of(image)))


@pytest.mark.parametrize("size", [100_000, 250_000])
def test_huge_default_is_read_once_not_per_row(tmp_path: Path, size: int) -> None:
    """A 100 KB (and 250 KB, near the SQL limit here) DEFAULT: right rows, bounded memory."""
    sql = f"CREATE TABLE t(a, b DEFAULT '{'x' * size}')"
    folder = hostile_pair(tmp_path, _ROWS, (("t", sql),))
    got = measure_pair(folder)
    assert got.error is None and got.rss_mib < BOUND_MIB, got
    schema = read_schema(Pager(pages_of((folder / "b.db").read_bytes())))
    assert schema.table("t").columns[1].default == "x" * size


def test_definition_longer_than_the_limit_is_a_format_error(tmp_path: Path) -> None:
    sql = f"CREATE TABLE t(a, b DEFAULT '{'x' * 300_000}')"
    got = measure_pair(hostile_pair(tmp_path, _ROWS, (("t", sql),)))
    assert got.error == "DatabaseFormatError" and got.rss_mib < BOUND_MIB, got


def test_definitions_of_many_tiny_tokens_stay_bounded(tmp_path: Path) -> None:
    """Three tables each declaring a CHECK of 130,000 list items (~256 KiB of SQL, the
    limit): SQLite's parse trees cost ~300 bytes a token, and one definition is kept at
    a time."""
    check = "(a CHECK (a IN (" + ",".join(["1"] * 130_000) + ")))"
    script = "CREATE TABLE t(a); CREATE TABLE u(a); CREATE TABLE v(a); INSERT INTO t VALUES (1);"
    edits = tuple((n, f"CREATE TABLE {n}{check}") for n in "tuv")
    got = measure_pair(hostile_pair(tmp_path, script, edits))
    assert got.error is None and got.rss_mib < BOUND_MIB, got


def test_table_redeclared_with_2000_columns_stays_bounded(tmp_path: Path) -> None:
    """2,000 rows of one stored field under 2,000 declared columns: 4M defaults refused."""
    sql = "CREATE TABLE t(a, " + ", ".join(f"c{i} DEFAULT {i}" for i in range(1999)) + ")"
    got = measure_pair(hostile_pair(tmp_path, _ROWS, (("t", sql),)))
    assert got.error == "DatabaseFormatError" and got.rss_mib < BOUND_MIB, got


def test_more_columns_than_sqlite_allows_is_a_format_error(tmp_path: Path) -> None:
    sql = "CREATE TABLE t(a, " + ", ".join(f"c{i}" for i in range(2000)) + ")"
    image = write_db(tmp_path / "b.db", _ROWS, edits=(("t", sql),))
    with pytest.raises(DatabaseFormatError, match="too many columns"):
        read_schema(Pager(pages_of(image)))


def test_added_columns_over_few_rows_still_diff(tmp_path: Path) -> None:
    """Below the bound, a table re-declared with many columns diffs correctly."""
    from ltx.sqlitefmt import diff_database
    from tests.sqlitefmt.test_sqlitefmt_util import changed_pages

    sql = "CREATE TABLE t(a, " + ", ".join(f"c{i} DEFAULT {i}" for i in range(99)) + ")"
    hostile_pair(tmp_path, _ROWS, (("t", sql),))
    a, b = (tmp_path / "a.db").read_bytes(), (tmp_path / "b.db").read_bytes()
    d = diff_database(pages_of(a), pages_of(b), changed_pages(a, b))
    assert len(d.rows) == 2000 and all(c.op == "update" for c in d.rows)
    assert d.rows[0].after == {"a": 1, **{f"c{i}": i for i in range(99)}}
