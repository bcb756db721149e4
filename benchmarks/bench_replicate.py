"""``ltx replicate`` against ``litestream replicate`` on one small-commit workload.

Each replicator runs as its own process beside an app (this process) that makes small
commits at a fixed rate; after each burst the time until the replica restores the last
commit is the lag. Reported: lag p50/p99, the app's commit latency with the replicator
running and without one, replicator CPU seconds and peak RSS. The machine is shared:
the figures are indicative. Short by default; ``--seconds``, ``--rate``, ``--interval``.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _common import clean_env, ltx_cli
from tests.litestream_harness import LITESTREAM, write_config

import ltx


def _cpu_rss(pid: int) -> tuple[float, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    hwm = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) // 1024
    return cpu, hwm


def _rows(url: str, out: Path) -> int:
    try:
        ltx.open(url).restore(out, overwrite=True)
    except ltx.LTXError:
        return 0
    conn = sqlite3.connect(out)
    try:
        return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


def _workload(db: Path, url: str | None, seconds: float, rate: float, tmp: Path) -> dict:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=10000")
    lat: list[float] = []
    lags: list[float] = []
    n, t_end = 0, time.monotonic() + seconds
    while time.monotonic() < t_end:
        for _ in range(max(1, int(rate / 5))):  # a burst of 200 ms of commits
            t0 = time.perf_counter()
            conn.execute("INSERT INTO t(v) VALUES (?)", (os.urandom(100),))
            lat.append(time.perf_counter() - t0)
            n += 1
            time.sleep(1 / rate)
        if url is not None:
            t0 = time.perf_counter()
            while _rows(url, tmp / "lag.db") < n and time.perf_counter() - t0 < 30:
                time.sleep(0.01)
            lags.append(time.perf_counter() - t0)
    conn.close()
    q = statistics.quantiles
    out = {"commits": n, "commit_p50_ms": 1000 * statistics.median(lat)}
    out["commit_p99_ms"] = 1000 * q(lat, n=100)[98]
    if lags:
        out["lag_p50_ms"] = 1000 * statistics.median(lags)
        out["lag_p99_ms"] = 1000 * max(lags)
    return out


def _fresh(tmp: Path, name: str) -> tuple[Path, str]:
    db = tmp / f"{name}.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
    conn.close()
    return db, (tmp / f"{name}-replica").as_uri()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rate", type=float, default=200.0, help="commits per second")
    ap.add_argument("--interval", type=float, default=0.1, help="sync interval, seconds")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        db, _ = _fresh(tmp, "none")
        base = _workload(db, None, a.seconds, a.rate, tmp)
        print(f"no replicator: {base}")
        results = {}
        for tool in ("ltx", "litestream"):
            if tool == "litestream" and LITESTREAM is None:
                continue
            db, url = _fresh(tmp, tool)
            if tool == "ltx":
                args = [*ltx_cli(), "replicate", str(db), url, "-sync-interval", str(a.interval)]
            else:
                ms = f"{int(a.interval * 1000)}ms"
                cfg = write_config(tmp / "ls.yml", db, url, monitor_interval=ms)
                cfg.write_text(
                    cfg.read_text().replace("sync-interval: 100ms", f"sync-interval: {ms}")
                )
                args = [LITESTREAM, "replicate", "-config", str(cfg)]
            proc = subprocess.Popen(
                args, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            time.sleep(3)  # started and first snapshot written
            res = _workload(db, url, a.seconds, a.rate, tmp)
            res["cpu_s"], res["peak_rss_mib"] = _cpu_rss(proc.pid)
            proc.terminate()
            proc.wait(timeout=30)
            results[tool] = res
            print(f"{tool}: {res}")
        if "litestream" in results:
            ours, ls = results["ltx"], results["litestream"]
            for k in ("lag_p50_ms", "lag_p99_ms", "commit_p99_ms", "cpu_s", "peak_rss_mib"):
                print(f"ratio ltx/litestream {k}: {ours[k] / max(ls[k], 1e-9):.2f}")
            print(f"ratio commit_p99 ltx/none: {ours['commit_p99_ms'] / base['commit_p99_ms']:.2f}")


if __name__ == "__main__":
    main()
