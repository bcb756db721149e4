"""Storage throughput on a local moto S3 server: listing 10,000 files and 1,000 random
4 KiB ranged reads with 1 and 16 requests in flight; ``litestream ltx`` lists the same
replica in the same run for a ratio.

Run: python benchmarks/bench_storage.py [--files 10000] [--reads 1000]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from tests.servers import moto_server

from ltx.storage import open_store

ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--reads", type=int, default=1_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, moto_server(Path(tmp)) as ep:
        s3 = boto3.client(
            "s3",
            endpoint_url=ep,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        s3.create_bucket(Bucket="bench")
        url = f"s3://bench/db?endpoint={ep}&region=us-east-1"
        store = open_store(url, env=ENV, max_concurrency=32)
        body = random.Random(1).randbytes(64 << 10)
        t0 = time.perf_counter()
        store.map(
            lambda i: s3.put_object(
                Bucket="bench", Key=f"db/0000/{i:016x}-{i:016x}.ltx", Body=body
            ),
            range(1, args.files + 1),
        )
        print(f"setup: wrote {args.files} objects in {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        files = store.list_level(0)
        t_list = time.perf_counter() - t0
        assert len(files) == args.files
        env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"} | ENV
        t0 = time.perf_counter()
        out = subprocess.run(
            ["litestream", "ltx", "-level", "0", url], capture_output=True, text=True, env=env
        )
        t_ls = time.perf_counter() - t0
        go_rows = len(out.stdout.splitlines()) - 1 if out.returncode == 0 else None
        print(
            f"list {args.files} files: ours {t_list:.2f} s; litestream ltx {t_ls:.2f} s "
            f"({go_rows} rows); ratio ours/litestream {t_list / t_ls:.2f}"
        )

        rnd = random.Random(2)
        reqs = []
        for _ in range(args.reads):
            f = files[rnd.randrange(len(files))]
            start = rnd.randrange(0, f.size - 4096)
            reqs.append((f.path, start, start + 4096))
        for inflight in (1, 16):
            store.max_concurrency = inflight
            t0 = time.perf_counter()
            got = store.read_ranges(reqs)
            dt = time.perf_counter() - t0
            assert all(len(g) == 4096 for g in got)
            print(
                f"{args.reads} random 4 KiB reads, {inflight:>2} in flight: {dt:.2f} s, "
                f"{args.reads / dt:.0f} reads/s, {dt / args.reads * 1000:.2f} ms each"
            )


if __name__ == "__main__":
    main()
