"""1,000 random primary-key lookups through ``ltx.sqlite.connect`` against the real
Litestream VFS extension, each in a fresh subprocess, cold then warm, on file:// and on
moto S3 behind a delay proxy (both pay the same per-request latency).

    python benchmarks/bench_sql.py [--mib 64] [--lookups 1000] [--delay-ms 20]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import textwrap
import urllib.parse
from pathlib import Path

from _common import (
    LITESTREAM_VFS_LOOKUP,
    S3_ENV,
    TIMED_LOOKUPS,
    clean_env,
    copy_to_s3,
    run_measured,
    s3_client,
)
from _proxy import DelayProxy
from bench_replica import build
from tests.servers import moto_server

OURS = (
    textwrap.dedent(
        """
    import json, sys, time
    t0 = time.perf_counter()
    from ltx.sqlite import connect
    url, ids, env = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    con = connect(url, env=env)
    """
    )
    + TIMED_LOOKUPS
)


def measure(
    label: str, url: str, ids: list[int], env: dict[str, str], proxy: DelayProxy | None = None
) -> dict[str, object]:
    out = {}
    for who, script in (("ours", OURS), ("litestream", LITESTREAM_VFS_LOOKUP)):
        n0 = proxy.requests if proxy is not None else 0
        _, rss, text = run_measured(
            [sys.executable, "-c", script, url, json.dumps(ids), json.dumps(env)],
            clean_env(env),
        )
        got = json.loads(text.strip().splitlines()[-1])
        reqs = proxy.requests - n0 if proxy is not None else None
        out[who] = {**got, "rss_mib": rss, "requests": reqs}
    o, t = out["ours"], out["litestream"]
    print(
        f"{label:18} cold: ours {o['cold']:7.2f} s, litestream {t['cold']:7.2f} s "
        f"(ratio {o['cold'] / t['cold']:.2f}) | warm: ours {o['warm'] * 1000:7.1f} ms, "
        f"litestream {t['warm'] * 1000:7.1f} ms (ratio {o['warm'] / t['warm']:.2f}) | "
        f"RSS ours {o['rss_mib']} MiB, litestream {t['rss_mib']} MiB"
        + (
            f" | requests ours {o['requests']}, litestream {t['requests']}"
            if proxy is not None
            else ""
        ),
        flush=True,
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--lookups", type=int, default=1000)
    ap.add_argument("--delay-ms", type=float, default=20.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        url, rows = build(tmp, args.mib)
        ids = random.Random(7).sample(range(1, rows + 1), min(args.lookups, rows))
        print(f"{args.mib} MiB database, {rows} rows, {len(ids)} lookups")
        results = {"file": measure("file://", url, ids, {})}
        with moto_server(tmp) as endpoint:
            s3_client(endpoint).create_bucket(Bucket="bench")
            s3_url = f"s3://bench/db?endpoint={endpoint}&region=us-east-1"
            copy_to_s3(url, s3_url)
            with DelayProxy(
                "127.0.0.1", urllib.parse.urlsplit(endpoint).port, delay_ms=args.delay_ms
            ) as proxy:
                proxied = f"s3://bench/db?endpoint={proxy.url}&region=us-east-1"
                label = f"S3 +{args.delay_ms:g} ms"
                results["s3"] = measure(label, proxied, ids, S3_ENV, proxy)
        print(json.dumps(results))


if __name__ == "__main__":
    main()
