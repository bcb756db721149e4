"""ltx.changes on replicas written by the real litestream 0.5.17.

Pages against the files ``litestream restore -txid`` writes, rows against a row-by-row
comparison made with sqlite3, and sqldiff on the table with a primary key; the change
feed against consecutive restores, with compacted (merged) points, and live.
"""

from __future__ import annotations

import itertools
import random
import shutil
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import ltx
from ltx.changes import EMPTY, TxChanges, changes, diff
from tests.changes.test_diff_util import (
    expected_changes,
    file_changes,
    need_sqldiff,
    oracle_of,
    sqldiff_keys,
)
from tests.conftest import needs_litestream
from tests.litestream_harness import Replicator, restore, write_config
from tests.sqlitefmt.test_sqlitefmt_util import actual_changes, tagged

pytestmark = pytest.mark.interop


def _restored(url: str, where: Path, txids: list[int]) -> dict[int, Path]:
    """``litestream restore -txid`` of each TXID (a few at a time: each is a process)."""
    where.mkdir(exist_ok=True)

    def one(t: int) -> tuple[int, Path]:
        path = where / f"{t:016x}.db"
        if not path.exists():
            proc = restore(url, path, txid=t)
            assert proc.returncode == 0, proc.stderr
        return t, path

    with ThreadPoolExecutor(6) as pool:
        return dict(pool.map(one, txids))


@pytest.fixture(scope="module")
def restored(recorded_replicas, tmp_path_factory):
    """page size -> (replica URL, TXID -> restored file), restored once per module."""
    made: dict[int, tuple[str, dict[int, Path]]] = {}

    def get(page_size: int) -> tuple[str, dict[int, Path]]:
        if page_size not in made:
            _, url = recorded_replicas(page_size)
            txids = [p.txid for p in ltx.open(url).history()]
            where = tmp_path_factory.mktemp(f"restored-{page_size}")
            made[page_size] = (url, _restored(url, where, txids))
        return made[page_size]

    return get


def _pairs(txids: list[int], n: int, seed: int) -> list[tuple[int, int]]:
    rnd = random.Random(seed)
    pairs = list(itertools.pairwise(txids))
    pairs += [(txids[0], txids[-1]), (txids[-1], txids[0]), (EMPTY, txids[-1])]
    pairs += [(EMPTY, rnd.choice(txids)), (rnd.choice(txids), EMPTY)]
    pairs += [tuple(rnd.sample(txids, 2)) for _ in range(n)]  # type: ignore[misc]
    return pairs


@pytest.mark.parametrize("page_size", [1024, 4096, pytest.param(65536, marks=pytest.mark.slow)])
def test_diff_matches_litestream_restores(restored, page_size):
    need_sqldiff()
    url, files = restored(page_size)
    replica = ltx.open(url)
    txids = [p.txid for p in replica.history()]
    assert len(txids) > 10 and list(files) == txids
    oracles = {t: oracle_of(p) for t, p in files.items()} | {EMPTY: {}}
    compared = 0
    for x, y in _pairs(txids, 12, page_size):
        d = diff(replica, x, y)
        assert set(d.pages) == file_changes(files.get(x), files.get(y)), (x, y)
        assert list(d.pages) == sorted(d.pages)
        got = list(d.rows())
        assert actual_changes(got) == expected_changes(oracles[x], oracles[y]), (x, y)
        if "t" in oracles[x] and "t" in oracles[y]:  # sqldiff compares tables on both sides
            mine = {(c.table, c.key, c.op) for c in got if c.table == "t"}
            assert mine == sqldiff_keys(files[x], files[y], "t"), (x, y)
            compared += 1
    assert compared > 10


def test_feed_matches_consecutive_restores_and_merged_points(restored, tmp_path):
    url, files = restored(4096)
    replica = ltx.open(url)
    txids = [p.txid for p in replica.history()]
    oracles = {t: oracle_of(p) for t, p in files.items()} | {EMPTY: {}}
    feed = list(changes(replica))
    assert [tx.txid for tx in feed] == txids
    prev = EMPTY
    for tx in feed:
        assert actual_changes(tx.rows) == expected_changes(oracles[prev], oracles[tx.txid])
        prev = tx.txid
    # Without level-0 files, compaction's merged ranges are the finest points left.
    root = Path(replica.store.root)
    shutil.copytree(root, tmp_path / "merged")
    shutil.rmtree(tmp_path / "merged" / "ltx" / "0")
    merged = ltx.open((tmp_path / "merged").as_uri())
    points = [p.txid for p in merged.history()]
    assert len(points) < len(txids)
    entries = list(changes(merged))
    assert [tx.txid for tx in entries] == points
    assert any(tx.merged_from is not None for tx in entries)
    prev = EMPTY
    for tx in entries:
        assert tx.first_txid == prev + 1
        assert (tx.merged_from is not None) == (tx.txid - prev > 1)
        assert actual_changes(tx.rows) == expected_changes(oracles[prev], oracles[tx.txid])
        prev = tx.txid


# ---------------------------------------------------------------- live


N = 24  # logged transactions; each touches rows no other logged transaction touches


def _txn(con: sqlite3.Connection, k: int) -> list:
    """Transaction ``k``: insert three new rows, update row k, delete row N + k; returns
    its row changes as the test's log records them."""
    before_u = con.execute("SELECT id, v, b FROM t WHERE id = ?", (k,)).fetchone()
    before_d = con.execute("SELECT id, v, b FROM t WHERE id = ?", (N + k,)).fetchone()
    new = [(1000 * k + j, f"new {k}.{j}", bytes([k, j]) * 300) for j in range(3)]
    con.execute("BEGIN")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", new)
    con.execute("UPDATE t SET v = ? WHERE id = ?", (f"updated in {k}", k))
    con.execute("DELETE FROM t WHERE id = ?", (N + k,))
    con.execute("COMMIT")
    row = lambda r: {"id": r[0], "v": r[1], "b": r[2]}  # noqa: E731
    log = [("t", (r[0],), "insert", None, row(r)) for r in new]
    log.append(("t", (k,), "update", row(before_u), row((k, f"updated in {k}", before_u[2]))))
    log.append(("t", (N + k,), "delete", row(before_d), None))
    return log


def _freeze(log: list) -> set:
    """The log's changes in the form ``actual_changes`` gives (values tagged by type)."""
    frz = lambda row: None if row is None else tuple(sorted(tagged(row).items()))  # noqa: E731
    return {(t, k, op, frz(b), frz(a)) for t, k, op, b, a in log}


def _match(feed: list[TxChanges], log: list[list]) -> None:
    """Each non-empty feed entry is exactly the union of the next run of logged
    transactions (one, or several that litestream shipped together): nothing lost,
    nothing repeated, in order."""
    i = 0
    for tx in feed:
        got = actual_changes(tx.rows)
        if not got:
            continue
        want: set = set()
        while i < len(log) and len(want) < len(got):
            want |= _freeze(log[i])
            i += 1
        assert got == want, (tx.txid, i)
    assert i == len(log)


@needs_litestream
def test_follow_a_live_replica_sees_every_change_once(tmp_path):
    db = tmp_path / "app.db"
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB)")
    seed = [(i, f"seed {i}", bytes([i]) * 500) for i in range(1, 2 * N + 1)]
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", seed)
    log = [[("t", (i,), "insert", None, {"id": i, "v": v, "b": b}) for i, v, b in seed]]
    url = (tmp_path / "replica").as_uri()
    rep = Replicator(write_config(tmp_path / "litestream.yml", db, url))
    first: list[TxChanges] = []
    rest: list[TxChanges] = []
    seen = lambda feed: sum(len(tx.rows) for tx in feed)  # noqa: E731
    half = len(log[0]) + N // 2 * 5  # the seed and the first half of the transactions
    total = len(log[0]) + N * 5
    try:
        time.sleep(1.0)

        def follow_first_half() -> None:
            stop = lambda: seen(first) >= half  # noqa: E731
            for tx in changes(ltx.open(url), follow=True, poll=0.1, stop=stop, max_idle=30):
                first.append(tx)

        thread = threading.Thread(target=follow_first_half)
        thread.start()
        for k in range(1, N // 2 + 1):
            log.append(_txn(con, k))
            time.sleep(0.15)
        thread.join(timeout=60)
        assert not thread.is_alive() and seen(first) == half
        for k in range(N // 2 + 1, N + 1):  # written after the first follower stopped
            log.append(_txn(con, k))
            time.sleep(0.15)
        since = first[-1].txid  # resume from the last TXID the first follower yielded
        stop = lambda: seen(rest) >= total - half  # noqa: E731
        for tx in changes(ltx.open(url), since, follow=True, poll=0.1, stop=stop, max_idle=30):
            rest.append(tx)
    finally:
        rep.stop()
        con.close()
    assert seen(rest) == total - half
    _match(first + rest, log)
