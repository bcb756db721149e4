"""Helpers shared by the ltx.changes tests (and bench_diff), with unit tests of the smallest.

A replica written by our own writer from SQLite images, a source that counts page reads,
oracles made with sqlite3 itself, and sqldiff's output parsed into row keys.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import ltx
from ltx.changes import value_from_json
from ltx.dbfile import image_pages
from ltx.resolve import PageMap, RestorePoint
from tests.sqlitefmt.test_sqlitefmt_util import changed_pages, expected_changes, oracle_rows, q

try:  # SQLite's own sqldiff.c as a module, from the lock (sqlite3-sqldiff): no system tool
    import sqldiff as _sqldiff
except ImportError:  # pragma: no cover - the test extra always has it
    _sqldiff = None

__all__ = [
    "CountingSource",
    "append_images",
    "big_table_db",
    "apply_json",
    "changed_pages",
    "expected_changes",
    "file_changes",
    "need_sqldiff",
    "oracle_of",
    "schema_of",
    "sqldiff_keys",
]


class CountingSource:
    """A DiffSource over a replica that counts ``read_page`` calls (and pages per side)."""

    def __init__(self, replica: ltx.Replica) -> None:
        self.replica = replica
        self.reads = 0
        self.pages: list[tuple[int, int]] = []

    def page_map(self, txid: int | None = None, *, refresh: bool = False) -> PageMap:
        return self.replica.page_map(txid, refresh=refresh)

    def read_page(self, page_map: PageMap, pgno: int) -> bytes:
        self.reads += 1
        self.pages.append((page_map.txid, pgno))
        return self.replica.read_page(page_map, pgno)

    def read_pages(self, page_map: PageMap, pgnos: Sequence[int]) -> list[bytes]:
        self.reads += len(pgnos)
        self.pages += [(page_map.txid, p) for p in pgnos]
        return self.replica.read_pages(page_map, pgnos)

    def history(self) -> list[RestorePoint]:
        return self.replica.history()

    def refresh(self) -> object:
        return self.replica.refresh()


def append_images(replica: ltx.Replica, images: Sequence[bytes], page_size: int) -> None:
    """Append each image as one transaction (its changed pages), TXIDs 1..len(images)."""
    prev: dict[int, bytes] = {}
    for image in images:
        cur = image_pages(image, page_size)
        replica.append({p: d for p, d in cur.items() if prev.get(p) != d}, len(cur))
        prev = cur


def _connect_image(image: bytes) -> tuple[sqlite3.Connection, Path]:
    fd, name = tempfile.mkstemp(suffix=".db")
    os.write(fd, image)
    os.close(fd)
    return sqlite3.connect(name), Path(name)


def oracle_of(db: bytes | Path | None) -> dict[str, dict[tuple, dict[str, Any]]]:
    """table -> key -> row of a database (an image, a file, or None for empty), by sqlite3."""
    if db is None:
        return {}
    con, path = _connect_image(db) if isinstance(db, bytes) else (sqlite3.connect(db), None)
    try:
        return oracle_rows(con)
    finally:
        con.close()
        if path is not None:
            path.unlink()


def schema_of(db: bytes | Path | None) -> dict[tuple[str, str], str | None]:
    """(type, name) -> sql of the sqlite_schema entries of a database."""
    if db is None:
        return {}
    con, path = _connect_image(db) if isinstance(db, bytes) else (sqlite3.connect(db), None)
    try:
        return {(t, n): s for t, n, s in con.execute("SELECT type, name, sql FROM sqlite_schema")}
    finally:
        con.close()
        if path is not None:
            path.unlink()


def file_changes(a: Path | None, b: Path | None) -> set[int]:
    """Pages whose bytes differ between two database files (one may be absent)."""
    ra = a.read_bytes() if a is not None else b""
    rb = b.read_bytes() if b is not None else b""
    if not ra or not rb:
        one = ra or rb
        ps = int.from_bytes(one[16:18], "big") if one else 1
        return set(range(1, len(one) // (65536 if ps == 1 else ps) + 1)) if one else set()
    return changed_pages(ra, rb)


def need_sqldiff() -> Any:
    """The sqldiff module (sqlite3-sqldiff, in the test extra); skips outside CI, fails in it."""
    if _sqldiff is None:
        if os.environ.get("CI"):
            pytest.fail("CI must compare with sqldiff: the test extra's sqlite3-sqldiff is missing")
        pytest.skip("sqldiff not installed (uv sync --extra test installs sqlite3-sqldiff)")
    return _sqldiff


_LITERAL = r"(-?\d+|'(?:[^']|'')*')"
_INSERT = re.compile(r"^INSERT INTO (\S+?)\(([^,)]+)[,)].*? VALUES\(" + _LITERAL + r"[,)]")
_UPDATE = re.compile(r"^UPDATE (\S+) SET .* WHERE ([^=\s]+)=" + _LITERAL + r";$")
_DELETE = re.compile(r"^DELETE FROM (\S+) WHERE ([^=\s]+)=" + _LITERAL + r";$")


def _literal(text: str) -> int | str:
    return int(text) if text[0] != "'" else text[1:-1].replace("''", "'")


def sqldiff_keys(a: Path, b: Path, table: str) -> set[tuple[str, tuple[int | str], str]]:
    """(table, key, op) of each row sqldiff says changed in ``table`` (single-column keys)."""
    out = need_sqldiff().diff(str(a), str(b), table=table, primary_key=True)
    got = set()
    for line in out.splitlines():
        for rx, op in ((_INSERT, "insert"), (_UPDATE, "update"), (_DELETE, "delete")):
            m = rx.match(line)
            if m:
                got.add((m.group(1).strip('"'), (_literal(m.group(3)),), op))
                break
        else:
            if line.strip() and not line.startswith(("ALTER TABLE", "CREATE ", "DROP ")):
                raise AssertionError(f"sqldiff line not understood: {line[:200]}")
    return got


def _key_columns(con: sqlite3.Connection, table: str) -> list[str]:
    """The key of the feed for ``table``: its PRIMARY KEY if WITHOUT ROWID, else rowid."""
    sql = con.execute("SELECT sql FROM sqlite_schema WHERE name = ?", (table,)).fetchone()[0]
    if "WITHOUT ROWID" not in sql.upper():
        return ["rowid"]
    info = con.execute(f"PRAGMA table_info({q(table)})").fetchall()
    return [q(r[1]) for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]


def apply_json(con: sqlite3.Connection, obj: dict[str, Any]) -> None:
    """Apply one JSON change object of the feed to a mirror database."""
    table = q(obj["table"])
    key = [value_from_json(v) for v in obj["key"]]
    if obj["op"] == "delete":
        where = " AND ".join(f"{c} = ?" for c in _key_columns(con, obj["table"]))
        con.execute(f"DELETE FROM {table} WHERE {where}", key)
        return
    row = {k: value_from_json(v) for k, v in obj["after"].items()}
    cols = ", ".join(q(c) for c in row)
    marks = ", ".join("?" for _ in row)
    con.execute(f"INSERT OR REPLACE INTO {table} ({cols}) VALUES ({marks})", list(row.values()))


# ---------------------------------------------------------------- unit tests


def test_sqldiff_lines_are_parsed(tmp_path):
    need_sqldiff()
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    for path, rows in ((a, [(1, "x"), (2, "it's")]), (b, [(2, "changed"), (3, "new")])):
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v) WITHOUT ROWID")
        con.execute("CREATE TABLE n (id INTEGER PRIMARY KEY, v)")
        con.executemany("INSERT INTO kv VALUES (?, ?)", [(f"k'{i}", v) for i, v in rows])
        con.executemany("INSERT INTO n VALUES (?, ?)", rows)
        con.commit()
        con.close()
    assert sqldiff_keys(a, b, "kv") == {
        ("kv", ("k'1",), "delete"),
        ("kv", ("k'2",), "update"),
        ("kv", ("k'3",), "insert"),
    }
    assert sqldiff_keys(a, b, "n") == {
        ("n", (1,), "delete"),
        ("n", (2,), "update"),
        ("n", (3,), "insert"),
    }


def test_file_changes_counts_one_sided_pages(tmp_path):
    a = tmp_path / "a.db"
    con = sqlite3.connect(a)
    con.execute("PRAGMA page_size=1024")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    assert file_changes(None, a) == {1, 2} == file_changes(a, None)
    assert file_changes(a, a) == set()


def big_table_db(path: Path, rows: int, page_size: int = 4096) -> None:
    """A rowid table ``t`` (with an index) of ``rows`` ~240-byte rows, in one transaction."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute(f"PRAGMA page_size={page_size}")
    con.execute("PRAGMA journal_mode=DELETE")
    con.executescript(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB, n INT, s TEXT);"
        "CREATE INDEX t_s ON t(s);"
        "BEGIN; WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<"
        f"{rows}) INSERT INTO t SELECT x, randomblob(200), x, 'row ' || x FROM c; COMMIT;"
    )
    con.close()
