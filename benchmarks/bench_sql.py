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

from _common import S3_ENV, clean_env, make_db, run_measured, s3_client
from _proxy import DelayProxy
from tests.servers import moto_server

import ltx
from ltx.dbfile import write_db_snapshot
from ltx.storage import open_store

_TIMED = """
def run():
    t = time.perf_counter()
    for i in ids:
        assert len(list(con.execute("SELECT v FROM t WHERE id = ?", (i,)))) == 1
    return time.perf_counter() - t
cold = run(); warm = run()
print(json.dumps({"open": time.perf_counter() - t0 - cold - warm, "cold": cold, "warm": warm}))
"""

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
    + _TIMED
)

THEIRS = (
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
    + _TIMED
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
    return url, rows


def to_s3(src_url: str, dst_url: str) -> None:
    src, dst = open_store(src_url), open_store(dst_url, env=S3_ENV)
    for f in src.list_files():
        ts = int(f.created_at.timestamp() * 1000)
        dst.write(f.level, f.min_txid, f.max_txid, src.read(f.path), timestamp_ms=ts)


def measure(label: str, url: str, ids: list[int], env: dict[str, str]) -> dict[str, object]:
    out = {}
    for who, script in (("ours", OURS), ("litestream", THEIRS)):
        _, rss, text = run_measured(
            [sys.executable, "-c", script, url, json.dumps(ids), json.dumps(env)],
            clean_env(env),
        )
        got = json.loads(text.strip().splitlines()[-1])
        out[who] = {**got, "rss_mib": rss}
    o, t = out["ours"], out["litestream"]
    print(
        f"{label:18} cold: ours {o['cold']:7.2f} s, litestream {t['cold']:7.2f} s "
        f"(ratio {o['cold'] / t['cold']:.2f}) | warm: ours {o['warm'] * 1000:7.1f} ms, "
        f"litestream {t['warm'] * 1000:7.1f} ms (ratio {o['warm'] / t['warm']:.2f}) | "
        f"RSS ours {o['rss_mib']} MiB, litestream {t['rss_mib']} MiB"
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
            to_s3(url, s3_url)
            with DelayProxy(
                "127.0.0.1", urllib.parse.urlsplit(endpoint).port, delay_ms=args.delay_ms
            ) as proxy:
                proxied = f"s3://bench/db?endpoint={proxy.url}&region=us-east-1"
                label = f"S3 +{args.delay_ms:g} ms"
                results["s3"] = measure(label, proxied, ids, S3_ENV)
        print(json.dumps(results))


if __name__ == "__main__":
    main()
