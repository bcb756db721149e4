"""Crash safety: SIGKILL the replicator, and separately the app, at random moments of a
write workload; after a restart and one sync nothing the app saw committed is missing,
TXIDs are contiguous, no file changes bytes, and every TXID restores intact."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import ltx
from ltx.replication import Replicator
from tests.replicate.replicate_helpers import app_db, target

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("LTX_CRASH_KILLS", "20"))
"""How many kills (the issue asks for 100: LTX_CRASH_KILLS=100). Level 0 only
(``levels=False``): every L0 file is checked, and on a run past 5 minutes L0 retention
would remove the oldest; compaction's own crash safety is tested in test_compaction."""

APP = """
import itertools, os, sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
start, pause = int(sys.argv[2]), float(sys.argv[3])
for k in itertools.count(start):
    c.execute("BEGIN IMMEDIATE")
    c.execute("INSERT INTO t VALUES (?, ?)", (k, bytes(k % 2000)))
    c.execute("UPDATE t SET v = ? WHERE k = ?", (b"u" * (k % 500), k // 2))
    c.execute("COMMIT")
    os.write(1, b"%d\\n" % k)  # one write: a kill leaves no half line
    time.sleep(pause)
"""
"""The app: a commit, then its key on a line of its own; ``pause`` seconds between."""


def _committed(log: Path) -> list[int]:
    """The keys the app saw committed: its complete lines."""
    return [int(line) for line in log.read_text().splitlines(keepends=True) if line[-1] == "\n"]


REPLICATOR = """
import sys, time
from ltx.replication import Replicator
r = Replicator(sys.argv[1], sys.argv[2], sync_interval=float(sys.argv[3]), owner="crash-test",
               min_checkpoint_pages=200, levels=False).start()
print("ready", flush=True)
while True:
    time.sleep(1)
"""


def _l0(url: str, opts: dict[str, Any]) -> dict[int, str]:
    r = ltx.open(url, **opts)
    return {
        f.max_txid: hashlib.sha256(r.store.read(f.path)).hexdigest() for f in r.store.list_level(0)
    }


@pytest.mark.parametrize(
    ("kind", "kills", "pause", "interval", "spread"),
    [
        ("file", KILLS, 0, 0.02, 40),
        pytest.param("s3", 5, 0.005, 0.1, 5, marks=pytest.mark.servers),
    ],
)
def test_kills_lose_nothing(
    kind: str, kills: int, pause: float, interval: float, spread: int, request: Any, tmp_path: Path
) -> None:
    """On moto S3 a few kills (5), the app paced and fewer TXIDs, so every file can be
    read after each kill: each restart of a killed replicator takes its lease back under
    its owner name and goes on above what it wrote."""
    url, opts, env = target(kind, request, tmp_path)
    db = tmp_path / "app.db"
    app_db(db, autocheckpoint=1000).close()
    rnd = random.Random(11)
    seen: set[int] = set()
    files: dict[int, str] = {}
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    spawned: list[subprocess.Popen[bytes]] = []

    def spawn(code: str, *args: str, out: Path) -> subprocess.Popen[bytes]:
        with open(out, "ab") as fh:
            cmd = [sys.executable, "-c", code, *args]
            spawned.append(subprocess.Popen(cmd, stdout=fh, env={**os.environ, **env}))
        return spawned[-1]

    def ready(n: int) -> None:
        """Wait for the n-th replicator to have started (imports take a while)."""
        deadline = time.monotonic() + 60
        while (out_dir / "rep.log").read_text().count("ready") < n:
            assert time.monotonic() < deadline, "replicator did not start"
            time.sleep(0.05)

    try:
        next_key, starts = 0, 1
        app = spawn(APP, str(db), "0", str(pause), out=out_dir / "app.log")
        rep = spawn(REPLICATOR, str(db), url, str(interval), out=out_dir / "rep.log")
        ready(starts)
        for i in range(kills):
            time.sleep(rnd.uniform(0.02, 0.3))
            victim = rep if i % 2 == 0 else app
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            if victim is app:
                keys = _committed(out_dir / "app.log")
                seen.update(keys)
                next_key = max(keys, default=next_key) + 1
                start = str(next_key + 10_000 * (i + 1))
                app = spawn(APP, str(db), start, str(pause), out=out_dir / "app.log")
            else:
                rep = spawn(REPLICATOR, str(db), url, str(interval), out=out_dir / "rep.log")
                starts += 1
                ready(starts)
            now = _l0(url, opts)
            assert all(now[t] == h for t, h in files.items() if t in now), "a file changed bytes"
            files.update(now)
        app.send_signal(signal.SIGKILL)
        app.wait()
        rep.send_signal(signal.SIGKILL)
        rep.wait()
        seen.update(_committed(out_dir / "app.log"))
    finally:  # a failure must not leave a writer and a replicator running
        for proc in spawned:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    with Replicator(db, url, owner="crash-test", levels=False, replica_options=opts) as last:
        last.sync()
    final = _l0(url, opts)
    assert sorted(final) == list(range(1, max(final) + 1))
    assert all(final[t] == h for t, h in files.items())
    replica = ltx.open(url, **opts)
    prev: set[int] = set()
    step = max(1, len(final) // spread)  # every TXID is slow on a busy machine: a spread
    for txid in sorted(final)[::-1][::step][::-1]:
        out = tmp_path / f"r{txid}.db"
        replica.restore(out, txid=txid)
        conn = sqlite3.connect(out)
        assert conn.execute("PRAGMA quick_check").fetchone() == ("ok",)
        rows = {k for (k,) in conn.execute("SELECT k FROM t")}
        conn.close()
        out.unlink()
        if not prev <= rows:
            from ltx.codec import Header

            for t in range(max(1, txid - 4), txid + 2):
                h = Header.from_bytes(replica.store.read(replica.store.file_path(0, t, t))[:100])
                print("DBG", t, h.commit, h.wal_offset, h.wal_size, h.wal_salt1, h.is_snapshot)
            print((out_dir / "rep.log").read_text()[-3000:])
        assert prev <= rows, txid
        prev = rows
    assert seen <= prev, sorted(seen - prev)[:5]
    print(f"{kills} kills: {len(final)} TXIDs, {len(seen)} commits seen, all replicated")
