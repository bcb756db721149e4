"""``ltx replicate``: a daemon that syncs, logs JSON lines and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import ltx
from tests.replicate.replicate_helpers import app_db, image, replica_image, same_db


def _start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ltx", "replicate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigterm_stops_with_a_final_sync(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    urls = [(tmp_path / "a").as_uri(), (tmp_path / "b").as_uri()]
    app = app_db(db)
    proc = _start([str(db), *urls, "-sync-interval", "30", "--json"])
    first = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
    assert first["event"] == "started"
    for i in range(5):
        app.execute("INSERT INTO t VALUES (?, ?)", (i, b"x" * 100))
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1]["event"] == "stopped"
    last = int(events[-1]["txid"], 16)
    for url in urls:  # the final sync holds every commit; both replicas the same
        assert max(f.max_txid for f in ltx.open(url).refresh()) == last
        assert same_db(replica_image(url, last), image(app))


def test_exec_runs_the_app_and_stops_with_it(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    url = (tmp_path / "r").as_uri()
    app_db(db).close()
    script = (
        f"import sqlite3; c = sqlite3.connect({str(db)!r}, isolation_level=None); "
        "[c.execute('INSERT INTO t VALUES (?, ?)', (i, b'y')) for i in range(20)]"
    )
    cmd = f'{sys.executable} -c "{script}"'
    proc = _start([str(db), url, "-exec", cmd, "-sync-interval", "0.1", "--no-compact"])
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped" in out
    assert {f.level for f in ltx.open(url).refresh()} == {0}  # --no-compact
    ltx.open(url).restore(tmp_path / "out.db")
    conn = sqlite3.connect(tmp_path / "out.db")
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (20,)
