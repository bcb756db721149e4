"""Compaction throughput: 1,000 level-0 files of a --mib MiB database into one level-1
file, and a snapshot of the whole database; MB/s and peak RSS. The real litestream's
restore of the same L0 chain (it runs the same k-way merge) is timed for a ratio.

Run: python benchmarks/bench_compaction.py [--mib 256] [--files 1000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import textwrap
from pathlib import Path

from _common import clean_env, run_measured

import ltx
from ltx.codec import HEADER_FLAG_NO_CHECKSUM, Encoder, Header, format_filename

PS = 4096

CHILD = textwrap.dedent(
    """
    import sys, time, datetime as dt
    import ltx
    from ltx.compaction import merge_files
    url, what = sys.argv[1], sys.argv[2]
    r = ltx.open(url)
    files = r.files()
    t = time.perf_counter()
    if what == "l1":
        out = merge_files(r.store, [f for f in files if f.level == 0], 1)
    else:
        plan = r.plan()
        out = merge_files(r.store, plan.files, 9, timestamp_ms=int(time.time() * 1000))
    print(time.perf_counter() - t, out.size)
    """
)


def build(root: Path, mib: int, n_files: int) -> int:
    """L0 chain: a snapshot of ``mib`` MiB, then n-1 files each rewriting a slice of pages."""
    pages = (mib << 20) // PS
    rnd = random.Random(5)
    blobs = [rnd.randbytes(PS // 2) + bytes(PS // 2) for _ in range(64)]
    d = root / "ltx" / "0"
    d.mkdir(parents=True)
    ts = 1_790_000_000_000
    per = max(1, pages // n_files)
    for txid in range(1, n_files + 1):
        if txid == 1:
            chosen = range(1, pages + 1)
        else:
            start = ((txid - 2) * per) % pages + 1
            chosen = range(start, min(pages, start + per - 1) + 1)
        h = Header(
            flags=HEADER_FLAG_NO_CHECKSUM,
            page_size=PS,
            commit=pages,
            min_txid=txid,
            max_txid=txid,
            timestamp=ts + txid,
        )
        path = d / format_filename(txid, txid)
        with path.open("wb") as fp:
            enc = Encoder(fp, h)
            for p in chosen:
                enc.write_page(p, blobs[(p + txid) % 64])
            enc.close()
        import os

        os.utime(path, ns=((ts + txid) * 1_000_000,) * 2)
    return pages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--files", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        root = Path(tmpdir) / "replica"
        t0 = dt.datetime.now()
        pages = build(root, args.mib, args.files)
        url = root.as_uri()
        total = sum(f.size for f in ltx.open(url).files())
        print(
            f"setup: {args.files} L0 files, {pages} pages ({args.mib} MiB), {total / 2**20:.0f} MiB on disk, "
            f"{(dt.datetime.now() - t0).total_seconds():.0f} s"
        )
        env = clean_env()
        for what, label in (
            ("l1", f"merge {args.files} L0 -> L1"),
            ("snap", "snapshot (L0 chain -> L9)"),
        ):
            wall, rss, out = run_measured([sys.executable, "-c", CHILD, url, what], env)
            secs, size = out.split()
            mbs = args.mib * 1.048576 / float(secs)
            print(
                f"{label}: {float(secs):6.2f} s, {mbs:6.0f} MB/s of page data, peak RSS {rss} MiB, output {int(size) / 2**20:.0f} MiB"
            )
        out_db = Path(tmpdir) / "ls.db"
        wall, rss, _ = run_measured(
            ["litestream", "restore", "-o", str(out_db), "-txid", f"{args.files:016x}", url], env
        )
        print(
            f"litestream restore of the same L0 chain (Go k-way merge + write): {wall:6.2f} s, "
            f"{args.mib * 1.048576 / wall:6.0f} MB/s, peak RSS {rss} MiB"
        )


if __name__ == "__main__":
    main()
