"""A fleet of small replicas on S3: discovery, verify and drill with ltx.fleet, against the
shell loop users run today (``litestream restore`` then ``sqlite3 ... PRAGMA
integrity_check``, one replica at a time).

--replicas small replicas (default 10,000; each four level-0 files written by our own
writer, the same bytes for every tenant) are put into a moto S3 server, then read
through ``_proxy.DelayProxy`` at --delay-ms (default 20 ms per request):

  * discovery: ``fleet.discover`` requests (counted on the wire) and time;
  * verify-quick of one replica: requests and time;
  * wall time of ``fleet.run("verify")`` at each of --workers (default 1,2,4,8) on the
    local process pool, and on a Dask LocalCluster with that many worker processes;
  * drill of the whole fleet (local pool, the largest worker count) against the shell
    loop timed on --sample replicas (default 200) and scaled to the fleet;
  * linear cost: verify wall time per replica at half the fleet and at the whole.

The machine may be shared: figures are indicative. Run:
  python benchmarks/bench_fleet.py [--replicas 10000] [--sample 200] [--workers 1,2,4,8]
      [--delay-ms 20] [--no-dask] [--json FILE]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import shutil
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
from ltx.storage import HEX

OPTS = {"key": "test", "secret": "test"}


def build(ep: str, n: int) -> list[tuple[str, bytes]]:
    """Four LTX files written once by our writer (memory://), put for each of ``n`` tenants."""
    write_replica("memory://bench-fleet/one", _images())
    one = ltx.open("memory://bench-fleet/one")
    blobs = [
        (HEX.file_path(f.level, f.min_txid, f.max_txid), one.store.read(f.path))
        for f in one.files()
    ]
    s3 = s3_client(ep)
    s3.create_bucket(Bucket="fleet")
    keys = [(f"tenants/t{i:06d}/{rel}", data) for i in range(n) for rel, data in blobs]
    with cf.ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda kv: s3.put_object(Bucket="fleet", Key=kv[0], Body=kv[1]), keys))
    return blobs


def timed(fn, *args, **kw):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    value = fn(*args, **kw)
    return value, time.perf_counter() - t0


def verify_walls(roots, workers: list[int], dask: bool) -> dict[str, dict[int, float]]:  # type: ignore[no-untyped-def]
    out: dict[str, dict[int, float]] = {"local": {}, "dask": {}}
    for w in workers:
        got, secs = timed(fleet.run, "verify", roots, workers=w, storage_options=OPTS)
        assert got.complete and all(v.healthy for v in got.verdicts), got.summary()
        out["local"][w] = secs
        print(f"verify {len(roots)} replicas, local pool {w} workers: {secs:7.2f} s", flush=True)
    if not dask:
        return out
    from dask.distributed import Client, LocalCluster

    for w in workers:
        with (
            LocalCluster(n_workers=w, threads_per_worker=1, dashboard_address=":0") as c,
            Client(c) as client,
        ):
            ex = client.get_executor()
            got, secs = timed(
                fleet.run, "verify", roots, executor=ex, workers=w, storage_options=OPTS
            )
        assert got.complete
        out["dask"][w] = secs
        print(f"verify {len(roots)} replicas, Dask {w} workers:       {secs:7.2f} s", flush=True)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--replicas", type=int, default=10_000)
    ap.add_argument("--sample", type=int, default=200)
    ap.add_argument("--workers", default="1,2,4,8")
    ap.add_argument("--delay-ms", type=float, default=20.0)
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    n = args.replicas
    res: dict[str, object] = {"replicas": n, "delay_ms": args.delay_ms}
    with tempfile.TemporaryDirectory() as tmpdir, moto_server(Path(tmpdir)) as ep:
        _, secs = timed(lambda: build(ep, n))
        print(f"built {n} replicas (4 files each) in {secs:.1f} s", flush=True)
        with DelayProxy.for_url(ep, delay_ms=args.delay_ms) as proxy:
            prefix = f"s3://fleet/tenants?endpoint={proxy.url}&region=us-east-1"
            found, secs = timed(lambda: fleet.discover(prefix, **OPTS))
            assert len(found.roots) == n
            print(
                f"discovery: {found.requests} requests, {secs:.2f} s for {n} roots ({found.listed} objects)"
            )
            res["discovery"] = {"requests": found.requests, "seconds": secs}
            one = fleet.verify(found.roots[0].url, **OPTS)
            print(
                f"verify-quick per replica: {one.detail['requests']} requests, {one.seconds * 1000:.0f} ms"
            )
            res["verify_one"] = {"requests": one.detail["requests"], "seconds": one.seconds}
            half = found.roots[: n // 2]
            _, t_half = timed(
                lambda: fleet.run("verify", half, workers=max(workers), storage_options=OPTS)
            )
            walls = verify_walls(found.roots, workers, not args.no_dask)
            t_all = walls["local"][max(workers)]
            print(
                f"linear cost: {t_half / max(len(half), 1) * 1000:.1f} ms/replica at {len(half)}, "
                f"{t_all / n * 1000:.1f} ms/replica at {n}"
            )
            res["verify_walls"] = walls
            drills, t_drill = timed(
                lambda: fleet.run("drill", found.roots, workers=max(workers), storage_options=OPTS)
            )
            assert all(v.healthy for v in drills.verdicts)
            sample = [r.url for r in found.roots[: args.sample]]
            t_loop = shell_loop(sample, Path(tmpdir)) * n / len(sample)
            print(
                f"drill {n} replicas: ltx fleet {t_drill:.1f} s | shell loop (litestream restore + "
                f"sqlite3 integrity_check, {len(sample)} timed, scaled) {t_loop:.1f} s | "
                f"loop/fleet {t_loop / t_drill:.1f}x"
            )
            res["drill"] = {"fleet_s": t_drill, "loop_scaled_s": t_loop, "ratio": t_loop / t_drill}
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
