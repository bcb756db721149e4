"""A fleet of small replicas on S3: discovery, verify and drill with ltx.fleet, against the
shell loop users run today (``litestream restore`` then ``sqlite3 ... PRAGMA
integrity_check``, one replica at a time).

--replicas small replicas (default 10,000; each four level-0 files written by our own
writer, each tenant's database distinct: page 1's user_version is the tenant number)
are put straight into a moto S3 server (with the ``litestream-timestamp`` metadata),
then read through ``_proxy.DelayProxy`` at --delay-ms (default 20 ms per request),
which counts the requests on the wire:

  * discovery: ``fleet.discover`` requests and time;
  * verify-quick of single replicas, from discovery's listing and by URL alone;
  * wall time of ``fleet.run("verify")`` on --matrix-replicas (default: the whole
    fleet) at each of --workers (default 1,2,4,8) on the local process pool, and on a
    Dask LocalCluster with that many worker processes;
  * linear cost: verify wall time at each of --points replicas (default 1,000 2,500
    5,000 10,000), at the fastest local worker count;
  * drill of the whole fleet (local pool, that worker count) against the shell loop
    timed on --sample replicas (default 200) and scaled to the fleet.

Roots are discovered again before a run when the last walk is half of
--listing-max-age old (``Options.listing_max_age``, default 600 s as the library's); a
run longer than that lists the later roots again (on moto a prefix LIST scans every
key of the bucket: slow at 40,000 objects). Nothing is written to the fleet
while it runs. The machine may be shared: the load average is printed. Run:
  python benchmarks/bench_fleet.py [--replicas 10000] [--matrix-replicas N]
      [--points 1000,2500,5000,10000] [--sample 200] [--workers 1,2,4,8]
      [--delay-ms 20] [--no-dask] [--listing-max-age 600] [--json FILE]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import S3_ENV, clean_env, s3_client
from _proxy import DelayProxy
from tests.fleet.fleet_helpers import _images, write_replica
from tests.servers import moto_server

import ltx
from ltx import fleet
from ltx.codec import HEADER_SIZE, Header
from ltx.storage import HEX
from ltx.storage._backend import TIMESTAMP_KEY
from ltx.times import format_timestamp

OPTS = {"key": "test", "secret": "test"}


def tenant_images(images: list[dict[int, bytes]], i: int) -> list[dict[int, bytes]]:
    """The template history with page 1's user_version (offset 60) set to ``i``: each
    tenant's database and so its LTX files differ, and every image stays a valid database."""
    out = []
    for img in images:
        p1 = bytearray(img[1])
        p1[60:64] = i.to_bytes(4, "big")
        out.append({**img, 1: bytes(p1)})
    return out


def tenant_files(images: list[dict[int, bytes]], i: int) -> list[tuple[str, bytes, str]]:
    """Tenant ``i``'s replica written by our writer (in memory): (key, bytes, timestamp)."""
    url = f"memory://bench-fleet/t{i:06d}"
    write_replica(url, tenant_images(images, i))
    store = ltx.open(url).store
    out = []
    for f in store.list_files():
        data = store.read(f.path)
        stamp = format_timestamp(Header.from_bytes(data[:HEADER_SIZE]).timestamp)
        out.append(
            (f"tenants/t{i:06d}/{HEX.file_path(f.level, f.min_txid, f.max_txid)}", data, stamp)
        )
    store.fs.rm(store.root, recursive=True)
    return out


def build(ep: str, n: int, threads: int = 24) -> int:
    """``n`` distinct replicas (four level-0 files each, by our writer), put straight into
    moto (not through the proxy) with their ``litestream-timestamp`` metadata, as
    Litestream and our S3 writer set it; returns the objects put."""
    images = _images()
    s3 = s3_client(ep)
    s3.create_bucket(Bucket="fleet")
    put = 0

    def one(i: int) -> int:
        for key, data, stamp in tenant_files(images, i):
            s3.put_object(Bucket="fleet", Key=key, Body=data, Metadata={TIMESTAMP_KEY: stamp})
        return 4

    with cf.ThreadPoolExecutor(threads) as ex:
        for k in ex.map(one, range(n)):
            put += k
    return put


def timed(fn, *args, **kw):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    value = fn(*args, **kw)
    return value, time.perf_counter() - t0


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


class Fleet:
    """The fleet's roots, discovered again once the last walk is older than ``fresh`` s,
    so the listing each root carries stays within ``Options.listing_max_age``."""

    def __init__(self, prefix: str, proxy: DelayProxy, max_age: float = 600.0) -> None:
        self.prefix, self.proxy, self.max_age = prefix, proxy, max_age
        self.fresh = max_age / 2
        self.found: fleet.Discovery | None = None

    def discover(self) -> tuple[fleet.Discovery, int]:
        before = self.proxy.requests
        self.found = fleet.discover(self.prefix, **OPTS)
        return self.found, self.proxy.requests - before

    def roots(self, k: int | None = None) -> list[fleet.Root]:
        if self.found is None or time.time() - (self.found.roots[0].listed_at or 0) > self.fresh:
            self.discover()
        assert self.found is not None
        return list(self.found.roots[:k])


def run_op(fl: Fleet, op: str, k: int, workers: int, executor=None) -> tuple[float, int, int]:  # type: ignore[no-untyped-def]
    """``op`` on the first ``k`` roots: (seconds, requests the verdicts report, on the wire)."""
    roots = fl.roots(k)
    before = fl.proxy.requests
    got, secs = timed(
        fleet.run,
        op,
        roots,
        fleet.Options(listing_max_age=fl.max_age),
        executor=executor,
        workers=workers,
        storage_options=OPTS,
    )
    assert got.complete and all(v.healthy for v in got.verdicts), got.summary()
    assert len(got.verdicts) == k
    return secs, got.requests, fl.proxy.requests - before


def matrix(fl: Fleet, k: int, workers: list[int], dask: bool) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {"local": {}, "dask": {}}
    for w in workers:
        secs, _, wire = run_op(fl, "verify", k, w)
        out["local"][w] = secs
        print(
            f"verify {k} replicas, local pool {w} workers: {secs:7.2f} s ({wire} requests)",
            flush=True,
        )
    if not dask:
        return out
    from dask.distributed import Client, LocalCluster

    for w in workers:
        with (
            LocalCluster(n_workers=w, threads_per_worker=1, dashboard_address=":0") as c,
            Client(c) as client,
        ):
            secs, _, wire = run_op(fl, "verify", k, w, client.get_executor())
        out["dask"][w] = secs
        print(
            f"verify {k} replicas, Dask {w} workers:       {secs:7.2f} s ({wire} requests)",
            flush=True,
        )
    return out


def one_replica(fl: Fleet, n: int = 5) -> dict[str, float]:
    """verify-quick of single replicas, from discovery's listing and by URL alone:
    median time and requests on the wire."""
    out = {}
    for how in ("root", "url"):
        secs, wire = [], []
        for root in fl.roots(n):
            before = fl.proxy.requests
            v = fleet.verify(root if how == "root" else root.url, **OPTS)
            assert v.healthy, v
            secs.append(v.seconds)
            wire.append(fl.proxy.requests - before)
        out[f"{how}_ms"] = statistics.median(secs) * 1000
        out[f"{how}_requests"] = statistics.median(wire)
    return out


def shell_loop(urls: list[str], tmp: Path) -> float:
    """What users run today: restore, then integrity_check, one replica after another."""
    env = clean_env(S3_ENV)
    litestream = shutil.which("litestream") or str(Path(sys.executable).with_name("litestream"))
    t0 = time.perf_counter()
    for url in urls:
        db = tmp / "loop.db"
        db.unlink(missing_ok=True)
        subprocess.run(
            [litestream, "restore", "-o", str(db), url], env=env, check=True, capture_output=True
        )
        out = subprocess.run(
            ["sqlite3", str(db), "PRAGMA integrity_check"],
            check=True,
            capture_output=True,
            text=True,
        )
        assert out.stdout.strip() == "ok", out.stdout
    return time.perf_counter() - t0


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--replicas", type=int, default=10_000)
    ap.add_argument("--matrix-replicas", type=int, default=0, help="0: the whole fleet")
    ap.add_argument("--points", default="1000,2500,5000,10000")
    ap.add_argument("--sample", type=int, default=200)
    ap.add_argument("--workers", default="1,2,4,8")
    ap.add_argument("--delay-ms", type=float, default=20.0)
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument(
        "--listing-max-age", type=float, default=600.0, help="Options.listing_max_age (s)"
    )
    ap.add_argument("--json")
    args = ap.parse_args()
    workers, n = ints(args.workers), args.replicas
    m = min(args.matrix_replicas or n, n)
    res: dict[str, object] = {"replicas": n, "delay_ms": args.delay_ms, "load_start": load()}
    print(f"start: {load()}", flush=True)
    with tempfile.TemporaryDirectory() as tmpdir, moto_server(Path(tmpdir)) as ep:
        put, secs = timed(build, ep, n)
        print(
            f"built {n} distinct replicas ({put} objects, by our writer) in {secs:.1f} s",
            flush=True,
        )
        with DelayProxy.for_url(ep, delay_ms=args.delay_ms) as proxy:
            prefix = f"s3://fleet/tenants?endpoint={proxy.url}&region=us-east-1"
            fl = Fleet(prefix, proxy, args.listing_max_age)
            (found, wire), secs = timed(fl.discover)
            assert len(found.roots) == n
            print(
                f"discovery: {found.requests} requests ({wire} on the wire), {secs:.2f} s "
                f"for {n} roots ({found.listed} objects)",
                flush=True,
            )
            res["discovery"] = {"requests": found.requests, "wire": wire, "seconds": secs}
            one = one_replica(fl)
            print(
                f"verify-quick, one replica: {one['root_requests']:.0f} requests, "
                f"{one['root_ms']:.0f} ms from discovery's listing; {one['url_requests']:.0f} "
                f"requests, {one['url_ms']:.0f} ms by URL alone",
                flush=True,
            )
            res["verify_one"] = one
            walls = matrix(fl, m, workers, not args.no_dask)
            res["matrix"] = {"replicas": m, **walls}
            best = min(walls["local"], key=lambda w: walls["local"][w])
            linear = {}
            for k in [p for p in ints(args.points) if p <= n]:
                secs, _, wire = run_op(fl, "verify", k, best)
                linear[k] = secs
                print(
                    f"verify {k:6d} replicas, local pool {best} workers: {secs:7.1f} s, "
                    f"{secs / k * 1000:5.1f} ms/replica, {wire / k:.2f} requests/replica",
                    flush=True,
                )
            res["linear"] = {"workers": best, "seconds": linear}
            t_drill, _, wire = run_op(fl, "drill", n, best)
            print(
                f"drill {n} replicas, local pool {best} workers: {t_drill:.1f} s "
                f"({wire / n:.2f} requests/replica)",
                flush=True,
            )
            sample = [r.url for r in fl.roots(args.sample)]
            t_sample = shell_loop(sample, Path(tmpdir))
            t_loop = t_sample * n / len(sample)
            print(
                f"drill {n} replicas: ltx fleet {t_drill:.1f} s | shell loop (litestream restore + "
                f"sqlite3 integrity_check, {len(sample)} timed in {t_sample:.1f} s, scaled) "
                f"{t_loop:.1f} s | loop/fleet {t_loop / t_drill:.1f}x",
                flush=True,
            )
            res["drill"] = {"fleet_s": t_drill, "loop_scaled_s": t_loop, "ratio": t_loop / t_drill}
    res["load_end"] = load()
    print(f"end: {load()}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
