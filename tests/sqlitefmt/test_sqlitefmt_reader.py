"""ltx.sqlitefmt reads every row exactly as SQLite's own SELECT returns it."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from ltx.sqlitefmt import Pager, iter_index, iter_rows, read_schema
from tests.sqlitefmt.test_sqlitefmt_util import image_of, oracle_rows, pages_of, q, tagged

TYPES = ["INTEGER", "REAL", "TEXT", "BLOB", "", "NUMERIC", "VARCHAR(20)", "DOUBLE"]
PAGE_SIZES = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]

_big_text = st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=4), st.integers(0, 2500))
_big_blob = st.builds(
    lambda b, n: (b * n)[:n], st.binary(min_size=1, max_size=6), st.integers(0, 9000)
)
VALUES = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-300, 300),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.binary(max_size=20),
    _big_text,
    _big_blob,
)
KEYS = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.text(min_size=1, max_size=12),
    st.builds(lambda n, s: "k" * n + s, st.integers(0, 3000), st.text(max_size=3)),
)
LITERALS = ["7", "-2.5", "'abc'", "X'00ff'", "NULL", "'12'", "1e3"]


@st.composite
def table_spec(draw, name: str):
    kind = draw(st.sampled_from(["rowid", "alias", "wr"]))
    cols = [(f"c{i}", draw(st.sampled_from(TYPES))) for i in range(draw(st.integers(1, 4)))]
    npk = draw(st.integers(1, min(2, len(cols)))) if kind == "wr" else 0
    collate = draw(st.sampled_from(["", " COLLATE NOCASE", " COLLATE RTRIM", " DESC"]))
    defs = [f"{c} {t}" for c, t in cols]
    if kind == "alias":
        defs.insert(0, "id INTEGER PRIMARY KEY")
    if kind == "wr":
        pk = ", ".join(f"{c}{collate if i == 0 else ''}" for i, (c, _) in enumerate(cols[:npk]))
        defs.append(f"PRIMARY KEY({pk})")
    sql = f"CREATE TABLE {name}({', '.join(defs)})" + (" WITHOUT ROWID" if kind == "wr" else "")
    rows = draw(st.lists(st.lists(VALUES, min_size=len(cols), max_size=len(cols)), max_size=25))
    if kind == "wr":
        for row in rows:
            for i in range(npk):
                row[i] = draw(KEYS)
    return {"name": name, "kind": kind, "cols": cols, "sql": sql, "rows": rows, "npk": npk}


@st.composite
def database_spec(draw):
    return {
        "page_size": draw(st.sampled_from(PAGE_SIZES)),
        "encoding": draw(st.sampled_from(["UTF-8", "UTF-8", "UTF-16le", "UTF-16be"])),
        "auto_vacuum": draw(st.sampled_from([0, 0, 1, 2])),
        "tables": [draw(table_spec(f"t{i}")) for i in range(draw(st.integers(1, 3)))],
        "index": draw(st.booleans()),
        "delete_every": draw(st.integers(0, 4)),
        "vacuum": draw(st.booleans()),
        "add_column": draw(st.sampled_from([None, *LITERALS])),
    }


def insert(con: sqlite3.Connection, t: dict, rows: list, extra: int = 0) -> None:
    names = [c for c, _ in t["cols"]]
    if extra:
        names.append("added")
    marks = ", ".join("?" * len(names))
    sql = f"INSERT OR REPLACE INTO {t['name']}({', '.join(names)}) VALUES ({marks})"
    for row in rows:
        con.execute(sql, [*row, *(["extra"] * extra)])


def build(path: Path, spec: dict) -> sqlite3.Connection:
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")  # the file is read back, never crashed: no fsync
    con.execute(f"PRAGMA page_size={spec['page_size']}")
    con.execute(f"PRAGMA encoding='{spec['encoding']}'")
    con.execute(f"PRAGMA auto_vacuum={spec['auto_vacuum']}")
    for t in spec["tables"]:
        con.execute(t["sql"])
        if spec["index"]:
            con.execute(f"CREATE INDEX {t['name']}_ix ON {t['name']}({t['cols'][-1][0]})")
        insert(con, t, t["rows"])
    con.commit()
    if spec["delete_every"]:
        for t in spec["tables"]:
            con.execute(
                f"DELETE FROM {t['name']} WHERE abs(random()) % {spec['delete_every'] + 1} = 0"
            )
        con.commit()
    if spec["add_column"] is not None:
        t = spec["tables"][0]
        con.execute(f"ALTER TABLE {t['name']} ADD COLUMN added TEXT DEFAULT {spec['add_column']}")
        insert(con, t, t["rows"][:2], extra=1)
        t["cols"] = [*t["cols"], ("added", "TEXT")]
        con.commit()
    if spec["vacuum"]:
        con.execute("VACUUM")
    return con


def check_image(image: bytes, con: sqlite3.Connection) -> None:
    expected = oracle_rows(con)
    schema = read_schema(pages_of(image))
    pager = Pager(pages_of(image))
    for name, rows in expected.items():
        got = list(iter_rows(pager, name, schema))
        assert {k: tagged(v) for k, v in got} == {k: tagged(v) for k, v in rows.items()}, name
        if not schema.table(name).without_rowid:
            assert [k for k, _ in got] == sorted(k for k, _ in got)
    for ix in schema.indexes:
        entries = list(iter_index(pager, ix, schema))
        assert len(entries) == len(expected[ix.table]), ix.name


@settings(max_examples=60)
@given(database_spec())
def test_rows_match_sqlite(spec):
    for t in spec["tables"]:
        event(f"kind {t['kind']}")
        if any(
            isinstance(v, (str, bytes)) and len(v) > spec["page_size"] // 2
            for r in t["rows"]
            for v in r
        ):
            event("overflowing rows")
    event(f"encoding {spec['encoding']}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "db"
        con = build(path, spec)
        try:
            check_image(image_of(con, path), con)
        finally:
            con.close()


def _db(tmp_path: Path, script: str, page_size: int = 1024) -> tuple[bytes, sqlite3.Connection]:
    path = tmp_path / "x.db"
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    con.execute(f"PRAGMA page_size={page_size}")
    con.executescript(script)
    return image_of(con, path), con


@pytest.mark.parametrize("encoding", ["UTF-16le", "UTF-16be"])
def test_utf16_database(tmp_path, encoding):
    image, con = _db(
        tmp_path,
        f"PRAGMA encoding='{encoding}';"
        "CREATE TABLE t(a TEXT, b);"
        "CREATE TABLE w(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
        "INSERT INTO t VALUES ('h\u00e9llo \u4e16\u754c \U0001f600', 1), (printf('%.3000c', 'x'), x'00');"
        "INSERT INTO w VALUES ('\u0100', 1), ('\u00ff', 2), ('z', 3);",
    )
    expected = {"UTF-16le": "utf-16-le", "UTF-16be": "utf-16-be"}[encoding]
    assert read_schema(pages_of(image)).header.encoding == expected
    check_image(image, con)
    keys = [k for k, _ in iter_rows(pages_of(image), "w")]
    assert keys == [(k,) for (k,) in con.execute("SELECT k FROM w ORDER BY k")]


def test_65536_page_size_with_overflow(tmp_path):
    image, con = _db(
        tmp_path,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);"
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<20) "
        "INSERT INTO t SELECT x, randomblob(x * 9000) FROM c;",
        page_size=65536,
    )
    assert read_schema(pages_of(image)).header.page_size == 65536
    check_image(image, con)


def test_schema_details(tmp_path):
    image, con = _db(
        tmp_path,
        "CREATE TABLE a(id INTEGER PRIMARY KEY AUTOINCREMENT, x);"
        "CREATE TABLE d(id INTEGER PRIMARY KEY DESC, x);"  # DESC in the column: not an alias
        "CREATE TABLE e(id INTEGER, x, PRIMARY KEY(id DESC));"  # table constraint: an alias
        "CREATE TABLE g(a INTEGER, b AS (a * 2), c AS (a + 1) STORED, d);"
        "CREATE TABLE s(a INTEGER, b ANY, c REAL) STRICT;"
        "CREATE TABLE w(x, y TEXT, z, PRIMARY KEY(z DESC, x)) WITHOUT ROWID;"
        "INSERT INTO a(x) VALUES (1), (2); INSERT INTO d VALUES (5, 'five');"
        "INSERT INTO e VALUES (6, 'six'); INSERT INTO g(a, d) VALUES (1, 'x'), (2, NULL);"
        "INSERT INTO s VALUES (1, '2', 3.0), (4, 5, 6); INSERT INTO w VALUES (1, 'a', 2), (3, 'b', 4);"
        "ANALYZE;",
    )
    schema = read_schema(pages_of(image))
    assert schema.table("a").rowid_alias == "id"
    assert schema.table("d").rowid_alias is None
    assert schema.table("e").rowid_alias == "id"
    w = schema.table("w")
    assert w.without_rowid and w.primary_key == ("z", "x")
    assert [f.descending for f in w.key_fields] == [True, False]
    assert {t.name for t in schema.tables} >= {"sqlite_sequence", "sqlite_stat1"}
    check_image(image, con)
    assert [k for k, _ in iter_rows(pages_of(image), "w")] == [(4, 3), (2, 1)]


def test_custom_collation_and_virtual_table(tmp_path):
    path = tmp_path / "c.db"
    con = sqlite3.connect(path)
    con.create_collation("backwards", lambda a, b: (a < b) - (a > b))
    con.executescript(
        "CREATE TABLE w(k TEXT COLLATE backwards PRIMARY KEY, v) WITHOUT ROWID;"
        "INSERT INTO w VALUES ('a', 1), ('b', 2), ('c', 3);"
        "CREATE INDEX wv ON w(v COLLATE backwards);"
    )
    has_fts = True
    try:
        con.execute("CREATE VIRTUAL TABLE f USING fts5(body)")
        con.execute("INSERT INTO f VALUES ('hello world')")
    except sqlite3.OperationalError:
        has_fts = False
    image = image_of(con, path)
    schema = read_schema(pages_of(image))
    assert not schema.table("w").decidable
    assert [k for k, _ in iter_rows(pages_of(image), "w")] == [("c",), ("b",), ("a",)]
    if has_fts:
        assert schema.table("f").virtual and list(iter_rows(pages_of(image), "f")) == []
        assert {"f_data", "f_config"} <= {t.name for t in schema.tables}
    con.close()


def test_added_column_defaults(tmp_path):
    image, con = _db(
        tmp_path,
        "CREATE TABLE t(a);"
        "INSERT INTO t VALUES (1), (2);"
        "ALTER TABLE t ADD COLUMN r REAL DEFAULT 3;"
        "ALTER TABLE t ADD COLUMN i INTEGER DEFAULT '42';"
        "ALTER TABLE t ADD COLUMN s TEXT DEFAULT 5;"
        "ALTER TABLE t ADD COLUMN b BLOB DEFAULT x'0102';"
        "ALTER TABLE t ADD COLUMN n DEFAULT -1.5;"
        "ALTER TABLE t ADD COLUMN z DEFAULT NULL;"
        "INSERT INTO t(a) VALUES (3);",
    )
    rows = dict(iter_rows(pages_of(image), "t"))
    assert rows[(1,)] == {
        "a": 1,
        "r": 3.0,
        "i": 42,
        "s": "5",
        "b": b"\x01\x02",
        "n": -1.5,
        "z": None,
    }
    check_image(image, con)


def test_quoted_names(tmp_path):
    name = q('we ird"name')
    image, con = _db(
        tmp_path,
        f"CREATE TABLE {name}({q('col umn')} TEXT, [x], `y`);"
        f"INSERT INTO {name} VALUES ('a', 1, 2);",
    )
    check_image(image, con)
