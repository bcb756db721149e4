"""The pruned row diff equals a full row-by-row comparison, while reading few pages."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from ltx.sqlitefmt import PageCounter, diff_database, diff_rows, read_schema
from ltx.sqlitefmt._locate import Locator
from tests.sqlitefmt.test_sqlitefmt_reader import (
    KEYS,
    LITERALS,
    VALUES,
    build,
    database_spec,
    insert,
    table_spec,
)
from tests.sqlitefmt.test_sqlitefmt_util import (
    actual_changes,
    changed_pages,
    expected_changes,
    image_of,
    oracle_rows,
    page_size_of,
    pages_of,
    q,
)

OPS = st.one_of(
    st.tuples(st.just("insert"), st.integers(0, 5), st.lists(VALUES, min_size=5, max_size=5)),
    st.tuples(st.just("update"), st.integers(0, 5), st.integers(0, 10**6), VALUES),
    st.tuples(st.just("same_size"), st.integers(0, 5), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("delete"), st.integers(0, 5), st.integers(0, 10**6), st.integers(1, 200)),
    st.tuples(st.just("bulk"), st.integers(0, 5), st.integers(1, 300), st.integers(0, 1500)),
    st.tuples(st.just("commit")),
    st.tuples(st.just("vacuum")),
    st.tuples(st.just("create"), st.integers(0, 10**6)),
    st.tuples(st.just("drop"), st.integers(0, 5)),
    st.tuples(st.just("add_column"), st.integers(0, 5), st.sampled_from(LITERALS)),
)


def _keys(con: sqlite3.Connection, t: dict) -> list[tuple]:
    pk = ["_rowid_"]
    if t["kind"] == "wr":
        info = con.execute(f"PRAGMA table_info({t['name']})").fetchall()
        pk = [r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]
    rows = con.execute(f"SELECT {', '.join(pk)} FROM {t['name']}").fetchall()
    return [(pk, r) for r in rows]


def _where(pk: list[str]) -> str:
    return " AND ".join(f"{q(c)} IS ?" for c in pk)


def apply(con: sqlite3.Connection, tables: list[dict], op: tuple, draw) -> None:
    kind = op[0]
    if kind == "commit":
        con.commit()
        return
    if kind == "vacuum":
        con.commit()
        con.execute("VACUUM")
        return
    if kind == "create":
        t = draw(table_spec(f"n{op[1]}"))
        if any(x["name"] == t["name"] for x in tables):
            return
        con.execute(t["sql"])
        insert(con, t, t["rows"])
        tables.append(t)
        return
    if not tables:
        return
    t = tables[op[1] % len(tables)]
    if kind == "drop":
        con.execute(f"DROP TABLE {t['name']}")
        tables.remove(t)
    elif kind == "add_column":
        if "added" not in [c for c, _ in t["cols"]]:
            con.execute(f"ALTER TABLE {t['name']} ADD COLUMN added DEFAULT {op[2]}")
            t["cols"].append(("added", ""))
    elif kind == "bulk":
        base = len(_keys(con, t)) * 7919 + 10**12
        for i in range(op[2]):
            row: list = [bytes([i % 256]) * op[3]] * len(t["cols"])
            row[: t["npk"]] = [base + i + j for j in range(t["npk"])]
            insert(con, t, [row])
    elif kind == "insert":
        row = op[2][: len(t["cols"])]
        row[: t["npk"]] = [draw(KEYS) for _ in range(t["npk"])]
        insert(con, t, [row])
    else:
        _change_row(con, t, op)


def _change_row(con: sqlite3.Connection, t: dict, op: tuple) -> None:
    keys = _keys(con, t)
    if not keys:
        return
    kind, pick = op[0], op[2] % len(keys)
    pk, key = keys[pick]
    col = t["cols"][pick % len(t["cols"])][0]
    if kind == "delete":
        for pk, key in keys[pick : pick + op[3]]:
            con.execute(f"DELETE FROM {t['name']} WHERE {_where(pk)}", key)
        return
    if col in pk:
        return  # keep keys stable; inserts and deletes move keys
    if kind == "update":
        con.execute(
            f"UPDATE OR REPLACE {t['name']} SET {q(col)} = ? WHERE {_where(pk)}", (op[3], *key)
        )
        return
    (old,) = con.execute(f"SELECT {q(col)} FROM {t['name']} WHERE {_where(pk)}", key).fetchone()
    if isinstance(old, bytes) and old:
        # Same size, same head: SQLite overwrites in place and may touch overflow pages only.
        half = len(old) // 2
        new = old[:half] + bytes((b + op[3]) % 256 for b in old[half:])
        con.execute(f"UPDATE {t['name']} SET {q(col)} = ? WHERE {_where(pk)}", (new, *key))


def check_diff(a: bytes, b: bytes, expected: set, schema_expected=None) -> tuple[int, int]:
    changed = changed_pages(a, b)
    ca, cb = PageCounter(pages_of(a)), PageCounter(pages_of(b))
    result = diff_database(ca, cb, changed)
    assert actual_changes(result.rows) == expected
    if schema_expected is not None:
        assert {(c.type, c.name, c.op) for c in result.schema} == schema_expected
    return ca.reads + cb.reads, len(changed)


@settings(max_examples=100)
@given(database_spec(), st.lists(OPS, min_size=1, max_size=12), st.data())
def test_diff_matches_row_comparison(spec, ops, data):
    spec["vacuum"] = False
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "db"
        con = build(path, spec)
        try:
            a = image_of(con, path)
            before = oracle_rows(con)
            tables = list(spec["tables"])
            for op in ops:
                apply(con, tables, op, data.draw)
            b = image_of(con, path)
            after = oracle_rows(con)
        finally:
            con.close()
    reads, changed = check_diff(a, b, expected_changes(before, after))
    event("reads within 4*changed+16" if reads <= 4 * changed + 16 else "reads over budget")


def _make(tmp_path: Path, script: str, page_size: int = 1024) -> tuple[sqlite3.Connection, Path]:
    path = tmp_path / "x.db"
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    con.execute(f"PRAGMA page_size={page_size}")
    con.executescript(script)
    con.commit()
    return con, path


def _step(con, path, sql: str, params=()) -> tuple[bytes, bytes, set]:
    a, before = image_of(con, path), oracle_rows(con)
    for stmt in sql.split(";"):
        if stmt.strip():
            con.execute(stmt, params if "?" in stmt else ())
    con.commit()
    return a, image_of(con, path), expected_changes(before, oracle_rows(con))


@pytest.mark.parametrize("auto_vacuum", [0, 1])
@pytest.mark.parametrize("changed_from", [1000, 4600])
def test_overflow_rewritten_in_place_under_an_unchanged_leaf(tmp_path, auto_vacuum, changed_from):
    """Same-size updates rewrite overflow pages in place: the leaf stays byte-identical.

    The owner of each such page is found through the pointer map (auto-vacuum), next to
    the page, or by a walk: matching first overflow pages, then following whole chains
    (when only the tail of a chain changed).
    """
    con, path = _make(
        tmp_path,
        f"PRAGMA auto_vacuum={auto_vacuum};"
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);"
        "CREATE TABLE w(k INTEGER PRIMARY KEY, v BLOB) WITHOUT ROWID;"
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<60) "
        "INSERT INTO t SELECT x, zeroblob(5000) FROM c;"
        "INSERT INTO w SELECT id, v FROM t;"
        "CREATE TABLE spacer(v); INSERT INTO spacer VALUES (zeroblob(20000));"
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<60) "
        "INSERT INTO t SELECT x + 1000, zeroblob(5000) FROM c;",  # splits move rows away
    )
    new = bytes(changed_from) + b"\x01" * (5000 - changed_from)  # the same local part
    a, b, expected = _step(
        con, path, "UPDATE t SET v = ? WHERE id IN (30, 31); UPDATE w SET v = ? WHERE k = 7", (new,)
    )
    assert len(expected) == 3
    schema = read_schema(pages_of(a))
    leaves = {p for p in changed_pages(a, b) if pages_of(a)(p)[0] in (5, 13, 2, 10)}
    assert not leaves - schema.pages  # only overflow pages changed: the in-place path
    reads, changed = check_diff(a, b, expected, set())
    if auto_vacuum:
        assert reads <= 4 * changed + 16


def test_vacuum_to_another_page_size_is_compared_in_full(tmp_path):
    con, path = _make(
        tmp_path,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
        "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, printf('%.3000c', 'x'));",
    )
    a, b, expected = _step(con, path, "PRAGMA page_size=4096; VACUUM; DELETE FROM t WHERE id = 2")
    assert (page_size_of(a), page_size_of(b)) == (1024, 4096)
    check_diff(a, b, expected, set())


def test_drop_and_recreate_with_another_layout(tmp_path):
    con, path = _make(
        tmp_path,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
        "CREATE TABLE u(x);"
        "INSERT INTO t VALUES (1, 'a'), (2, 'b'); INSERT INTO u VALUES (1);",
    )
    a, b, expected = _step(
        con,
        path,
        "DROP TABLE t; CREATE TABLE t(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
        "INSERT INTO t VALUES ('1', 'a'); ALTER TABLE u ADD COLUMN y DEFAULT 5",
    )
    check_diff(a, b, expected, {("table", "t", "alter"), ("table", "u", "alter")})


def test_autovacuum_moves_roots(tmp_path):
    con, path = _make(
        tmp_path,
        "PRAGMA auto_vacuum=FULL;"
        "CREATE TABLE first(x); CREATE TABLE big(id INTEGER PRIMARY KEY, v);"
        "INSERT INTO first VALUES (1);"
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<300) "
        "INSERT INTO big SELECT x, printf('%.200c', 'v') FROM c;",
    )
    a, b, expected = _step(con, path, "DROP TABLE first; UPDATE big SET v = 'new' WHERE id = 150")
    roots = (read_schema(pages_of(a)).table("big").root, read_schema(pages_of(b)).table("big").root)
    assert roots[0] != roots[1]
    check_diff(a, b, expected, {("table", "first", "drop")})


def test_custom_collation_table_falls_back_to_a_full_compare(tmp_path):
    path = tmp_path / "c.db"
    con = sqlite3.connect(path)
    con.create_collation("backwards", lambda x, y: (x < y) - (x > y))
    con.executescript(
        "PRAGMA page_size=1024;"
        "CREATE TABLE w(k TEXT COLLATE backwards PRIMARY KEY, v) WITHOUT ROWID;"
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<200) "
        "INSERT INTO w SELECT printf('k%05d', x), x FROM c;"
    )
    a, b, expected = _step(
        con, path, "UPDATE w SET v = -1 WHERE k = 'k00100'; DELETE FROM w WHERE k = 'k00007'"
    )
    check_diff(a, b, expected, set())


def test_pages_leaving_a_deep_tree_are_checked_by_descent(tmp_path, monkeypatch):
    """Mass deletes free interior pages of a deep WITHOUT ROWID tree (long keys spill to
    overflow): unchanged pages under changed ones must be placed by descending the other
    side's tree, and keys compared past the in-cell prefix."""
    calls = []
    original = Locator.contains
    monkeypatch.setattr(Locator, "contains", lambda *a: calls.append(1) or original(*a))
    con, path = _make(
        tmp_path,
        "CREATE TABLE w(k PRIMARY KEY, v) WITHOUT ROWID;"
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<1000) "
        "INSERT INTO w SELECT printf('%.700c', 'k') || x, x FROM c;",
        page_size=512,
    )
    a, b, expected = _step(
        con,
        path,
        "DELETE FROM w WHERE v BETWEEN 160 AND 500; UPDATE w SET v = -v WHERE v % 100 = 0",
    )
    check_diff(a, b, expected, set())
    assert calls


def test_indexed_long_text_changes(tmp_path):
    con, path = _make(
        tmp_path,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX tv ON t(v);"
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<400) "
        "INSERT INTO t SELECT x, printf('%.1500c', char(65 + x % 26)) || x FROM c;",
    )
    a, b, expected = _step(con, path, "UPDATE t SET v = v || 'changed' WHERE id IN (10, 200, 390)")
    reads, changed = check_diff(a, b, expected, set())
    assert reads <= 4 * changed + 16, (reads, changed)


def test_read_budget_on_a_large_database(tmp_path):
    """~30 MiB, 10 rows changed: reads stay within 4 x changed pages + 16."""
    con, path = _make(
        tmp_path,
        "CREATE TABLE big(id INTEGER PRIMARY KEY, a BLOB, b TEXT);"
        "CREATE TABLE kv(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
        "CREATE INDEX big_b ON big(b);"
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<32000) "
        "INSERT INTO big SELECT x, randomblob(950), 'row ' || x FROM c;"
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<3000) "
        "INSERT INTO kv SELECT 'key ' || x, x FROM c;",
        page_size=4096,
    )
    ids = [17, 3001, 9999, 15000, 22222, 29999]
    a = image_of(con, path)
    assert len(a) > 30 * 1024 * 1024
    touched = {(i,): con.execute("SELECT * FROM big WHERE id = ?", (i,)).fetchone() for i in ids}
    con.execute("UPDATE big SET a = randomblob(950) WHERE id IN (17, 3001, 9999)")
    con.execute("UPDATE big SET b = 'changed' WHERE id IN (15000, 22222)")
    con.execute("DELETE FROM big WHERE id = 29999")
    con.execute("INSERT INTO big VALUES (40000, x'00', 'new')")
    con.execute("UPDATE kv SET v = 'x' WHERE k IN ('key 5', 'key 2500')")
    con.execute("DELETE FROM kv WHERE k = 'key 1000'")
    b = image_of(con, path)
    changed = changed_pages(a, b)
    # Updates in place change leaves only: the roots are unchanged, so a walk that skips
    # subtrees under unchanged pages would miss them.
    assert read_schema(pages_of(a)).table("big").root not in changed
    ca, cb = PageCounter(pages_of(a)), PageCounter(pages_of(b))
    rows = diff_rows(ca, cb, changed)
    reads = ca.reads + cb.reads
    print(f"changed={len(changed)} reads={reads} budget={4 * len(changed) + 16}")
    assert reads <= 4 * len(changed) + 16
    got = {(r.table, r.key): r.op for r in rows}
    assert got == {
        **{("big", (i,)): "update" for i in ids[:5]},
        ("big", (29999,)): "delete",
        ("big", (40000,)): "insert",
        ("kv", ("key 5",)): "update",
        ("kv", ("key 2500",)): "update",
        ("kv", ("key 1000",)): "delete",
    }
    for r in rows:
        if r.table == "big" and r.key in touched and r.before is not None:
            assert tuple(r.before.values()) == touched[r.key]
