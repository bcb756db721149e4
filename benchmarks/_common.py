"""Shared benchmark helpers: build a large SQLite database and run commands for peak RSS."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def make_db(path: Path, mib: int, *, page_size: int = 4096, seed: int = 1) -> int:
    """A SQLite file of about ``mib`` MiB of random blobs (rollback journal); returns rows."""
    rnd = random.Random(seed)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute(f"PRAGMA page_size={page_size}")
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
    rows = (mib << 20) // 3000
    con.execute("BEGIN")
    for i in range(rows):
        con.execute(
            "INSERT INTO t (id, v) VALUES (?, ?)", (i + 1, rnd.randbytes(1500) + bytes(1400))
        )
    con.execute("COMMIT")
    con.execute("PRAGMA journal_mode=DELETE")
    con.close()
    return rows


def run_measured(args: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run a command; return (seconds, peak RSS in MiB, stdout). Raises on failure.

    Peak RSS is the child's own VmHWM, polled from /proc until it exits (wait4's
    ru_maxrss would include the parent's RSS inherited at fork).
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    hwm = 0
    out_chunks: list[bytes] = []
    import threading

    def drain() -> None:
        assert proc.stdout is not None
        out_chunks.append(proc.stdout.read())

    reader = threading.Thread(target=drain)
    reader.start()
    while proc.poll() is None:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    hwm = max(hwm, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.01)
    dt = time.perf_counter() - t0
    reader.join()
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{args[:3]} failed: {err[-1500:]}")
    return dt, hwm // 1024, b"".join(out_chunks).decode()


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env.update(extra or {})
    return env
