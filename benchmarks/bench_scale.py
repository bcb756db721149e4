"""How listing, history, page reads and appends scale with the number of files.

A file:// replica of level-0 files only, one page each, is written with our own
encoder straight into ``<root>/ltx/0/`` (mtime = header timestamp, as Litestream
stamps files): TXID 1 is the base, a 64-page database (commit 64), and every later
TXID rewrites one of those 64 pages. The replica grows to each of --sizes files in
turn (default 100, 1,000, 10,000, 100,000) and each step below runs in a fresh
subprocess, killed after --step-timeout seconds (default 60) and then reported as
"> N s (killed)", so one slow step cannot hold up the rest; peak RSS is the largest
VmHWM of the size's subprocesses:

  * listing: ``Store.list_files()`` alone, best of two (the floor everything else is
    compared to);
  * open + history(): a new ``Replica`` and its ``history()``;
  * first page_at: the latest point, whose plan is every level-0 file (each file's
    page index is read once, in parallel, then the page);
  * warm page_at: the same page again (median of 1,000 calls, microseconds);
  * append: one level-0 file after the listing.

Requests are calls on a ``ltx.testing.faults.CountingFileSystem`` wrapping the store's
filesystem (``open_store(url, filesystem=CountingFileSystem(base.fs))``); the local
backend writes with os calls, so an append counts 0 there. After the table come the
growth ratios per size step: each cost should grow no faster than the listing.

Run: python benchmarks/bench_scale.py [--sizes 100,1000,10000,100000] [--step-timeout 60]
     [--keep DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _common import clean_env, run_limited

import ltx
from ltx.codec import Header, encode_pages, format_filename

PS = 4096
PAGES = 64
TS0 = 1_790_000_000_000

# One child per step, so a step that is slow at some size (and killed at --step-timeout)
# does not hide the others. Each sub-step prints one JSON line as soon as it is done.
CHILD = textwrap.dedent(
    """
    import json, statistics, sys, time
    from ltx.replica import Replica
    from ltx.storage import open_store
    from ltx.testing.faults import CountingFileSystem

    url, n, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    page_size, commit = int(sys.argv[4]), int(sys.argv[5])
    cfs = CountingFileSystem(open_store(url).fs)
    store = open_store(url, filesystem=cfs)

    def emit(name, s, requests):
        print(json.dumps({"step": name, "s": s, "requests": requests}), flush=True)

    def start(name):
        print(json.dumps({"start": name}), flush=True)

    def step(name, fn):
        start(name)
        c0, t0 = cfs.total, time.perf_counter()
        value = fn()
        emit(name, time.perf_counter() - t0, cfs.total - c0)
        return value

    pgno = 7
    if what == "list":
        start("listing")
        best = None
        for _ in range(2):
            c0, t0 = cfs.total, time.perf_counter()
            files = store.list_files()
            took = time.perf_counter() - t0
            best = took if best is None else min(best, took)
        assert len(files) == n, (len(files), n)
        emit("listing", best, cfs.total - c0)
    elif what == "history":
        step("open + history", lambda: Replica(store).history())
    elif what == "page":
        r = Replica(store)
        r.files()  # the listing, not timed here (see "listing")
        page = step("first page_at", lambda: r.page_at(pgno))
        start("warm page_at")
        c0, times = cfs.total, []
        for _ in range(1000):
            t0 = time.perf_counter()
            r.page_at(pgno)
            times.append(time.perf_counter() - t0)
        emit("warm page_at", statistics.median(times), cfs.total - c0)
    elif what == "append":
        r = Replica(store)
        r.files()  # the listing, not timed here
        step("append", lambda: r.append({pgno: bytes(page_size)}, commit))
    """
)
CHILDREN = ("list", "history", "page", "append")


def page_bytes(pgno: int, version: int) -> bytes:
    """A compressible page: a little random data, then zeros."""
    rnd = random.Random(pgno * 1_000_003 + version)
    return rnd.randbytes(256) + bytes(PS - 256)


def write_file(d: Path, txid: int) -> None:
    if txid == 1:
        pages = {p: page_bytes(p, 0) for p in range(1, PAGES + 1)}
    else:
        p = (txid - 2) % PAGES + 1
        pages = {p: page_bytes(p, txid)}
    ts = TS0 + txid
    h = Header(
        flags=ltx.HEADER_FLAG_NO_CHECKSUM,
        page_size=PS,
        commit=PAGES,
        min_txid=txid,
        max_txid=txid,
        timestamp=ts,
    )
    path = d / format_filename(txid, txid)
    path.write_bytes(encode_pages(h, pages))
    os.utime(path, ns=(ts * 1_000_000, ts * 1_000_000))


def grow(root: Path, have: int, want: int) -> None:
    d = root / "ltx" / "0"
    d.mkdir(parents=True, exist_ok=True)
    for txid in range(have + 1, want + 1):
        write_file(d, txid)


METRICS = ("listing", "open + history", "first page_at", "warm page_at", "append")


def _fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def measure(url: str, n: int, env: dict[str, str], timeout: float) -> dict:
    """Every step at this size: {step: {"s", "requests"} or {"timeout": secs}}, "rss_mib"."""
    got: dict = {"rss_mib": 0, "wall_s": 0.0}
    expected = {
        "list": ("listing",),
        "history": ("open + history",),
        "page": ("first page_at", "warm page_at"),
        "append": ("append",),
    }
    for what in CHILDREN:
        started: dict[str, float] = {}

        def seen(line: str, started: dict[str, float] = started) -> None:
            row = json.loads(line)
            if "start" in row:
                started[row["start"]] = time.perf_counter()

        wall, rss, out, _ = run_limited(
            [sys.executable, "-c", CHILD, url, str(n), what, str(PS), str(PAGES)],
            env,
            timeout,
            on_line=seen,
        )
        killed_at = time.perf_counter()
        got["rss_mib"] = max(got["rss_mib"], rss)
        got["wall_s"] += wall
        for line in out.splitlines():
            row = json.loads(line)
            if "step" in row:
                got[row.pop("step")] = row
        for name in expected[what]:
            if name not in got:
                # Killed while running (at least this long) or before it began.
                ran = killed_at - started[name] if name in started else None
                got[name] = {"timeout": ran}
    return got


def _cell(v: dict) -> str:
    if "timeout" in v:
        if v["timeout"] is None:
            return "not reached (killed before)"
        return f"> {v['timeout']:.1f} s (killed)"
    return f"{_fmt_time(v['s'])} ({v['requests']} req)"


def _ratio(a: dict, b: dict) -> str:
    if "timeout" in a or ("timeout" in b and b["timeout"] is None):
        return "n/a"
    if "timeout" in b:
        return f"> x{b['timeout'] / a['s']:.1f}"
    return f"x{b['s'] / a['s']:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="100,1000,10000,100000")
    ap.add_argument(
        "--step-timeout", type=float, default=60.0, help="seconds before a step's child is killed"
    )
    ap.add_argument("--keep", type=Path, help="build the replica here and keep it")
    ap.add_argument("--json", type=Path, help="also write every figure here")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    tmpdir = None
    if args.keep:
        root = args.keep
    else:
        tmpdir = tempfile.mkdtemp(prefix="ltx-scale-")
        root = Path(tmpdir) / "replica"
    url = root.as_uri()
    env = clean_env()
    rows: dict[int, dict] = {}
    print(f"library: {ltx.__file__}")
    try:
        have = 0
        if (root / "ltx" / "0").is_dir():
            have = len(os.listdir(root / "ltx" / "0"))
        for n in sizes:
            if have > n:
                raise SystemExit(f"{root} already holds {have} files (> {n}); use a fresh --keep")
            t0 = time.perf_counter()
            grow(root, have, n)
            built = time.perf_counter() - t0
            have = n
            got = measure(url, n, env, args.step_timeout)
            rows[n] = got
            print(
                f"{n:>7} files (+{built:.1f} s to write): "
                + "; ".join(f"{m} {_cell(got[m])}" for m in METRICS)
                + f"; peak RSS {got['rss_mib']} MiB; children {got['wall_s']:.1f} s",
                flush=True,
            )
        print("\ngrowth per size step (cost at this size / cost at the previous size):")
        for a, b in itertools.pairwise(sizes):
            ra, rb = rows[a], rows[b]
            parts = [f"files x{b / a:g}"]
            parts += [f"{m} {_ratio(ra[m], rb[m])}" for m in METRICS]
            parts.append(f"RSS x{rb['rss_mib'] / ra['rss_mib']:.2f}")
            print(f"{a:>7} -> {b:>7}: " + ", ".join(parts))
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    main()
