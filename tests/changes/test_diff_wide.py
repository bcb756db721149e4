"""Wide diffs through SQLite (``ltx.changes._sql``): the same answers as the page walk and
as sqlite3 itself, on histories of rowid tables, with the thresholds at zero so that
every diff that can go through SQLite does."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import ltx
from ltx.changes import EMPTY, _sql, _wide, diff
from tests.changes.test_diff_util import append_images, oracle_of
from tests.sqlitefmt.test_sqlitefmt_util import actual_changes, expected_changes

STEPS = [
    "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, data BLOB, price REAL);"
    "CREATE TABLE plain (a, b);"
    "CREATE TABLE odd (rowid TEXT, g AS (b * 2), b INT);"
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<300) "
    "INSERT INTO items SELECT x, 'item ' || x, randomblob(abs(random()) % 3000), x * 1.0 FROM c;"
    "INSERT INTO plain VALUES (1, 2.5), ('three', x'04'), (NULL, -0.0);"
    "INSERT INTO odd (rowid, b) VALUES ('r1', 1), ('r2', 2)",
    "UPDATE items SET price = 2 WHERE id IN (3, 150, 299); UPDATE plain SET b = 2 WHERE a = 1",
    "UPDATE items SET data = randomblob(9000) WHERE id = 40; DELETE FROM items WHERE id % 9 = 0",
    "UPDATE items SET name = upper(name); UPDATE odd SET b = b + 1",
    "ALTER TABLE items ADD COLUMN note TEXT DEFAULT 'n/a';"
    "INSERT INTO items (id, name, note) VALUES (1000, 'late', 'yes')",
    "UPDATE items SET note = 'x' WHERE id % 2 = 0; DELETE FROM plain",
]


@pytest.fixture(scope="module", params=[1024, 4096])
def written(request, tmp_path_factory):
    ps = request.param
    where = tmp_path_factory.mktemp(f"wide-{ps}")
    con = sqlite3.connect(where / "app.db", isolation_level=None)
    con.execute(f"PRAGMA page_size={ps}")
    con.execute("PRAGMA journal_mode=DELETE")
    images = []
    for sql in STEPS:
        con.executescript(f"BEGIN; {sql}; COMMIT;")
        images.append((where / "app.db").read_bytes())
    con.close()
    replica = ltx.open((where / "replica").as_uri())
    append_images(replica, images, ps)
    return replica, {i + 1: im for i, im in enumerate(images)}


@pytest.fixture
def always_wide(monkeypatch):
    """Every diff that can go through SQLite does; counts how many did."""
    monkeypatch.setattr(_wide, "_WIDE_MIN", 0)
    monkeypatch.setattr(_wide, "_WIDE_SHARE", 0.0)
    used = []
    real = _sql.iter_row_changes

    def counting(*args, **kw):
        used.append(True)
        return real(*args, **kw)

    monkeypatch.setattr(_sql, "iter_row_changes", counting)
    return used


def test_every_pair_through_sqlite_matches_sqlite3(written, always_wide):
    replica, images = written
    oracles = {t: oracle_of(im) for t, im in images.items()}
    pairs = [(x, y) for x in images for y in images if x != y]
    for x, y in pairs:
        d = diff(replica, x, y)
        got = list(d.rows())
        assert actual_changes(got) == expected_changes(oracles[x], oracles[y]), (x, y)
        keys = [(c.table, c.key) for c in got]
        assert keys == sorted(keys), (x, y)  # by table, then key
    assert always_wide and all(always_wide)


def test_the_walk_and_sqlite_agree_on_every_field(written, monkeypatch):
    replica, images = written
    walked = {(x, y): list(diff(replica, x, y).rows()) for x in images for y in images}
    monkeypatch.setattr(_wide, "_WIDE_MIN", 0)
    monkeypatch.setattr(_wide, "_WIDE_SHARE", 0.0)
    for (x, y), rows in walked.items():
        assert list(diff(replica, x, y).rows()) == rows, (x, y)


def test_a_without_rowid_table_keeps_the_walk(tmp_path, always_wide):
    db = tmp_path / "a.db"
    con = sqlite3.connect(db, isolation_level=None)
    con.executescript("CREATE TABLE kv (k TEXT PRIMARY KEY, v) WITHOUT ROWID; CREATE TABLE t (x)")
    con.execute("INSERT INTO kv VALUES ('a', 1)")
    one = db.read_bytes()
    con.execute("INSERT INTO kv VALUES ('b', 2)")
    two = db.read_bytes()
    con.close()
    replica = ltx.open((tmp_path / "rep").as_uri())
    append_images(replica, [one, two], 4096)
    rows = list(diff(replica, 1, 2).rows())
    assert [(c.table, c.key, c.op) for c in rows] == [("kv", ("b",), "insert")]
    assert always_wide == []  # not eligible: never asked


def test_empty_side_keeps_the_walk(written, always_wide):
    replica, _images = written
    assert list(diff(replica, EMPTY, 1).rows())
    assert always_wide == []


def test_eligibility(written):
    from ltx.sqlitefmt import Pager, read_schema

    replica, _ = written
    view = replica.view(1)
    schema = read_schema(Pager(lambda p: view.page(p)))
    odd, items = schema.table("odd"), schema.table("items")
    assert _sql.eligible(items, items) and _sql.eligible(odd, odd)
    assert not _sql.eligible(items, None)
    assert not _sql.eligible(items, odd)
    assert Path(_sql.__file__).name == "_sql.py"


def test_rows_stream_without_holding_the_diff(written, always_wide):
    replica, _ = written
    d = diff(replica, 1, 4)
    first = list(d.rows())
    assert first and d._result is None  # streamed, nothing kept
    assert list(d.rows()) == first
    assert d.schema() == ()


@pytest.mark.parametrize("fault", ["refused", "deleted"])
def test_a_stream_cut_short_resumes_without_gaps_or_repeats(written, monkeypatch, fault):
    from ltx.errors import NotFoundError

    replica, _ = written
    monkeypatch.setattr(_wide, "_WIDE_MIN", 0)
    monkeypatch.setattr(_wide, "_WIDE_SHARE", 0.0)
    want = list(diff(replica, 1, 4).rows())
    assert len(want) > 10
    real = _sql.iter_row_changes
    calls = []

    def flaky(*args, **kw):
        calls.append(kw.get("after"))
        for n, change in enumerate(real(*args, **kw)):
            if len(calls) == 1 and n == 7:
                if fault == "refused":
                    raise _sql.SQLRefused("as if a side could not be read")
                raise NotFoundError("as if compaction deleted a file")
            yield change

    monkeypatch.setattr(_sql, "iter_row_changes", flaky)
    assert list(diff(replica, 1, 4).rows()) == want
    if fault == "deleted":
        assert calls[1] == (want[6].table, want[6].key[0])  # resumed after the last one


def test_the_page_walk_streams_and_resumes_after_a_replan(written, monkeypatch):
    """Below the threshold the rows come from the page walk as it compares them; a
    file deleted under it plans again and gives each row once."""
    from ltx.changes import _diff
    from ltx.errors import NotFoundError

    replica, _ = written
    monkeypatch.setattr(_wide, "_WIDE_SHARE", 2.0)  # never the SQLite way
    d = diff(replica, 1, 4)
    want = list(d.rows())
    assert len(want) > 10 and d._result is None  # streamed, nothing kept
    real = _diff.iter_row_changes
    calls = []

    def flaky(*args, **kw):
        calls.append(1)
        for n, change in enumerate(real(*args, **kw)):
            if len(calls) == 1 and n == 7:
                raise NotFoundError("as if compaction deleted a file")
            yield change

    monkeypatch.setattr(_diff, "iter_row_changes", flaky)
    replans = []
    monkeypatch.setattr(_diff.Diff, "_replan", lambda self: replans.append(1))
    assert list(diff(replica, 1, 4).rows()) == want
    assert len(calls) == 2 and replans == [1]
