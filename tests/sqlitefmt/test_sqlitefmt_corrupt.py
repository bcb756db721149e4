"""Damaged images raise DatabaseFormatError (or read some rows); never another error, never hang."""

from __future__ import annotations

import functools
import signal
import sqlite3
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from ltx.errors import DatabaseFormatError
from ltx.sqlitefmt import Pager, diff_database, iter_index, iter_rows, read_schema
from tests.sqlitefmt.test_sqlitefmt_util import pages_of

PAGE = 1024
SECONDS = 5


@functools.cache
def base_image(variant: int = 0) -> bytes:
    """A small database using every structure: overflow, WITHOUT ROWID, indexes, freelist.

    Variant 1 is UTF-16 with auto-vacuum (pointer-map pages).
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "base.db"
        con = sqlite3.connect(path)
        con.execute(f"PRAGMA page_size={PAGE}")
        if variant:
            con.executescript("PRAGMA encoding='UTF-16le'; PRAGMA auto_vacuum=FULL;")
        con.executescript(
            ""
            "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b BLOB, c REAL);"
            "CREATE TABLE w(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
            "CREATE INDEX ta ON t(a);"
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<150) "
            "INSERT INTO t SELECT x, printf('%.*c', x * 7, 'a'), zeroblob(x * 13), x / 3.0 FROM c;"
            "INSERT INTO w SELECT printf('%.*c', id % 40 * 30, 'k') || id, b FROM t;"
            "DELETE FROM t WHERE id % 7 = 0;"
            "ALTER TABLE t ADD COLUMN d DEFAULT 'dflt';"
        )
        con.commit()
        con.close()
        return path.read_bytes()


@contextmanager
def time_limit(seconds: int):
    """Fail (instead of hanging) if the block runs longer than ``seconds``."""

    def on_alarm(signum, frame):
        raise TimeoutError(f"took over {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def read_everything(image: bytes) -> int:
    """Read the schema, every row and every index entry; the number of rows read."""
    pager = Pager(pages_of(image, PAGE))
    schema = read_schema(pager)
    n = 0
    for table in schema.tables:
        n += sum(1 for _ in iter_rows(pager, table, schema))
    for index in schema.indexes:
        n += sum(1 for _ in iter_index(pager, index, schema))
    return n


def changed_pages(a: bytes, b: bytes) -> set[int]:
    n = (max(len(a), len(b)) + PAGE - 1) // PAGE
    return {
        p for p in range(1, n + 1) if a[(p - 1) * PAGE : p * PAGE] != b[(p - 1) * PAGE : p * PAGE]
    }


def exercise(damaged: bytes, variant: int = 0) -> None:
    good = base_image(variant)
    with time_limit(SECONDS):
        for run in (
            lambda: read_everything(damaged),
            lambda: diff_database(
                pages_of(good, PAGE), pages_of(damaged, PAGE), changed_pages(good, damaged)
            ),
            lambda: diff_database(
                pages_of(damaged, PAGE), pages_of(good, PAGE), changed_pages(damaged, good)
            ),
        ):
            try:
                run()
                event("read")
            except DatabaseFormatError:
                event("DatabaseFormatError")


@pytest.mark.parametrize("variant", [0, 1])
def test_base_image_reads(variant):
    assert read_everything(base_image(variant)) > 300


FLIPS = st.lists(
    st.tuples(st.integers(0, 10**9), st.integers(0, 255), st.sampled_from(["any", "head"])),
    min_size=1,
    max_size=12,
)


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="needs SIGALRM for the time bound")
@settings(max_examples=150)
@given(FLIPS, st.integers(0, 1))
def test_byte_flips(flips, variant):
    image = bytearray(base_image(variant))
    npages = len(image) // PAGE
    for where, value, kind in flips:
        if kind == "head":  # aim at page and cell headers, where damage matters most
            offset = (where % npages) * PAGE + (where // npages) % 24
            offset += 100 if offset < PAGE else 0
        else:
            offset = where % len(image)
        image[offset] = value
    exercise(bytes(image), variant)


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="needs SIGALRM for the time bound")
@settings(max_examples=30)
@given(st.integers(0, 10**9), st.booleans())
def test_truncation(cut, whole_pages):
    image = base_image()
    cut %= len(image)
    if whole_pages:
        cut -= cut % PAGE
    exercise(image[:cut])


def test_pointer_cycles_are_reported():
    """A child pointer back to the root and an overflow chain into itself are errors."""
    image = bytearray(base_image())
    schema = read_schema(pages_of(bytes(image), PAGE))
    root = schema.table("t").root
    page = Pager(pages_of(bytes(image), PAGE)).btree(root)
    assert not page.is_leaf
    start = (root - 1) * PAGE
    image[start + 8 : start + 12] = root.to_bytes(4, "big")  # right child -> itself
    with pytest.raises(DatabaseFormatError, match="twice"):
        list(iter_rows(pages_of(bytes(image), PAGE), "t"))


def test_overflow_chain_loop_is_reported():
    image = bytearray(base_image())
    pager = Pager(pages_of(bytes(image), PAGE))
    schema = read_schema(pager)
    from ltx.sqlitefmt.btree import iter_cells

    cell = next(c for _, c in iter_cells(pager, schema.table("t").root, True) if c.size > 2300)
    first = cell.overflow
    image[(first - 1) * PAGE : (first - 1) * PAGE + 4] = first.to_bytes(4, "big")
    with pytest.raises(DatabaseFormatError, match="loops"):
        list(iter_rows(pages_of(bytes(image), PAGE), "t"))
