"""Seeds, mutations and invariants for fuzzing the SQLite reader and ``verify``.

SQLite reader: real databases (every structure the reader knows) mutated by bytes,
by whole pages drawn from ``ltx.testing.pages``, and by hostile ``sqlite_schema`` rows;
reading the schema, every row and index entry, and a diff against the seed must end
in rows or a ``DatabaseFormatError`` (any ``LTXError``), never another exception.

verify: a small replica (NoChecksum and checksum-tracked levels 0, 1 and 9) with one
file mutated; ``verify`` must return a report, and one that finds a problem unless the
mutated file still decodes to the same header and pages.
"""

from __future__ import annotations

import contextlib
import functools
import random
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import ltx
from ltx.codec import SNAPSHOT_LEVEL, decode
from ltx.compaction.executor import merge_files
from ltx.errors import LTXError
from ltx.sqlitefmt import Pager, diff_database, iter_index, iter_rows, read_schema
from tests.changes.test_diff_util import append_images
from tests.fuzz import mutators as M
from tests.helpers import sqlite_history, write_tracked_replica
from tests.sqlitefmt.test_sqlitefmt_util import pages_of

_SCHEMAS = (
    "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b BLOB, c REAL);"
    "CREATE TABLE w(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
    "CREATE INDEX ta ON t(a COLLATE NOCASE DESC);"
    "CREATE INDEX te ON t(lower(a)) WHERE id > 3;"
    "CREATE VIEW vt AS SELECT a FROM t;"
    "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END;",
    "CREATE TABLE g(x INTEGER CHECK (x > 0), y AS (x * 2), z TEXT DEFAULT 'dflt');"
    "CREATE TABLE s(a ANY, b INT) STRICT;",
)
_FILL = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<{n}) "
    "INSERT INTO t SELECT x, printf('%.*c', x * 7, 'a'), zeroblob(x * 13), x / 3.0 FROM c;"
    "INSERT INTO w SELECT printf('%.*c', id % 40 * 30, 'k') || id, b FROM t;"
    "DELETE FROM t WHERE id % 7 = 0;"
)
#: sqlite_schema SQL an attacker may store; none may run or cost more than the bound.
HOSTILE_SQL = (
    "CREATE TABLE t AS SELECT zeroblob(200000000) AS a",
    "CREATE TABLE t AS SELECT randomblob(200000000) AS a",
    "CREATE TABLE t AS SELECT printf('%.*c', 200000000, 'x') AS a",
    "CREATE TABLE t AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c",
    "CREATE TABLE t(a DEFAULT '" + "x" * 100_000 + "', id, b, c)",
    "CREATE TABLE t(id, " + ", ".join(f"c{i}" for i in range(1990)) + ")",
    "CREATE TABLE t(id, a, b, c, CHECK ((SELECT 1)))",
    "CREATE VIEW t AS SELECT zeroblob(200000000)",
    "CREATE TRIGGER t AFTER INSERT ON w BEGIN SELECT zeroblob(200000000); END",
    "CREATE TABLE t(id); ATTACH 'x.db' AS x",
    "CREATE INDEX ta ON t(zeroblob(200000000))",
    "CREATE TABLE t(id INTEGER PRIMARY KEY, a, b, c) WITHOUT ROWID",
    "\x00CREATE TABLE t(a)",
    "",
)


@functools.cache
def seed_images() -> tuple[bytes, ...]:
    """A few real databases: both schemas, UTF-8 and UTF-16, auto-vacuum, 1 and 4 KiB pages."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (ps, pragmas) in enumerate(
            (
                (1024, ""),
                (4096, "PRAGMA auto_vacuum=FULL;"),
                (1024, "PRAGMA encoding='UTF-16le';"),
            )
        ):
            path = Path(tmp) / f"seed{i}.db"
            con = sqlite3.connect(path)
            con.executescript(f"PRAGMA page_size={ps};{pragmas}" + _SCHEMAS[0] + _SCHEMAS[1])
            con.executescript(_FILL.format(n=60 + 40 * i))
            con.execute("INSERT INTO g(x) VALUES (1), (2)")
            con.execute("ALTER TABLE t ADD COLUMN d DEFAULT 'added'")
            con.commit()
            con.close()
            out.append(path.read_bytes())
    return tuple(out)


def _edited(image: bytes, edit: Callable[[sqlite3.Connection], None]) -> bytes:
    """``image`` after ``edit`` ran on it with ``writable_schema`` on (by SQLite itself)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.db"
        path.write_bytes(image)
        con = sqlite3.connect(path)
        try:
            con.execute("PRAGMA writable_schema=ON")
            edit(con)
            con.commit()
        finally:
            con.close()
        return path.read_bytes()


def with_schema_sql(image: bytes, name: str, sql: str) -> bytes:
    """``image`` with the ``sqlite_schema`` SQL of ``name`` replaced."""

    def edit(con: sqlite3.Connection) -> None:
        con.execute("UPDATE sqlite_schema SET sql=? WHERE name=?", (sql, name))

    return _edited(image, edit)


def with_alias(image: bytes, copies: int) -> bytes:
    """``image`` with ``copies`` extra ``sqlite_schema`` rows naming table t's root page."""

    def edit(con: sqlite3.Connection) -> None:
        root = con.execute("SELECT rootpage FROM sqlite_schema WHERE name='t'").fetchone()[0]
        con.executemany(
            "INSERT INTO sqlite_schema VALUES ('table', ?, ?, ?, 'CREATE TABLE x(a)')",
            [(f"x{i}", f"x{i}", root) for i in range(copies)],
        )

    return _edited(image, edit)


def mutate_image(image: bytes, rnd: random.Random, seeds: Sequence[bytes]) -> bytes:
    """Bytes, or a hostile schema row, or aliases of a root page."""
    roll = rnd.random()
    if roll < 0.2:
        name = rnd.choice(("t", "w", "ta", "te", "g"))
        return with_schema_sql(image, name, rnd.choice(HOSTILE_SQL))
    if roll < 0.25:
        return with_alias(image, rnd.choice((1, 50, 500)))
    return M.mutate(image, rnd, seeds, M.MUTATORS[:6])


def with_page(image: bytes, pgno: int, page: bytes) -> bytes:
    """``image`` with page ``pgno`` (wrapped into range) replaced by ``page``, sized to fit."""
    ps = len(page)
    n = max(len(image) // ps, 1)
    at = (pgno - 1) % n * ps
    return image[:at] + page + image[at + ps :]


def check_sqlite(image: bytes, seed: bytes) -> None:
    """Read everything of ``image`` and diff ``seed`` against it; only LTXError may escape."""
    try:
        pager = Pager(pages_of(image))
        schema = read_schema(pager)
        for table in schema.tables:
            for _ in iter_rows(pager, table, schema):
                pass
        for index in schema.indexes:
            for _ in iter_index(pager, index, schema):
                pass
    except LTXError:
        pass
    ps = int.from_bytes(seed[16:18], "big")  # the seed's: valid, whatever the image says
    n = max(len(seed), len(image)) // ps + 1
    changed = {
        p for p in range(1, n + 1) if seed[(p - 1) * ps : p * ps] != image[(p - 1) * ps : p * ps]
    }
    with contextlib.suppress(LTXError):
        diff_database(pages_of(seed), pages_of(image), changed)


# -- verify ------------------------------------------------------------------------------


@functools.cache
def replica_template() -> Path:
    """Two small replicas (plain/ and tracked/) with levels 0, 1 and 9, built once."""
    root = Path(tempfile.mkdtemp(prefix="ltx-fuzz-verify-"))
    images = sqlite_history(root / "src.db", page_size=1024, steps=4)
    append_images(ltx.open((root / "plain").as_uri()), images, 1024)
    write_tracked_replica(ltx.open((root / "tracked").as_uri()), images, 1024)
    for name in ("plain", "tracked"):
        r = ltx.open((root / name).as_uri())
        l0 = r.store.list_level(0)
        merge_files(r.store, l0[:3], 1)
        merge_files(r.store, r.store.list_level(1) + l0[3:], SNAPSHOT_LEVEL)
    return root


def _same_content(a: bytes, b: bytes) -> bool:
    try:
        x, y = decode(a), decode(b)
    except LTXError:
        return False
    return (x.header, x.pages, x.trailer.post_apply_checksum) == (
        y.header,
        y.pages,
        y.trailer.post_apply_checksum,
    )


def check_verify(work: Path, kind: str, rnd: random.Random, corpus: Sequence[bytes]) -> None:
    """Mutate one file of a fresh copy of the ``kind`` replica and verify it; the input."""
    src = replica_template() / kind
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(src, work)
    files = sorted(work.rglob("*.ltx"))
    target = rnd.choice(files)
    original = target.read_bytes()
    data = M.mutate(original, rnd, corpus)
    target.write_bytes(data)
    report = ltx.open(work.as_uri()).verify(deep=rnd.random() < 0.2)
    if report.ok and data != original and not _same_content(data, original):
        raise AssertionError(f"verify passed a changed {target.name} ({kind})")
