"""Restore of a Litestream 0.3 replica: ours (``ltx.legacy.LegacySource``) vs 0.3.13's own.

The real ``litestream replicate`` 0.3.13 (installed on demand into ~/.cache/ltx-tests)
writes a file:// replica of a --mib MiB database: its first snapshot, then --segments
small transactions, each waited for until 0.3.13 has shipped it as its own WAL segment
(0.3.13 checkpoints every 1000 WAL pages, so they span a few WAL indexes). Then, in the
same run, each restore of the latest point runs --runs times as a subprocess: wall time,
peak RSS (the child's VmHWM), and the two outputs compared byte for byte.

Run: python benchmarks/bench_legacy.py [--mib 100] [--segments 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import clean_env, make_db, run_measured, same_file
from tests.legacy_harness import legacy_config, legacy_litestream, legacy_replicating

OURS = """
import sys, time
from ltx.legacy import LegacySource
from ltx.storage import open_store
t0 = time.perf_counter()
src = LegacySource(open_store(sys.argv[1]))
src.restore(src.page_map(), sys.argv[2], overwrite=True)
print(time.perf_counter() - t0)
"""


def record(work: Path, mib: int, segments: int) -> Path:
    """A 0.3.13 replica of a ``mib`` MiB database: snapshot + ``segments`` WAL segments."""
    db, replica = work / "app.db", work / "replica"
    rows = make_db(db, mib)
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    rep = {"url": replica.as_uri(), "sync-interval": "20ms", "snapshot-interval": "24h"}
    cfg = legacy_config(
        work / "cfg.yml",
        db,
        [rep],
        **{"checkpoint-interval": "1m", "min-checkpoint-page-count": "1000"},
    )
    rnd = random.Random(7)

    def shipped() -> int:
        return sum(1 for _ in (replica / "generations").glob("*/wal/*.wal.lz4"))

    with legacy_replicating(cfg):
        deadline = time.monotonic() + 120
        while not list(replica.glob("generations/*/snapshots/*")) or not shipped():
            if time.monotonic() > deadline:
                raise RuntimeError("0.3.13 wrote no snapshot")
            time.sleep(0.1)
        con = sqlite3.connect(db, isolation_level=None)
        for _ in range(segments):
            before = shipped()
            con.execute("BEGIN")
            for _ in range(3):
                con.execute(
                    "UPDATE t SET v = ? WHERE id = ?",
                    (rnd.randbytes(1500) + bytes(1400), rnd.randint(1, rows)),
                )
            con.execute("COMMIT")
            while shipped() == before:
                time.sleep(0.005)
        con.close()
        time.sleep(0.5)
    return replica


def measure(name: str, args: list[str], out: Path, runs: int) -> tuple[float, float, int]:
    """Best wall time, best time the child printed (its library call; 0 if none), peak RSS."""
    times, inner, peaks = [], [], []
    for _ in range(runs):
        for old in out.parent.glob(out.name + "*"):
            old.unlink()
        dt, rss, printed = run_measured(args, clean_env())
        times.append(dt)
        inner.append(float(printed.strip() or 0))
        peaks.append(rss)
    call = f", library call {min(inner):.3f} s" if any(inner) else ""
    print(
        f"{name:28s} {min(times):7.3f} s (median {statistics.median(times):.3f}{call})  "
        f"peak RSS {max(peaks)} MiB"
    )
    return min(times), min(inner), max(peaks)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--mib", type=int, default=74, help="rows to make a database of about 100 MiB")
    ap.add_argument("--segments", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--replica", type=Path, help="restore this 0.3 replica instead of recording one"
    )
    opts = ap.parse_args()
    binary = legacy_litestream()
    with tempfile.TemporaryDirectory(prefix="bench-legacy-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        replica = opts.replica or record(work, opts.mib, opts.segments)
        objs = sorted((replica / "generations").rglob("*.lz4"))
        size = sum(p.stat().st_size for p in objs) / 2**20
        wal = [p for p in objs if p.parent.name == "wal"]
        indexes = len({p.name.split("_")[0] for p in wal})
        print(
            f"replica: {len(objs) - len(wal)} snapshot, {len(wal)} WAL segments in {indexes} "
            f"indexes, {size:.1f} MiB stored (recorded in {time.perf_counter() - t0:.1f} s)"
        )
        theirs, ours = work / "theirs.db", work / "ours.db"
        t_ls, _, rss_ls = measure(
            "litestream 0.3.13 restore",
            [binary, "restore", "-o", str(theirs), replica.as_uri()],
            theirs,
            opts.runs,
        )
        t_us, call_us, rss_us = measure(
            "ltx LegacySource.restore",
            [sys.executable, "-c", OURS, replica.as_uri(), str(ours)],
            ours,
            opts.runs,
        )
        same = same_file(theirs, ours)
        print(f"database {theirs.stat().st_size / 2**20:.1f} MiB; outputs identical: {same}")
        print(
            f"time ratio ours/theirs: {t_us / t_ls:.2f} as processes (ours includes Python's "
            f"start and imports), {call_us / t_ls:.2f} for the library call alone; "
            f"peak RSS ours {rss_us} MiB, theirs {rss_ls} MiB"
        )
        if not same:
            raise SystemExit("outputs differ")


if __name__ == "__main__":
    main()
