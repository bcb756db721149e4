"""Four writer connections and replicator restarts under load, with the truth recorded
from the app side: each transaction takes the next number of a sequence inside itself
(SQLite serializes writers) and changes rows as a function of that number alone, so the
database after commit k is the replay of transactions 1..k in one connection."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import ltx
from ltx.replication import Replicator
from tests.conftest import needs_litestream
from tests.litestream_harness import restore
from tests.replicate.replicate_helpers import app_db, replica_image, target

pytestmark = [pytest.mark.interop, needs_litestream]

WRITERS, STEP = 4, 40
"""Four writers; the replicator restarts after each STEP commits, under that load."""
LOG = "CREATE TABLE IF NOT EXISTS log(n INTEGER PRIMARY KEY, writer INT)"
Rows = list[tuple[Any, ...]]


def _apply(conn: sqlite3.Connection, n: int) -> None:
    """Transaction n's inserts, updates and deletes: a function of n only."""
    blob = random.Random(n).randbytes
    conn.execute("INSERT INTO t VALUES (?, ?)", (n, blob(100 + n * 37 % 1500)))
    if n % 3 == 0:
        conn.execute("UPDATE t SET v = ? WHERE k = ?", (blob(50 + n % 700), n // 3))
    if n % 4 == 0:
        conn.execute("DELETE FROM t WHERE k = ?", (n // 2,))


def _rows(conn: sqlite3.Connection) -> tuple[int, Rows]:
    """(k, the rows of t) where the database holds transactions 1..k; the sequence has
    no gap."""
    seq = [n for (n,) in conn.execute("SELECT n FROM log ORDER BY n")]
    assert seq == list(range(1, len(seq) + 1))
    return len(seq), conn.execute("SELECT k, v FROM t ORDER BY k").fetchall()


class _Replay:
    """Transactions 1..k replayed in one connection, k only growing."""

    def __init__(self) -> None:
        self.conn = app_db(Path(":memory:"))
        self.k = 0

    def upto(self, k: int) -> Rows:
        assert k >= self.k, "a later TXID holds fewer transactions"
        for n in range(self.k + 1, k + 1):
            _apply(self.conn, n)
        self.k = k
        return self.conn.execute("SELECT k, v FROM t ORDER BY k").fetchall()


def _latest_k(url: str, kwargs: dict[str, Any]) -> int:
    """How many transactions the replica's latest TXID holds (through ``ltx.open``)."""
    image = bytearray(replica_image(url, None, **kwargs))
    image[18:20] = b"\x01\x01"  # rollback-journal mode: a memory database has no WAL
    conn = sqlite3.connect(":memory:")
    conn.deserialize(image)
    return _rows(conn)[0]


def _writer(
    db: Path, w: int, done: list[int], cond: threading.Condition, stop: threading.Event
) -> None:
    """Commits transactions until ``stop``, each appended to ``done`` once COMMIT
    returned."""
    conn = app_db(db, autocheckpoint=1000)
    conn.execute("PRAGMA busy_timeout=10000")
    while not stop.is_set():
        conn.execute("BEGIN IMMEDIATE")
        (n,) = conn.execute("SELECT coalesce(max(n), 0) + 1 FROM log").fetchone()
        conn.execute("INSERT INTO log VALUES (?, ?)", (n, w))
        _apply(conn, n)
        conn.execute("COMMIT")
        with cond:
            done.append(n)
            cond.notify_all()
        time.sleep(0.003)  # lets the other writers and the replicator in
    conn.close()


def _check_every_txid(
    url: str, kwargs: dict[str, Any], env: dict[str, str], tmp: Path, stride: int
) -> int:
    """``litestream restore -txid N`` of every TXID (every ``stride``-th and the last,
    where each restore is slow) is the replay of the transactions it holds, which only
    grow; returns how many the last one holds."""
    last = ltx.open(url, **kwargs).view().txid
    replay = _Replay()
    for txid in [*range(1, last, stride), last]:
        out = tmp / f"r{txid}.db"
        proc = restore(url, out, txid=txid, env=env)
        assert proc.returncode == 0, proc.stderr
        conn = sqlite3.connect(out)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        k, rows = _rows(conn)
        assert rows == replay.upto(k), f"litestream restore -txid {txid} (k={k})"
        if txid == last:
            writers = conn.execute("SELECT count(DISTINCT writer) FROM log").fetchone()
            assert writers == (WRITERS,)
        conn.close()
    return replay.k


@pytest.mark.parametrize("kind", ["file", pytest.param("s3", marks=pytest.mark.servers)])
def test_four_writers_and_restarts_under_load(kind: str, request: Any, tmp_path: Path) -> None:
    """Four connections write while the replicator runs in its thread and is stopped and
    started again twice. After each restart's first sync the replica holds every commit
    that finished before it; every TXID restores to the replay of the transactions it
    holds, and the last one holds them all."""
    url, kwargs, env = target(kind, request, tmp_path)
    db = tmp_path / "app.db"
    app_db(db).execute(LOG).connection.close()
    done: list[int] = []
    cond, stop = threading.Condition(), threading.Event()
    threads = [
        threading.Thread(target=_writer, args=(db, w, done, cond, stop)) for w in range(WRITERS)
    ]
    keeper = sqlite3.connect(db)  # keeps the WAL while replicators come and go
    opts = {"sync_interval": 0.1, "replica_options": kwargs, "min_checkpoint_pages": 50}
    rep = Replicator(db, url, **opts).start()
    for t in threads:
        t.start()
    try:
        for restart in (True, True, False):
            with cond:  # STEP more commits: the writers are at work through each restart
                n = len(done)
                assert cond.wait_for(lambda n=n: len(done) >= n + STEP, 60)
            if restart:
                rep.stop()
                with cond:
                    finished = max(done)
                rep = Replicator(db, url, **opts).start()  # opens and syncs once
                assert _latest_k(url, kwargs) >= finished
    finally:
        stop.set()
        for t in threads:
            t.join()
    rep.stop()
    keeper.close()
    assert sorted(done) == list(range(1, len(done) + 1))
    stride = 1 if kind == "file" else 4  # each S3 restore reads every level-0 file below N
    assert _check_every_txid(url, kwargs, env, tmp_path, stride) == len(done)
