"""Restore and point reads, ours vs the real litestream, on the same replica.

A database of --mib MiB (default 256) is written as a replica by this library
(a snapshot and a few transactions) on file:// and on a local moto S3 server. Then:
  * restore: ``ltx restore`` vs ``litestream restore`` (time, ratio, peak RSS);
  * point reads: random rowid lookups through our apsw VFS vs the Litestream VFS
    extension, cold (fresh process) and warm (same queries again), in subprocesses.

Run: python benchmarks/bench_replica.py [--mib 256] [--lookups 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sqlite3
import sys
import tempfile
import textwrap
from pathlib import Path

from _common import clean_env, make_db, run_measured

import ltx
from ltx.dbfile import image_pages, write_db_snapshot
from ltx.storage import open_store

S3_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}

# Each lookup script opens a connection its own way, then runs the same timed queries.
_RUN_LOOKUPS = """
def run():
    t = time.perf_counter()
    for i in ids:
        assert len(list(con.execute("SELECT v FROM t WHERE id = ?", (i,)))) == 1
    return time.perf_counter() - t
cold = run(); warm = run()
print(json.dumps({"open": time.perf_counter() - t0 - cold - warm, "cold": cold, "warm": warm}))
"""

OURS_LOOKUP = (
    textwrap.dedent(
        """
    import json, random, sys, time
    t0 = time.perf_counter()
    import apsw, ltx
    from ltx.sqlite import register_vfs
    url, ids = sys.argv[1], json.loads(sys.argv[2])
    env = json.loads(sys.argv[3])
    r = ltx.open(url, env=env)
    vfs = register_vfs(r.snapshot(), "ltxbench")
    con = apsw.Connection("file:db?vfs=ltxbench", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    """
    )
    + _RUN_LOOKUPS
)

LS_LOOKUP = (
    textwrap.dedent(
        """
    import json, sys, time, urllib.parse
    t0 = time.perf_counter()
    import apsw, litestream_vfs
    url, ids = sys.argv[1], json.loads(sys.argv[2])
    boot = apsw.Connection(":memory:")
    boot.enable_load_extension(True)
    p = litestream_vfs.loadable_path()
    boot.load_extension(p[:-3] if p.endswith(".so") else p, "sqlite3_litestreamvfs_init")
    uri = "file:db?vfs=litestream&replica_url=" + urllib.parse.quote(url, safe="")
    con = apsw.Connection(uri, flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    """
    )
    + _RUN_LOOKUPS
)


def build(tmp: Path, mib: int) -> tuple[str, int]:
    db = tmp / "src.db"
    rows = make_db(db, mib)
    url = (tmp / "replica").as_uri()
    r = ltx.open(url)
    snap = tmp / "snap.ltx"
    with db.open("rb") as src, snap.open("wb") as out:
        header, _ = write_db_snapshot(src, out, flags=ltx.HEADER_FLAG_NO_CHECKSUM)
    r.store.write(0, 1, 1, snap, timestamp_ms=header.timestamp)
    snap.unlink()
    # A few small transactions on top.
    ps = 4096
    prev = image_pages(db.read_bytes(), ps)
    con = sqlite3.connect(db, isolation_level=None)
    for step in range(3):
        con.execute("UPDATE t SET v = ? WHERE id % 997 = ?", (bytes([step]) * 2900, step))
        cur = image_pages(db.read_bytes(), ps)
        r.append({p: d for p, d in cur.items() if prev.get(p) != d}, len(cur))
        prev = cur
    con.close()
    r.write_snapshot(db)
    return url, rows


def copy_to_s3(src_url: str, dst_url: str) -> None:
    src, dst = open_store(src_url), open_store(dst_url, env=S3_ENV)
    for f in src.list_files():
        with tempfile.NamedTemporaryFile() as tmp:
            src.fs.get_file(f.path, tmp.name)
            ts = int(f.created_at.timestamp() * 1000)
            dst.write(f.level, f.min_txid, f.max_txid, Path(tmp.name), timestamp_ms=ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--lookups", type=int, default=200)
    args = ap.parse_args()
    import boto3

    from servers import moto_server

    with tempfile.TemporaryDirectory() as tmpdir, moto_server(Path(tmpdir)) as ep:
        tmp = Path(tmpdir)
        t0 = dt.datetime.now()
        file_url, rows = build(tmp, args.mib)
        boto3.client(
            "s3",
            endpoint_url=ep,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        ).create_bucket(Bucket="bench")
        s3_url = f"s3://bench/db?endpoint={ep}&region=us-east-1"
        copy_to_s3(file_url, s3_url)
        size = ltx.open(file_url).snapshot().size
        print(
            f"setup: {size / 2**20:.0f} MiB database, {rows} rows, in {(dt.datetime.now() - t0).total_seconds():.0f} s"
        )
        env = clean_env(S3_ENV)
        for name, url in (("file", file_url), ("s3", s3_url)):
            ours_out, theirs_out = tmp / f"ours-{name}.db", tmp / f"theirs-{name}.db"
            t_ours, rss_ours, _ = run_measured(
                [sys.executable, "-m", "ltx", "restore", url, "-o", str(ours_out)], env
            )
            t_ls, rss_ls, _ = run_measured(
                ["litestream", "restore", "-o", str(theirs_out), url], env
            )
            same = ours_out.read_bytes() == theirs_out.read_bytes()
            print(
                f"restore {name:4}: ours {t_ours:6.2f} s, {rss_ours:4d} MiB RSS | litestream {t_ls:6.2f} s, "
                f"{rss_ls:4d} MiB RSS | time ratio ours/litestream {t_ours / t_ls:5.2f} | identical: {same}"
            )
            ours_out.unlink()
            theirs_out.unlink()
        ids = random.Random(3).sample(range(1, rows + 1), args.lookups)
        for name, url in (("file", file_url), ("s3", s3_url)):
            _, _, o = run_measured(
                [sys.executable, "-c", OURS_LOOKUP, url, json.dumps(ids), json.dumps(S3_ENV)], env
            )
            _, _, t = run_measured([sys.executable, "-c", LS_LOOKUP, url, json.dumps(ids)], env)
            o, t = json.loads(o), json.loads(t)
            print(
                f"{args.lookups} lookups {name:4}: ours open {o['open']:.2f} s, cold {o['cold']:.2f} s, warm {o['warm']:.3f} s | "
                f"litestream VFS open {t['open']:.2f} s, cold {t['cold']:.2f} s, warm {t['warm']:.3f} s | "
                f"ratio cold {o['cold'] / t['cold']:.2f}, warm {o['warm'] / t['warm']:.2f}"
            )


if __name__ == "__main__":
    main()
