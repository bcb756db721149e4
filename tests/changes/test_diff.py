"""ltx.changes on replicas written by our own writer: pages, rows, schema, the feed, formats.

Every pair of points (and the empty database) is checked against the SQLite images the
replica was written from: changed pages byte by byte, rows through sqlite3 itself.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import sqlite3
from pathlib import Path

import pytest

import ltx
from ltx.changes import (
    EMPTY,
    DiffSource,
    TxChanges,
    change_to_json,
    changes,
    diff,
    diff_to_json,
    diff_to_text,
    format_change,
    format_pages,
    format_value,
    tx_to_json,
    tx_to_text,
    value_from_json,
    value_to_json,
)
from ltx.dbfile import image_pages
from ltx.sqlitefmt import RowChange
from ltx.times import parse_timestamp
from tests.changes.test_diff_util import (
    CountingSource,
    append_images,
    apply_json,
    big_table_db,
    changed_pages,
    expected_changes,
    oracle_of,
    schema_of,
    sqldiff_keys,
)
from tests.sqlitefmt.test_sqlitefmt_util import actual_changes

STEPS = [
    "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, data BLOB, price REAL);"
    "CREATE TABLE kv (k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
    "CREATE INDEX items_name ON items(name);"
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<300) "
    "INSERT INTO items SELECT x, 'item ' || x, randomblob(abs(random()) % 3000), x * 1.5 FROM c;"
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<200) "
    "INSERT INTO kv SELECT 'key ' || x, x FROM c;",
    "UPDATE items SET price = 2 WHERE id IN (3, 150, 299); UPDATE kv SET v = 'x' WHERE k = 'key 7'",
    "UPDATE items SET data = randomblob(2500) WHERE id = 40; DELETE FROM items WHERE id % 9 = 0;"
    "DELETE FROM kv WHERE k > 'key 5'",
    "ALTER TABLE items ADD COLUMN note TEXT DEFAULT 'n/a';"
    "INSERT INTO items (id, name, note) VALUES (1000, 'late', 'yes')",
    "CREATE TABLE extra (x); INSERT INTO extra VALUES (1), (2.5), ('three'), (x'04'), (NULL)",
    "UPDATE items SET name = upper(name) WHERE id < 5",
    "DELETE FROM items WHERE id % 3 = 0; VACUUM",
    "DROP TABLE extra; UPDATE kv SET v = 9e999 WHERE k = 'key 1'; UPDATE kv SET v = -0.5 "
    "WHERE k = 'key 2'",
]


def _history(path: Path, page_size: int) -> list[bytes]:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute(f"PRAGMA page_size={page_size}")
    con.execute("PRAGMA journal_mode=DELETE")
    images = []
    for sql in STEPS:
        if "VACUUM" in sql:
            con.executescript(sql.replace("; VACUUM", ""))
            con.execute("VACUUM")
        else:
            con.executescript(f"BEGIN; {sql}; COMMIT;")
        images.append(path.read_bytes())
    con.close()
    return images


@pytest.fixture(scope="module", params=[1024, 4096])
def written(request, tmp_path_factory):
    """(replica, images by TXID, page size): one TXID per step of STEPS."""
    ps = request.param
    where = tmp_path_factory.mktemp(f"diff-{ps}")
    images = _history(where / "app.db", ps)
    replica = ltx.open((where / "replica").as_uri())
    append_images(replica, images, ps)
    return replica, {i + 1: im for i, im in enumerate(images)}, ps


def _expected_pages(images: dict[int, bytes], x: int, y: int, ps: int) -> list[int]:
    a, b = images.get(x), images.get(y)
    if a is None or b is None:
        one = a or b or b""
        return list(range(1, len(one) // ps + 1))
    return sorted(changed_pages(a, b))


def _expected_schema(schemas: dict[int, dict], x: int, y: int) -> set:
    sa, sb = schemas[x], schemas[y]
    out = set()
    for kind, name in sa.keys() | sb.keys():
        before, after = sa.get((kind, name)), sb.get((kind, name))
        if before != after or (kind, name) not in sa or (kind, name) not in sb:
            op = (
                "create"
                if (kind, name) not in sa
                else "drop"
                if (kind, name) not in sb
                else "alter"
            )
            out.add((kind, name, op))
    return out


def test_every_pair_matches_the_images(written):
    replica, images, ps = written
    oracles = {t: oracle_of(im) for t, im in images.items()} | {EMPTY: {}}
    schemas = {t: schema_of(im) for t, im in images.items()} | {EMPTY: {}}
    points = [EMPTY, *images]
    pairs = [(x, y) for x in points for y in points if x <= y]
    pairs += [(y, x) for x, y in pairs[::4] if x != y]  # and some backwards
    for x, y in pairs:
        d = diff(replica, x, y)
        assert list(d.pages) == _expected_pages(images, x, y, ps), (x, y)
        got = actual_changes(d.rows())
        assert got == expected_changes(oracles[x], oracles[y]), (x, y)
        schema = {(s.type, s.name, s.op) for s in d.schema()}
        assert schema == _expected_schema(schemas, x, y), (x, y)


def test_views_and_page_maps_are_points(written):
    replica, _, _ = written
    by_txid = diff(replica, 2, 3)
    by_view = diff(replica, replica.view(2), replica.page_map(3))
    assert by_view.pages == by_txid.pages and by_view.txid_a == 2 and by_view.txid_b == 3
    assert list(by_view.rows()) == list(by_txid.rows())
    assert repr(by_txid).startswith("<Diff 0000000000000002..0000000000000003 pages=")


def test_same_bytes_from_other_files_are_not_changes(written, tmp_path):
    _, images, ps = written
    replica = ltx.open((tmp_path / "rep").as_uri())
    pages = image_pages(images[3], ps)
    replica.append(pages, len(pages))
    replica.append(pages, len(pages))  # every page again, in another file
    source = CountingSource(replica)
    d = diff(source, 1, 2)
    assert d.pages == () and list(d.rows()) == [] and d.schema() == ()
    assert source.reads == 2 * len(pages)  # each page read on both sides, once
    assert diff(source, 2, 2).pages == () and source.reads == 2 * len(pages)


def test_reading_knobs_do_not_change_answers(written):
    replica, _, _ = written
    want = diff(replica, 1, 7)
    for kw in ({"workers": 1}, {"memo_bytes": 0}, {"workers": 3, "memo_bytes": 5000}):
        d = diff(replica, 1, 7, **kw)
        assert d.pages == want.pages and list(d.rows()) == list(want.rows()), kw


def test_table_filter_and_unknown_table(written):
    replica, _, _ = written
    d = diff(replica, 1, 3)
    assert {c.table for c in d.rows()} == {"items", "kv"}
    assert {c.table for c in d.rows(["kv"])} == {"kv"} == {c.table for c in d.rows("kv")}
    with pytest.raises(ltx.UsageError, match="no table 'nope'"):
        list(d.rows("nope"))
    with pytest.raises(ltx.UsageError):
        diff(replica, -1, 2)
    with pytest.raises(ltx.UsageError):
        diff(replica, 1, 2, workers=0)
    with pytest.raises(ltx.TxidNotAvailableError):
        diff(replica, 1, 99)


def test_sqldiff_agrees_on_our_replica(written, tmp_path):
    replica, images, _ = written
    for x, y in ((1, 2), (2, 3), (1, 8), (3, 7)):
        a, b = tmp_path / f"{x}.db", tmp_path / f"{y}.db"
        a.write_bytes(images[x])
        b.write_bytes(images[y])
        got = {(c.table, c.key, c.op) for c in diff(replica, x, y).rows(["items", "kv"])}
        want = sqldiff_keys(a, b, "items") | sqldiff_keys(a, b, "kv")
        assert got == want, (x, y)


class _Opaque:
    """A page map that says nothing of sources (as a Litestream 0.3 one)."""

    def __init__(self, pm) -> None:
        self.pm, self.txid, self.timestamp = pm, pm.txid, pm.timestamp
        self.page_size, self.commit = pm.page_size, pm.commit


class _OpaqueSource(CountingSource):
    def page_map(self, txid=None, *, refresh=False):
        return _Opaque(self.replica.page_map(txid, refresh=refresh))

    def read_page(self, page_map, pgno):
        self.reads += 1
        return self.replica.read_page(page_map.pm, pgno)

    def read_pages(self, page_map, pgnos):
        self.reads += len(pgnos)
        return self.replica.read_pages(page_map.pm, pgnos)


def test_page_maps_without_sources_compare_every_shared_page(written):
    replica, _, _ = written
    source = _OpaqueSource(replica)
    for x, y in ((1, 2), (3, 7), (EMPTY, 4), (8, 5)):
        want = diff(replica, x, y)
        got = diff(source, x, y)
        assert got.pages == want.pages and list(got.rows()) == list(want.rows())
    before = source.reads
    d = diff(source, 2, 3)
    shared = min(d.a.commit, d.b.commit)
    assert source.reads - before == 2 * shared


def test_the_protocol_is_what_a_replica_has(written):
    replica, _, _ = written
    source: DiffSource = replica  # mypy checks this line; at run time it is duck-typed
    assert diff(source, 1, 2).pages


# ---------------------------------------------------------------- reads


def _big(path: Path, rows: int, page_size: int = 4096) -> bytes:
    big_table_db(path, rows, page_size)
    return path.read_bytes()


def ten_row_diff(
    tmp_path: Path, rows: int, page_size: int = 4096, min_bytes: int = 0
) -> tuple[int, int, set]:
    """A replica of a ``rows``-row database, then a TXID changing 10 rows: returns
    (read_page calls of the diff, changed pages, row keys changed)."""
    db = tmp_path / "big.db"
    base = _big(db, rows, page_size)
    assert len(base) >= min_bytes, len(base)
    con = sqlite3.connect(db, isolation_level=None)
    ids = sorted(random.Random(3).sample(range(1, rows + 1), 8))
    con.executescript(
        f"BEGIN; UPDATE t SET n = -n WHERE id IN ({ids[0]}, {ids[1]}, {ids[2]}, {ids[3]});"
        f"UPDATE t SET s = 'moved' WHERE id IN ({ids[4]}, {ids[5]});"
        f"DELETE FROM t WHERE id IN ({ids[6]}, {ids[7]});"
        f"INSERT INTO t VALUES ({rows + 1}, x'00', 0, 'new'), ({rows + 2}, x'01', 1, 'new'); "
        "COMMIT;"
    )
    con.close()
    replica = ltx.open((tmp_path / "replica").as_uri())
    append_images(replica, [base, db.read_bytes()], page_size)
    source = CountingSource(ltx.open((tmp_path / "replica").as_uri()))
    d = diff(source, 1, 2)
    keys = {c.key for c in d.rows()}
    assert len(d.pages) == len(changed_pages(base, db.read_bytes()))
    return source.reads, len(d.pages), keys


def test_ten_rows_read_few_pages(tmp_path):
    reads, changed, keys = ten_row_diff(tmp_path, 40_000)
    print(f"changed={changed} reads={reads} budget={4 * changed + 16}")
    assert len(keys) == 10
    assert reads <= 4 * changed + 16, (reads, changed)


# ---------------------------------------------------------------- the feed


def test_feed_is_every_consecutive_diff(written):
    replica, images, _ = written
    feed = list(changes(replica))
    assert [tx.txid for tx in feed] == list(images)
    assert all(tx.merged_from is None for tx in feed)
    prev = EMPTY
    for tx in feed:
        assert tx.rows == tuple(diff(replica, prev, tx.txid).rows())
        prev = tx.txid
    assert feed[0].schema[0].op == "create"
    # Resuming from any TXID yielded gives exactly the rest.
    for k in (1, 4, len(feed)):
        assert list(changes(replica, since=k)) == feed[k:]
    only = list(changes(replica, tables=["kv"]))
    assert all(c.table == "kv" for tx in only for c in tx.rows)


def _apply_schema(con: sqlite3.Connection, obj: dict) -> None:
    """Schema lines on a mirror (rows only matter): an altered table is rebuilt."""
    name = '"' + obj["name"].replace('"', '""') + '"'
    if obj["op"] == "drop":
        con.execute(f"DROP {obj['schema'].upper()} IF EXISTS {name}")
    elif obj["op"] == "create":
        con.execute(obj["after"])
    elif obj["schema"] == "table":
        con.execute(f"ALTER TABLE {name} RENAME TO old_copy")
        con.execute(obj["after"])
        new = {r[1] for r in con.execute(f"PRAGMA table_info({name})")}
        cols = ", ".join(c[1] for c in con.execute("PRAGMA table_info(old_copy)") if c[1] in new)
        con.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM old_copy")
        con.execute("DROP TABLE old_copy")


def test_feed_applied_to_a_mirror_equals_the_last_point(written):
    replica, images, _ = written
    con = sqlite3.connect(":memory:", isolation_level=None)
    for tx in changes(replica):
        for obj in tx_to_json(tx):
            obj = json.loads(json.dumps(obj))
            if "schema" in obj:
                _apply_schema(con, obj)
            else:
                apply_json(con, obj)
    from tests.sqlitefmt.test_sqlitefmt_util import oracle_rows

    assert oracle_rows(con) == oracle_of(images[max(images)])


def _compacted(tmp_path: Path) -> tuple[ltx.Replica, list[bytes]]:
    """TXIDs 1..4 merged by compaction (their level-0 files removed), then 5..7."""
    images = _history(tmp_path / "c.db", 1024)[:7]
    replica = ltx.open((tmp_path / "rep").as_uri())
    base = 1_790_000_000_000
    prev: dict[int, bytes] = {}
    for i, image in enumerate(images):
        cur = image_pages(image, 1024)
        stamp = base + i * 1000 + (3_700_000 if i >= 4 else 0)
        replica.append({p: d for p, d in cur.items() if prev.get(p) != d}, len(cur), stamp)
        prev = cur
        if i == 3:
            replica.compact(ltx.LevelsConfig.default(), now=base + 3_600_000)
    return replica, images


def test_merged_points_give_one_entry_for_their_range(tmp_path):
    replica, images = _compacted(tmp_path)
    assert [p.txid for p in replica.history()] == [4, 5, 6, 7]
    feed = list(changes(replica))
    assert [(tx.first_txid, tx.txid, tx.merged_from) for tx in feed] == [
        (1, 4, 1),
        (5, 5, None),
        (6, 6, None),
        (7, 7, None),
    ]
    want = expected_changes({}, oracle_of(images[3]))
    assert actual_changes(feed[0].rows) == want
    with pytest.raises(ltx.TxidNotAvailableError):
        next(changes(replica, since=2))


def test_a_file_deleted_under_a_diff_is_planned_again(tmp_path):
    images = _history(tmp_path / "c.db", 1024)[:5]
    url = (tmp_path / "rep").as_uri()
    writer = ltx.open(url)
    base = 1_790_000_000_000
    prev: dict[int, bytes] = {}
    reader = ltx.open(url)
    for i, image in enumerate(images):
        cur = image_pages(image, 1024)
        if i == 4:
            old = reader.page_map(4)  # planned from level-0 files 1..4
            writer.compact(ltx.LevelsConfig.default(), now=base + 3_600_000)  # drops L0 1..3
        writer.append({p: d for p, d in cur.items() if prev.get(p) != d}, len(cur), base + i)
        prev = cur
    reader.refresh()
    assert {f.min_txid for f in old.files if f.level == 0} == {1, 2, 3, 4}
    d = diff(reader, old, 5)
    assert sorted(d.pages) == sorted(changed_pages(images[3], images[4]))
    assert actual_changes(d.rows()) == expected_changes(oracle_of(images[3]), oracle_of(images[4]))
    assert all(f.level != 0 or f.min_txid > 3 for f in d.a.files)


def test_follow_stops_on_request_and_when_idle(written):
    replica, _, _ = written
    seen: list[TxChanges] = []
    for tx in changes(replica, since=6, follow=True, poll=0.01, stop=lambda: len(seen) >= 2):
        seen.append(tx)
    assert [tx.txid for tx in seen] == [7, 8]
    assert list(changes(replica, since=8, follow=True, poll=0.01, max_idle=0.05)) == []
    with pytest.raises(ltx.UsageError):
        next(changes(replica, poll=0))


# ---------------------------------------------------------------- formats


def test_json_values_round_trip():
    values = [None, 0, -(2**63), 2**63 - 1, 1.5, -0.0, "", "é\x00", b"", b"\x00\xff"]
    values += [math.inf, -math.inf]
    for v in values:
        back = value_from_json(json.loads(json.dumps(value_to_json(v))))
        assert type(back) is type(v) and back == v, v
    assert math.isnan(value_from_json(value_to_json(math.nan)))  # type: ignore[arg-type]
    assert value_to_json(b"hi") == {"$base64": "aGk="}
    for bad in ({"$base64": "!!"}, {"$x": 1}, [1], True):
        with pytest.raises(ltx.UsageError):
            value_from_json(bad)


def test_change_to_json_shape(written):
    replica, _, _ = written
    change = RowChange("t", (5,), "update", {"id": 5, "b": b"\x01"}, {"id": 5, "b": None})
    pm = replica.page_map(3)
    obj = change_to_json(3, pm.timestamp, change)
    assert list(obj) == ["txid", "timestamp", "table", "op", "key", "before", "after"]
    assert obj["txid"] == "0000000000000003" and obj["timestamp"].endswith("Z")
    assert parse_timestamp(obj["timestamp"]) == pm.timestamp
    assert obj["before"] == {"id": 5, "b": {"$base64": "AQ=="}} and obj["after"]["b"] is None
    assert change_to_json(3, None, change, merged_from=1)["merged_from"] == "0000000000000001"
    d = diff(replica, 1, 5)
    lines = list(diff_to_json(d))
    assert lines[0]["schema"] == "table" and lines[0]["name"] == "extra"
    assert {o["txid"] for o in lines} == {"0000000000000005"}
    assert next(diff_to_json(d, pages=True))["pages"] == list(d.pages)
    assert all("schema" not in o for o in diff_to_json(d, ["kv"]))


def test_text_helpers(written):
    replica, _, _ = written
    assert format_pages([1, 2, 3, 7, 9, 10]) == "1-3, 7, 9-10" and format_pages([]) == "-"
    assert format_value(None) == "NULL" and format_value("it's") == "'it''s'"
    assert format_value(b"\x00\xff") == "x'00ff'" and format_value(1.0) == "1.0"
    assert format_value(bytes(100), 8).endswith("...' (100 bytes)")
    assert format_value("x" * 50, 10) == "'xxxxxxxxxx...' (50 chars)"
    up = RowChange("t", (5,), "update", {"id": 5, "a": 1, "b": 2}, {"id": 5, "a": 1, "b": 2.0})
    assert format_change(up) == "update t (5): b: 2 -> 2.0"
    ins = RowChange("kv", ("k",), "insert", None, {"k": "k", "v": None})
    assert format_change(ins) == "insert kv ('k'): k='k', v=NULL"
    d = diff(replica, 4, 5)
    text = list(diff_to_text(d))
    assert text[0].startswith("create table extra: CREATE TABLE extra")
    assert text[1] == "insert extra (1): x=1"
    assert next(diff_to_text(d, pages=True)).endswith(f"differ: {format_pages(d.pages)}")
    tx = TxChanges(5, d.b.timestamp, tuple(d.rows()), 4, d.schema())
    assert next(tx_to_text(tx)).startswith("0000000000000004-0000000000000005 create table")


def test_docs_page_exists_and_names_the_format():
    text = (Path(__file__).resolve().parents[2] / "docs" / "changes.md").read_text()
    assert '{"$base64": ' in text and "merged_from" in text


def test_compaction_copy_keeps_answers(written, tmp_path):
    """The same TXIDs read through other files (a copy whose level-0 files are merged)
    give the same diff."""
    replica, _, _ = written
    root = Path(replica.store.root)
    shutil.copytree(root, tmp_path / "copy")
    copy = ltx.open((tmp_path / "copy").as_uri())
    copy.write_snapshot(copy.view(5))
    for x, y in ((1, 5), (5, 8), (2, 6)):
        assert diff(copy, x, y).pages == diff(replica, x, y).pages
        assert list(diff(copy, x, y).rows()) == list(diff(replica, x, y).rows())
