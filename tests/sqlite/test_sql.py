"""ltx.sqlite.connect: read-only SQL at a TXID, a time or the latest point, on our own replicas."""

from __future__ import annotations

import datetime as dt
import gc
import random
import sqlite3
import weakref

import pytest

import ltx
from ltx.compaction import LevelsConfig
from ltx.errors import StorageError
from tests.helpers import image_pages, sqlite_history

apsw = pytest.importorskip("apsw")
from ltx.sqlite import connect, register_vfs  # noqa: E402
from ltx.sqlite.vfs import shared_vfs  # noqa: E402

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)
PS = 4096
ROWS = "SELECT id, v FROM t ORDER BY id"


def _rows(image: bytes, tmp_path) -> list[tuple[object, ...]]:
    path = tmp_path / "image.db"
    path.write_bytes(image)
    con = sqlite3.connect(path)
    try:
        return con.execute(ROWS).fetchall()
    finally:
        con.close()


def _append(replica: ltx.Replica, images: list[bytes], upto: int, start: int = 0) -> None:
    """Append images[start:upto] as TXIDs start+1..upto, 5 s apart from T0."""
    prev = image_pages(images[start - 1], PS) if start else {}
    for i in range(start, upto):
        cur = image_pages(images[i], PS)
        changed = {p: d for p, d in cur.items() if prev.get(p) != d}
        replica.append(changed, len(cur), timestamp=T0 + dt.timedelta(seconds=5 * i))
        prev = cur


@pytest.fixture
def history(tmp_path):
    """A file:// replica with one TXID per image, and the rows each TXID must show."""
    images = sqlite_history(tmp_path / "src.db", page_size=PS, steps=7)
    url = (tmp_path / "replica").as_uri()
    _append(ltx.open(url), images, len(images))
    return url, images, [_rows(image, tmp_path) for image in images]


def q(con, sql: str, *args: object) -> list[tuple[object, ...]]:
    return [tuple(r) for r in con.execute(sql, *args)]


def test_connect_at_every_txid_and_move_back_and_forth(history):
    url, _, want = history
    for txid in range(1, len(want) + 1):
        con = connect(url, txid=txid)
        assert q(con, ROWS) == want[txid - 1]
        assert q(con, "PRAGMA litestream_txid") == [(f"{txid:016x}",)]
        assert q(con, "PRAGMA integrity_check") == [("ok",)]
        con.close()
    con = connect(url)
    order = list(range(1, len(want) + 1)) * 2
    random.Random(5).shuffle(order)
    for txid in order:  # SQLite's page cache must notice every move
        q(con, f"PRAGMA litestream_txid = '{txid:016x}'")
        assert con.txid == txid
        assert q(con, ROWS) == want[txid - 1], txid
    q(con, "PRAGMA litestream_txid = 'latest'")
    assert q(con, "SELECT litestream_txid()") == [(f"{len(want):016x}",)]


def test_litestream_time_pragma_and_functions(history):
    url, _, want = history
    con = connect(url, poll_interval=3600)
    latest = f"{len(want):016x}"
    last = T0 + dt.timedelta(seconds=5 * (len(want) - 1))
    assert q(con, "PRAGMA litestream_time") == [(last.strftime("%Y-%m-%dT%H:%M:%SZ"),)]
    cases = [
        ("2026-01-05T12:00:07Z", 2, "2026-01-05T12:00:07Z"),
        ("2026-01-05T12:00:10Z", 2, "2026-01-05T12:00:10Z"),  # files strictly before
        ("2026-01-05T12:00:10.001Z", 3, "2026-01-05T12:00:10.001Z"),
        ("2026-01-05T14:00:12.5+02:00", 3, "2026-01-05T14:00:12.5+02:00"),
        ("2026-01-05T12:00:12.120000Z", 3, "2026-01-05T12:00:12.12Z"),
        ("2026-01-05 12:00:16", 4, "2026-01-05T12:00:16Z"),
        ("2026-03-01T00:00:00Z", len(want), "2026-03-01T00:00:00Z"),  # past the newest file
    ]
    for text, txid, back in cases:
        assert q(con, f"PRAGMA litestream_time = '{text}'") == []
        assert q(con, "PRAGMA litestream_txid") == [(f"{txid:016x}",)], text
        assert q(con, "PRAGMA litestream_time") == [(back,)], text
        assert q(con, "SELECT litestream_time(), litestream_txid()") == [(back, f"{txid:016x}")]
        assert q(con, ROWS) == want[txid - 1], text
    ago = (dt.datetime.now(UTC) - (T0 + dt.timedelta(seconds=12.5))).total_seconds()
    assert q(con, "SELECT litestream_set_time(?)", (f"{ago:.3f} seconds ago",)) == [(None,)]
    assert con.txid == 3
    q(con, "PRAGMA litestream_time = 'LATEST'")
    assert q(con, "PRAGMA litestream_txid") == [(latest,)]
    assert q(con, "SELECT litestream_set_time('2026-01-05T12:00:03Z'), 1") == [(None, 1)]
    assert con.txid == 1
    q(con, "SELECT litestream_set_time('latest')")
    assert con.txid == len(want)
    lag = q(con, "PRAGMA litestream_lag")
    assert lag == [("0",)] and q(con, "SELECT litestream_lag()") == [(0,)]
    con.session.last_poll -= 42.5
    assert q(con, "PRAGMA litestream_lag") == [("42",)]
    assert q(con, "PRAGMA litestream_unknown") == []  # not ours: SQLite ignores it


def test_connect_at_a_timestamp(history):
    url, _, want = history
    con = connect(url, timestamp="2026-01-05T12:00:12Z")
    assert con.txid == 3 and q(con, ROWS) == want[2]
    con = connect(url, timestamp=T0 + dt.timedelta(seconds=1))
    assert con.txid == 1
    assert connect(url, timestamp="latest").txid == len(want)
    assert connect(url, timestamp="yesterday").txid == len(want)  # T0 is long gone


def test_errors_are_typed(history):
    url, _, _ = history
    con = connect(url)
    bad = [
        ("PRAGMA litestream_lag = 3", ltx.UsageError, "read-only"),
        ("PRAGMA litestream_txid = 'zz'", ltx.UsageError, "16 hex digits"),
        ("PRAGMA litestream_txid = '00000000000000ff'", ltx.TxidNotAvailableError, "not available"),
        ("PRAGMA litestream_time = 'soon'", ltx.UsageError, "cannot read a time"),
        ("PRAGMA litestream_time = '2025-01-01T00:00:00Z'", ltx.TxidNotAvailableError, "bounds"),
        ("SELECT litestream_set_time(NULL)", ltx.UsageError, "needs a time"),
    ]
    for sql, kind, words in bad:
        with pytest.raises(kind, match=words):
            q(con, sql)
    assert con.txid == 8  # a failed move stays put
    with pytest.raises(ltx.UsageError, match="not both"):
        connect(url, txid=1, timestamp="latest")
    with pytest.raises(ltx.UsageError, match="poll_interval"):
        connect(url, poll_interval=-1)
    with pytest.raises(ltx.UsageError, match="apply to a URL"):
        connect(ltx.open(url), cache_dir="x")
    with pytest.raises(ltx.TxidNotAvailableError):
        connect(url, txid=99)
    with pytest.raises(ltx.UsageError, match="'ltx' belongs"):
        register_vfs(ltx.open(url).view(), "ltx")


def test_writes_fail_read_only(history):
    con = connect(history[0])
    for sql in ("CREATE TABLE x (a)", "INSERT INTO t (v) VALUES ('x')", "DELETE FROM t"):
        with pytest.raises(apsw.ReadOnlyError, match="readonly"):
            q(con, sql)
    assert con.readonly("main")


def test_a_transaction_reads_one_txid_while_the_replica_moves(tmp_path):
    images = sqlite_history(tmp_path / "src.db", page_size=PS, steps=6)
    want = [_rows(image, tmp_path) for image in images]
    url = (tmp_path / "replica").as_uri()
    writer = ltx.open(url)
    _append(writer, images, 3)
    con = connect(url, poll_interval=0)
    assert q(con, ROWS) == want[2]
    con.execute("BEGIN")
    assert q(con, ROWS) == want[2]
    _append(writer, images, 5, start=3)
    assert q(con, ROWS) == want[2] and q(con, "SELECT litestream_txid()") == [(f"{3:016x}",)]
    with pytest.raises(ltx.UsageError, match="inside a read transaction"):
        q(con, "PRAGMA litestream_time = 'latest'")
    con.commit()
    assert q(con, ROWS) == want[4] and con.txid == 5
    # An open cursor holds the read transaction too: no move until it is done.
    cur = con.execute(ROWS)
    first = cur.fetchone()
    _append(writer, images, 6, start=5)
    assert [first, *cur.fetchall()] == [tuple(r) for r in want[4]]
    assert q(con, ROWS) == want[5]
    # A connection at a fixed TXID or time never moves.
    fixed = connect(url, txid=2, poll_interval=0)
    _append(writer, images, 7, start=6)
    assert q(fixed, ROWS) == want[1] and q(con, ROWS) == want[6]


def test_poll_interval_and_failed_polls(history, tmp_path):
    _, images, want = history
    replica_path = tmp_path / "second"
    url2 = replica_path.as_uri()
    _append(ltx.open(url2), images, 4)
    con = connect(url2, poll_interval=3600)
    _append(ltx.open(url2), images, 6, start=4)
    assert con.txid == 4 and q(con, ROWS) == want[3]  # not due yet
    con.session.poll_interval = 0
    assert q(con, ROWS) == want[5]
    replica = con.session.replica

    def offline() -> None:
        raise StorageError("offline", url=url2)

    replica.refresh = offline  # type: ignore[method-assign]
    con.session.last_poll -= 7
    assert q(con, ROWS) == want[5]  # keeps serving the TXID it has
    assert isinstance(con.session.poll_error, StorageError)
    assert int(q(con, "PRAGMA litestream_lag")[0][0]) >= 7


def test_reads_survive_compaction_inside_a_transaction(history):
    url, _, want = history
    replica = ltx.open(url)
    con = connect(replica)
    q(con, "PRAGMA cache_size = 0")
    con.execute("BEGIN")
    assert q(con, ROWS) == want[-1]
    planned = con.session.view.page_map.files
    config = LevelsConfig(
        [dt.timedelta(seconds=10)],
        snapshot_interval=dt.timedelta(hours=1),
        l0_retention=dt.timedelta(seconds=1),
    )
    for _ in range(2):  # compact into level 1, then drop level 0 past its retention
        replica.compact(config, now=dt.datetime.now(UTC) + dt.timedelta(hours=1))
    assert len([f for f in ltx.open(url).files() if f.level == 0]) == 1  # Litestream keeps one
    replica.cache._lru.clear()
    misses = replica.cache.misses
    assert q(con, ROWS) == want[-1]
    assert replica.cache.misses > misses  # read again, from the compacted files
    assert con.session.view.page_map.files != planned and con.txid == len(want)
    con.commit()


def test_two_connections_and_close_releases_everything(history):
    url, _, want = history
    vfs = shared_vfs()
    gc.collect()  # connections earlier tests dropped must not be freed mid-test
    before = vfs.open_sessions
    replica = ltx.open(url)
    a, b = connect(replica, txid=2), connect(replica, txid=6)
    ca, cb = a.execute(ROWS), b.execute(ROWS)
    assert [ca.fetchone(), cb.fetchone()] == [tuple(want[1][0]), tuple(want[5][0])]
    assert [tuple(r) for r in ca] == want[1][1:] and [tuple(r) for r in cb] == want[5][1:]
    assert vfs.open_sessions == before + 2
    ref = weakref.ref(a.session)
    a.close()
    assert vfs.open_sessions == before + 1
    del ca
    gc.collect()
    assert ref() is None
    with pytest.raises(apsw.ConnectionClosedError):
        a.txid  # noqa: B018
    assert q(b, ROWS) == want[5]
    b.close()
    assert vfs.open_sessions == before
    bogus = f"file:ltx-999999?vfs={vfs.vfsname}"
    with pytest.raises(apsw.CantOpenError):
        apsw.Connection(bogus, flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)


def test_dbapi_style_use(history, tmp_path, monkeypatch):
    _, _, want = history
    monkeypatch.chdir(tmp_path)
    con = connect("replica", txid=4)  # a bare path is a file:// replica
    cur = con.cursor()
    assert cur.execute("SELECT id, v FROM t WHERE id > ? ORDER BY id", (0,)) is cur
    assert [d[0] for d in cur.description] == ["id", "v"]
    assert len(cur.description[0]) == 7
    assert cur.fetchmany(3) == [tuple(r) for r in want[3][:3]]
    assert cur.fetchall() == [tuple(r) for r in want[3][3:]]
    assert cur.fetchmany() == []
    empty = con.cursor().execute("SELECT id, v FROM t WHERE 0")
    assert [d[0] for d in empty.description] == ["id", "v"] and empty.fetchall() == []
    con.commit()
    con.rollback()
    assert con.timestamp == T0 + dt.timedelta(seconds=15)
    con.close()


def test_a_latest_connection_whose_txid_is_compacted_away_moves_on(tmp_path):
    images = sqlite_history(tmp_path / "src.db", page_size=PS, steps=7)
    want = [_rows(image, tmp_path) for image in images]
    url = (tmp_path / "replica").as_uri()
    writer = ltx.open(url)
    _append(writer, images, 5)
    con = connect(url, poll_interval=3600)
    q(con, "PRAGMA cache_size = 0")
    assert q(con, ROWS) == want[4]
    _append(writer, images, 8, start=5)
    config = LevelsConfig([dt.timedelta(seconds=10)], l0_retention=dt.timedelta(seconds=1))
    for _ in range(2):
        writer.compact(config, now=dt.datetime.now(UTC) + dt.timedelta(hours=1))
    con.session.replica.cache._lru.clear()
    with pytest.raises(ltx.TxidNotAvailableError, match="nearest"):
        q(con, ROWS)  # TXID 5 is inside the level-1 file now: an error, never a wrong row
    assert q(con, ROWS) == want[7] and con.txid == 8  # the next transaction moves on
    fixed = connect(url, txid=8)
    assert q(fixed, ROWS) == want[7]
