"""The processes of ``bench_replicate.py`` besides the replicator itself, and the lag
analysis: ``app`` (the measured application) and ``observe`` (watches the replica's
level-0 listing and records when each new TXID appeared).

    python _replicate_roles.py app SPEC_JSON      # prints one JSON object per phase
    python _replicate_roles.py observe SPEC_JSON  # lines "txid unix_time", until SIGTERM

Each runs in its own process so neither the delay proxy (threads in the bench process)
nor the observer takes the app's GIL. The app is stdlib ``sqlite3`` (synchronous=NORMAL,
as Litestream recommends; autocheckpoint off beside a replicator, as both tools' docs
ask), or apsw with ``Replicator.attach(conn)`` in the same process (whose WAL hook
turns that connection's autocheckpoint off).
Commit ``k`` of the small workload inserts row ``k``; a bulk commit inserts a block of
rows, and the app records each commit's last row id and wall time.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA = "CREATE TABLE t(id INTEGER PRIMARY KEY, ts REAL, v BLOB)"
BULK_TXN_MIB = 4
"""A bulk load commits every this many MiB of rows."""
BULK_ROW = 1000
"""Bytes of one bulk row (half random, half zeros: about as compressible as real data)."""


def _cpu(path: str) -> float:
    """utime + stime (seconds) of ``/proc/.../stat``."""
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _others_cpu() -> float:
    """CPU of every thread of this process but the main one (the attached replicator's)."""
    main = threading.main_thread().native_id
    total = 0.0
    for task in os.listdir("/proc/self/task"):
        if int(task) != main:
            with contextlib.suppress(OSError):  # the thread ended
                total += _cpu(f"/proc/self/task/{task}/stat")
    return total


class _WalMeter:
    """Bytes the app appended to the WAL: ``mxFrame`` of the -shm index after each
    commit (a restart, seen as new salts or a smaller count, starts it over)."""

    def __init__(self, db: str, page_size: int) -> None:
        self.fd = os.open(db + "-shm", os.O_RDONLY)
        self.frame = 24 + page_size
        self.last, self.salts, self.frames = 0, b"", 0

    def tick(self) -> None:
        raw = os.pread(self.fd, 48, 0)
        mx, salts = int.from_bytes(raw[16:20], sys.byteorder), raw[32:40]
        if salts != self.salts or mx < self.last:
            self.frames += mx
        else:
            self.frames += mx - self.last
        self.last, self.salts = mx, salts

    def mib(self) -> float:
        return self.frames * self.frame / 2**20


def _connect(spec: dict[str, Any]) -> tuple[Any, Any]:
    """The app's connection and, when attached, the running Replicator."""
    db = spec["db"]
    if spec.get("attached"):
        import apsw

        import ltx

        conn = apsw.Connection(db)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        rep = ltx.Replicator(
            db, spec["url"], connect=apsw.Connection, sync_interval=spec.get("interval") or 1.0
        )
        rep.start()
        rep.attach(conn)
        return conn, rep
    import sqlite3

    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    if spec.get("replicated"):  # both tools' docs: the replicator owns checkpoints
        conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn, None


def _small(conn: Any, meter: _WalMeter, seconds: float, rate: float) -> dict[str, Any]:
    """``rate`` one-row commits per second for ``seconds``, paced (late ones catch up)."""
    rnd = random.Random(1)
    lat: list[float] = []
    commits: list[tuple[int, float]] = []
    period, n = 1.0 / rate, 0
    start = time.perf_counter()
    end = start + seconds
    nxt = start
    while nxt < end:
        t0 = time.perf_counter()
        conn.execute("INSERT INTO t(ts, v) VALUES (?, ?)", (time.time(), rnd.randbytes(100)))
        t1 = time.perf_counter()
        n += 1
        commits.append((n, time.time()))
        lat.append(t1 - t0)
        meter.tick()
        nxt += period
        pause = nxt - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    return {"lat": lat, "commits": commits, "elapsed": time.perf_counter() - start}


def _sparse(conn: Any, meter: _WalMeter, seconds: float, rate: float) -> dict[str, Any]:
    """One-row commits at random moments (Poisson, ``rate`` per second) for ``seconds``:
    an app that is mostly idle, where a commit finds the replicator waiting."""
    rnd = random.Random(3)
    lat: list[float] = []
    commits: list[tuple[int, float]] = []
    start = time.perf_counter()
    nxt = start + rnd.expovariate(rate)
    while nxt < start + seconds or not commits:
        time.sleep(max(0.0, nxt - time.perf_counter()))
        t0 = time.perf_counter()
        conn.execute("INSERT INTO t(ts, v) VALUES (?, ?)", (time.time(), rnd.randbytes(100)))
        lat.append(time.perf_counter() - t0)
        commits.append((len(commits) + 1, time.time()))
        meter.tick()
        nxt += rnd.expovariate(rate)
    return {"lat": lat, "commits": commits, "elapsed": time.perf_counter() - start}


def _bulk(conn: Any, meter: _WalMeter, mib: int) -> dict[str, Any]:
    """``mib`` MiB of rows in transactions of ``BULK_TXN_MIB`` MiB, as fast as it goes."""
    rnd = random.Random(2)
    rows = (BULK_TXN_MIB << 20) // BULK_ROW
    lat: list[float] = []
    commits: list[tuple[int, float]] = []
    n = 0
    start = time.perf_counter()
    for _ in range(max(1, mib // BULK_TXN_MIB)):
        t0 = time.perf_counter()
        conn.execute("BEGIN")
        for _ in range(rows):
            data = rnd.randbytes(BULK_ROW // 2) + bytes(BULK_ROW // 2)
            conn.execute("INSERT INTO t(ts, v) VALUES (?, ?)", (time.time(), data))
        conn.execute("COMMIT")
        n += rows
        lat.append(time.perf_counter() - t0)
        commits.append((n, time.time()))
        meter.tick()
    return {"lat": lat, "commits": commits, "elapsed": time.perf_counter() - start}


def app(spec: dict[str, Any]) -> None:
    """Run the workload; print its figures; when attached, wait for a line on stdin
    (the bench saw the last commit in the replica), then print the replicator's CPU."""
    conn, rep = _connect(spec)
    page_size = int(next(iter(conn.execute("PRAGMA page_size")))[0])
    meter = _WalMeter(spec["db"], page_size)
    cpu0 = _others_cpu() if rep is not None else 0.0
    if spec["workload"] == "small":
        out = _small(conn, meter, spec["seconds"], spec["rate"])
    elif spec["workload"] == "sparse":
        out = _sparse(conn, meter, spec["sparse_seconds"], spec["sparse_rate"])
    else:
        out = _bulk(conn, meter, spec["bulk_mib"])
    out["wal_mib"] = meter.mib()
    print(json.dumps(out), flush=True)
    if rep is not None:
        sys.stdin.readline()
        print(json.dumps({"cpu": _others_cpu() - cpu0}), flush=True)
        rep.stop()
    conn.close()


def observe(spec: dict[str, Any]) -> None:
    """Print the newest level-0 TXID each time it grows, with the time it was seen."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    top = 0
    if spec.get("folder"):
        folder, pause = spec["folder"], 0.005

        def names() -> list[str]:
            try:
                return [e.name for e in os.scandir(folder)]
            except FileNotFoundError:
                return []
    else:
        import boto3

        s3 = boto3.client("s3", endpoint_url=spec["endpoint"], region_name="us-east-1")
        bucket, prefix, pause = spec["bucket"], spec["prefix"], 0.02
        after = ""

        def names() -> list[str]:
            nonlocal after
            got = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, StartAfter=after or prefix)
            keys = [o["Key"] for o in got.get("Contents", [])]
            if keys:
                after = keys[-1]
            return [k.rsplit("/", 1)[-1] for k in keys]

    while not stop.is_set():
        seen = [int(n[17:33], 16) for n in names() if n.endswith(".ltx") and len(n) == 37]
        if seen and max(seen) > top:
            top = max(seen)
            print(top, repr(time.time()), flush=True)
        stop.wait(pause)


if __name__ == "__main__":
    role, arg = sys.argv[1], json.loads(sys.argv[2])
    {"app": app, "observe": observe}[role](arg)
