"""ltx.sqlite.connect against the real litestream 0.5.17: restores, the VFS extension, replicate."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import ltx
from tests.litestream_harness import (
    OPEN_LITESTREAM_VFS,
    Replicator,
    litestream_env,
    mixed_workload,
    restore,
    write_config,
)

apsw = pytest.importorskip("apsw")
from ltx.sqlite import connect  # noqa: E402
from ltx.times import format_timestamp  # noqa: E402

pytestmark = pytest.mark.interop
UTC = dt.timezone.utc
ROWS = "SELECT id, n, v FROM t ORDER BY id"
SCHEMA = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"

# Sets PRAGMA litestream_time to each case through the real VFS extension and reads back
# the TXID and the time; null where the VFS refused the time.
VFS_TIMES = (
    "import json, sys\nurl, cases = sys.argv[1], json.loads(sys.argv[2])\n"
    + OPEN_LITESTREAM_VFS
    + textwrap.dedent(
        """
    out = []
    for text in cases:
        try:
            list(con.execute("PRAGMA litestream_time = '%s'" % text))
        except apsw.Error:
            out.append(None)
            continue
        txid = list(con.execute("PRAGMA litestream_txid"))[0][0]
        out.append([txid, list(con.execute("PRAGMA litestream_time"))[0][0]])
    print(json.dumps(out))
    """
    )
)


def q(con, sql: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in con.execute(sql)]


def _sqlite_rows(path, sql: str) -> list[tuple[object, ...]]:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _dump(run) -> list[list[tuple[object, ...]]]:
    """The schema, then every table's rows in rowid order, through ``run(sql)``."""
    tables = [name for (name,) in run(TABLES)]
    return [run(SCHEMA), *(run(f'SELECT * FROM "{name}" ORDER BY rowid') for name in tables)]


@pytest.mark.slow
@pytest.mark.parametrize("page_size", [1024, 4096, 65536])
def test_connect_at_txid_matches_litestream_restore(recorded_replicas, tmp_path, page_size):
    _, url = recorded_replicas(page_size)
    top = max(f.max_txid for f in ltx.open(url).files())
    picks = sorted({*range(1, top + 1, max(1, top // 9)), top - 1, top})
    moving = connect(url)
    for txid in [*picks, *reversed(picks)]:
        out = tmp_path / f"ls-{txid}.db"
        if not out.exists():
            proc = restore(url, out, txid=txid)
            assert proc.returncode == 0, proc.stderr
        want = _dump(lambda sql, out=out: _sqlite_rows(out, sql))
        q(moving, f"PRAGMA litestream_txid = '{txid:016x}'")
        assert _dump(lambda sql: q(moving, sql)) == want, (page_size, txid)
        con = connect(url, txid=txid)
        assert q(con, "PRAGMA page_size") == [(page_size,)]
        assert _dump(lambda sql, con=con: q(con, sql)) == want, (page_size, txid)
        assert q(con, "PRAGMA integrity_check") == [("ok",)]
        con.close()
    moving.close()


def _time_cases(files: list[ltx.FileInfo]) -> list[str]:
    """RFC 3339 times around and between level-0 files, offsets, words and relative forms."""
    l0 = sorted((f for f in files if f.level == 0), key=lambda f: f.created_at)
    ms = [int(f.created_at.timestamp() * 1000) for f in l0]
    cases = [format_timestamp(ms[0] - 1000), format_timestamp(ms[-1] + 1500)]
    for i in range(1, len(ms), max(1, len(ms) // 8)):
        cases += [format_timestamp(ms[i] - 1), format_timestamp(ms[i] + 1)]
        cases.append(format_timestamp((ms[i - 1] + ms[i]) // 2))
    mid = l0[len(l0) // 2].created_at + dt.timedelta(milliseconds=1)
    cases.append(mid.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat())
    cases.append(mid.astimezone(dt.timezone(dt.timedelta(hours=-5, minutes=-30))).isoformat())
    return [*cases, "latest", "LATEST", "1 second ago", "2 hours ago", "yesterday"]


def test_litestream_time_picks_the_txid_the_real_vfs_picks(recorded_replicas):
    _, url = recorded_replicas(4096)
    cases = _time_cases(ltx.open(url).files())
    proc = subprocess.run(
        [sys.executable, "-c", VFS_TIMES, url, json.dumps(cases)],
        capture_output=True, text=True, timeout=120, env=litestream_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = json.loads(proc.stdout.splitlines()[-1])
    con = connect(url)
    refused = 0
    for text, got in zip(cases, theirs, strict=True):
        try:
            q(con, f"PRAGMA litestream_time = '{text}'")
        except (ltx.TxidNotAvailableError, ltx.UsageError):
            assert got is None, (text, got)
            refused += 1
            continue
        assert got is not None, text
        assert q(con, "PRAGMA litestream_txid") == [(got[0],)], text
        if "ago" not in text:  # a relative time reads back as the moment it was set
            assert q(con, "PRAGMA litestream_time") == [(got[1],)], text
    assert 3 <= refused < len(cases) - 10


def test_latest_connection_sees_replicated_txids_within_two_polls(tmp_path):
    db = tmp_path / "app.db"
    setup = sqlite3.connect(db)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INT)")
    setup.close()
    url = (tmp_path / "replica").as_uri()
    rep = Replicator(write_config(tmp_path / "litestream.yml", db, url))
    poll = 0.2
    try:
        probe = ltx.open(url)
        deadline = time.monotonic() + 15
        while not (tmp_path / "replica").exists() or not probe.refresh():
            assert time.monotonic() < deadline, "litestream wrote nothing"
            time.sleep(0.1)
        con = connect(url, poll_interval=poll)
        writer = sqlite3.connect(db, isolation_level=None)
        for i in range(1, 4):
            before = con.txid
            writer.execute("INSERT INTO t (n) VALUES (?)", (i,))
            landed = seen = None
            deadline = time.monotonic() + 15
            while seen is None:
                assert time.monotonic() < deadline, "the new TXID never showed"
                if landed is None and max(f.max_txid for f in probe.refresh()) > before:
                    landed = time.monotonic()
                [(txid, rows)] = q(con, "SELECT litestream_txid(), count(*) FROM t")
                if int(str(txid), 16) > before:
                    seen = time.monotonic()
                    assert rows == i
                time.sleep(0.02)
            assert seen - (landed or seen) <= 2 * poll, (i, seen - (landed or seen))
        writer.close()
        con.close()
    finally:
        rep.stop()


@pytest.mark.slow
def test_long_read_transaction_during_live_compaction(tmp_path):
    db = tmp_path / "app.db"
    setup = sqlite3.connect(db)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE seed (x)")
    setup.close()
    url = (tmp_path / "replica").as_uri()
    cfg = write_config(
        tmp_path / "litestream.yml", db, url,
        levels=("1s", "2s"), snapshot_interval="4s", l0_retention="1s",
    )  # fmt: skip
    rep = Replicator(cfg)
    writer = threading.Thread(
        target=mixed_workload, args=(db,), kwargs={"page_size": 4096, "seconds": 9}
    )
    try:
        writer.start()
        time.sleep(3)
        con = connect(url, poll_interval=0.2)
        q(con, "PRAGMA cache_size = 0")  # make SQLite read through the VFS every time
        lru = con.session.replica.cache._lru
        reads = checked = lost = 0
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            con.execute("BEGIN")
            first = q(con, ROWS)
            txid = con.txid
            want = tmp_path / f"want-{txid}.db"
            if restore(url, want, txid=txid).returncode == 0:
                assert first == _sqlite_rows(want, ROWS), txid
                checked += 1
            for _ in range(6):  # the same transaction, while compaction deletes files
                lru.clear()
                try:
                    assert q(con, ROWS) == first, txid
                except ltx.TxidNotAvailableError:
                    lost += 1  # the TXID left the replica: an error, never a wrong row
                    break
                reads += 1
                time.sleep(0.1)
            con.rollback()
        writer.join()
        assert reads > 10 and checked > 0, (reads, checked, lost)
        con.close()
    finally:
        writer.join()
        rep.stop()
