"""Restore, point reads, listing and appends, ours vs the real litestream, on one replica.

A database of --mib MiB of rows (default 256, which makes a 350 MiB SQLite file: one
~2.9 KB row per 4 KiB page) is written as a replica by this library (a level-0
snapshot, three small transactions, a level-9 snapshot) on file:// and on a local moto
S3 server. S3 is measured directly and through ``_proxy.DelayProxy``, a TCP proxy that
adds --delays ms (default 0 and 20) to every HTTP request; both our code and
``litestream`` are pointed at the proxy's endpoint, and the proxy counts the requests.

  * restore: ``python -m ltx restore URL -o OUT`` vs ``litestream restore -o OUT URL``,
    both as subprocesses: wall time, peak RSS (the child's VmHWM), CPU time (user +
    system of the child and its worker processes: less inflated than wall time on a
    shared machine), HTTP requests, and the outputs compared byte for byte;
  * page reads (fresh process, our library only): ``history()`` on a new Replica,
    the first ``page_at`` (page index of the plan + one ranged read), another page of
    the same point (one ranged read), a warm ``page_at`` (cache hit, microseconds),
    a first ``page_at`` at an older TXID (a plan of three level-0 files), and
    ``page_at`` on a brand-new Replica (listing + index + page), each with its
    requests (S3: botocore ``before-send`` events, i.e. real HTTP requests; file://:
    calls on a ``CountingFileSystem`` around the store's filesystem);
  * point reads through SQLite: random rowid lookups through our apsw VFS vs the
    Litestream VFS extension, cold (fresh process) and warm (same queries again), on
    file://, S3 direct and S3 at the largest delay;
  * appends (last, since they add files): requests and time of ``append`` after a
    listing, of the next one, and of one on a brand-new Replica (which lists first).

Run: python benchmarks/bench_replica.py [--mib 256] [--lookups 200] [--delays 0,20]
     [--s3-server moto|s3rver] [--restore-only] [--repeat N]
     [--no-lookups] [--no-direct] [--variants 4:24:p,8:48:t] [--no-cli]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

from _common import (
    LITESTREAM_VFS_LOOKUP,
    S3_ENV,
    TIMED_LOOKUPS,
    clean_env,
    copy_to_s3,
    ltx_cli,
    make_db,
    run_measured,
    s3_client,
    same_file,
    warm_bytecode,
)
from _proxy import DelayProxy
from tests.servers import S3RVER_KEY, moto_server, s3rver_server

import ltx
from ltx.dbfile import image_pages, write_db_snapshot

# Each lookup script opens a connection its own way, then runs the same timed queries.
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
    vfs = register_vfs(r.view(), "ltxbench")
    con = apsw.Connection("file:db?vfs=ltxbench", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    """
    )
    + TIMED_LOOKUPS
)

# Restore in a fresh process, timed from the call (no interpreter start, no imports);
# also the largest peak RSS of its decoding worker processes, if any (ru_maxrss of the
# children: a forked worker counts the pages it shares with its parent).
IN_PROCESS_RESTORE = textwrap.dedent(
    """
    import json, resource, sys, time
    import ltx, ltx.replica  # imports outside the timing (ltx imports lazily)
    url, out, env = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    t0 = time.perf_counter()
    ltx.open(url, env=env).restore(out)
    s = time.perf_counter() - t0
    kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"s": s, "workers_rss": kib // 1024}))
    """
)

# One tuning of restore_file (part MiB, budget MiB, processes or threads) in a fresh
# process: the imports of ltx and of s3fs (aiobotocore, botocore) timed apart from the
# restore (listing, plan, restore), so the CLI's start-up can be told from the work.
VARIANT_RESTORE = textwrap.dedent(
    """
    import json, resource, sys, time
    t0 = time.perf_counter()
    import ltx, ltx.replica
    from ltx.restore import restore_file
    t1 = time.perf_counter()
    import s3fs  # what the store imports on first use (with aiobotocore, botocore)
    t2 = time.perf_counter()
    url, out, env, v = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
    r = ltx.open(url, env=env)
    src = r.source  # lists the replica
    t3 = time.perf_counter()
    view = r.view()
    procs = v["processes"]
    if isinstance(procs, str):  # a start method, e.g. forkserver
        import multiprocessing
        procs = multiprocessing.get_context(procs)
    restore_file(
        src.store, view.page_map, out, file_index=src.reader.file_index,
        part=v["part"] << 20, budget=v["budget"] << 20, processes=procs,
    )
    t4 = time.perf_counter()
    kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"imports": t1 - t0, "s3fs": t2 - t1, "open": t3 - t2,
                      "restore": t4 - t3, "workers_rss": kib // 1024}))
    """
)


def _parse_variants(text: str) -> list[dict]:
    """``4:24:p,8:48:t,8:24:forkserver`` -> part MiB, budget MiB, and p (processes with the
    default start method: fork only while the caller runs one thread, else threads), t
    (threads) or a start method's name (processes started that way)."""
    out = []
    for item in filter(None, (x.strip() for x in text.split(","))):
        part, budget, kind = item.split(":")
        procs: bool | str = {"p": True, "t": False}.get(kind, kind)
        out.append({"part": int(part), "budget": int(budget), "processes": procs})
    return out


def _variant_rows(
    tmp: Path,
    url: str,
    env: dict[str, str],
    proxy: DelayProxy,
    variants: list[dict],
    repeat: int,
    s3env: dict[str, str],
) -> list[dict]:
    """Each variant in process, alternating with ``litestream restore`` (CLI), ``repeat``
    rounds; outputs compared with litestream's."""
    rows: list[dict] = [{"v": v, "t": [], "rss": 0, "req": 0, "parts": []} for v in variants]
    ls: list[float] = []
    identical = True
    for _ in range(repeat):
        theirs = tmp / "theirs.db"
        theirs.unlink(missing_ok=True)
        t_ls, _, _ = run_measured(["litestream", "restore", "-o", str(theirs), url], env)
        ls.append(t_ls)
        for row in rows:
            ours = tmp / "variant.db"
            ours.unlink(missing_ok=True)
            n0 = proxy.requests
            _, rss, o = run_measured(
                [
                    sys.executable,
                    "-c",
                    VARIANT_RESTORE,
                    url,
                    str(ours),
                    json.dumps(s3env),
                    json.dumps(row["v"]),
                ],
                env,
            )
            got = json.loads(o)
            row["req"] = proxy.requests - n0
            row["t"].append(got["open"] + got["restore"])
            row["parts"].append(got)
            row["rss"] = max(row["rss"], rss, got["workers_rss"])
            identical = identical and same_file(ours, theirs)
            ours.unlink()
        theirs.unlink()
    for row in rows:
        row["ls"], row["identical"] = ls, identical
    return rows


def _fmt_variant(label: str, row: dict) -> str:
    v, t, ls = row["v"], row["t"], row["ls"]
    p = row["parts"]
    med = lambda k: statistics.median(x[k] for x in p)  # noqa: E731
    kind = {True: "default", False: "threads"}.get(v["processes"], v["processes"])
    return (
        f"variant {label} part {v['part']:2d} MiB budget {v['budget']:3d} MiB {kind:10}: "
        f"list+plan+restore {_min_median(t)} {row['req']:3d} req, peak RSS {row['rss']} MiB | "
        f"before it: imports ltx {med('imports'):.2f} s, s3fs {med('s3fs'):.2f} s (median) | "
        f"litestream CLI {_min_median(ls)} | ratio {min(t) / min(ls):.2f} (min), "
        f"{statistics.median(t) / statistics.median(ls):.2f} (median) | "
        f"identical: {row['identical']}"
    )


# The machine's floor for a restore of one LTX file: LZ4-decompress its pages, write
# them and fsync, on one thread, in a fresh process (the page index read first, untimed).
FLOOR = textwrap.dedent(
    """
    import json, os, sys, time
    import lz4.block
    from ltx.codec import read_file_index
    src, out = sys.argv[1], sys.argv[2]
    size = os.path.getsize(src)
    with open(src, "rb") as f:
        fi = read_file_index(lambda s, e: os.pread(f.fileno(), e - s, s), size)
    ps = fi.header.page_size
    t0 = time.perf_counter()
    with open(src, "rb") as f:
        raw = f.read()
    view = memoryview(raw)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    run, first, nxt = [], 1, 1
    for pgno, off, n in fi.index:
        if pgno != nxt or len(run) == 256:
            os.pwrite(fd, b"".join(run), (first - 1) * ps)
            run, first = [], pgno
        run.append(lz4.block.decompress(view[off + 10 : off + n], uncompressed_size=ps))
        nxt = pgno + 1
    os.pwrite(fd, b"".join(run), (first - 1) * ps)
    os.fsync(fd)
    os.close(fd)
    print(json.dumps({"s": time.perf_counter() - t0}))
    """
)

# Our library in a fresh process, each step timed with the requests it made.
PROBE = textwrap.dedent(
    """
    import json, statistics, sys, time
    from ltx.replica import Replica
    from ltx.storage import open_store
    from ltx.testing.faults import CountingFileSystem

    url, env, mode = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    p1, p2, old_txid = (int(x) for x in sys.argv[4:7])
    if url.startswith("s3"):
        store = open_store(url, env=env)
        sent = [0]

        def on_send(**kw):
            sent[0] += 1

        store.fs.s3.meta.events.register("before-send.s3", on_send)
        count = lambda: sent[0]
    else:
        cfs = CountingFileSystem(open_store(url, env=env).fs)
        store = open_store(url, env=env, filesystem=cfs)
        count = lambda: cfs.total
    out = {}

    def step(name, fn):
        c0, t0 = count(), time.perf_counter()
        value = fn()
        out[name] = {"ms": (time.perf_counter() - t0) * 1000, "requests": count() - c0}
        return value

    if mode == "read":
        r = Replica(store)
        step("history", r.history)
        step("page_at cold", lambda: r.page_at(p1))
        step("page_at other page", lambda: r.page_at(p2))
        c0, times = count(), []
        for _ in range(2000):
            t0 = time.perf_counter()
            r.page_at(p1)
            times.append(time.perf_counter() - t0)
        out["page_at warm"] = {
            "us": statistics.median(times) * 1e6, "requests": count() - c0, "calls": len(times)
        }
        step("page_at cold older txid", lambda: r.page_at(p1, txid=old_txid))
        step("history again", r.history)
        fresh = Replica(store)
        step("page_at on a new Replica", lambda: fresh.page_at(p2))
    else:
        r = Replica(store)
        page = r.page_at(1)
        commit = r.view().page_count
        step("append after listing", lambda: r.append({1: page}, commit))
        step("next append", lambda: r.append({1: page}, commit))
        fresh = Replica(store)
        step("append on a new Replica", lambda: fresh.append({1: page}, commit))
    print(json.dumps(out))
    """
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
    del prev, cur
    r.write_snapshot(db)
    return url, rows


def _restore_row(
    tmp: Path, url: str, env: dict[str, str], proxy: DelayProxy, delay: float | None, repeat: int
) -> dict:
    """``repeat`` alternating runs of our CLI and ``litestream restore``; minimum times."""
    ours, theirs, identical = [], [], True
    cpu_ours, cpu_ls = [], []
    for _ in range(repeat):
        ours_out, theirs_out = tmp / "ours.db", tmp / "theirs.db"
        n0, c0 = proxy.requests, _children_cpu()
        t_ours, rss_ours, _ = run_measured([*ltx_cli(), "restore", url, "-o", str(ours_out)], env)
        n1, c1 = proxy.requests, _children_cpu()
        t_ls, rss_ls, _ = run_measured(["litestream", "restore", "-o", str(theirs_out), url], env)
        n2, c2 = proxy.requests, _children_cpu()
        ours.append(t_ours)
        theirs.append(t_ls)
        cpu_ours.append(c1 - c0)
        cpu_ls.append(c2 - c1)
        identical = identical and same_file(ours_out, theirs_out)
        ours_out.unlink()
        theirs_out.unlink()
    return {
        "ours_s": min(ours),
        "ours_median": statistics.median(ours),
        "ours_all": ours,
        "ours_rss": rss_ours,
        "ours_req": n1 - n0 if delay is not None else None,
        "ls_s": min(theirs),
        "ls_median": statistics.median(theirs),
        "ls_all": theirs,
        "ls_rss": rss_ls,
        "ls_req": n2 - n1 if delay is not None else None,
        "identical": identical,
        "ours_cpu": statistics.median(cpu_ours),
        "ls_cpu": statistics.median(cpu_ls),
    }


def _children_cpu() -> float:
    """User + system seconds of the children waited for so far (a restore's worker
    processes roll up into it; the S3 server, still running, does not)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _fmt_restore(label: str, r: dict) -> str:
    req = lambda n: f"{n:5d} req" if n is not None else "    - req"  # noqa: E731
    return (
        f"restore {label:14}: ours {r['ours_s']:6.2f} s {r['ours_rss']:4d} MiB {req(r['ours_req'])} | "
        f"litestream {r['ls_s']:6.2f} s {r['ls_rss']:4d} MiB {req(r['ls_req'])} | "
        f"ours/litestream time {r['ours_s'] / r['ls_s']:5.2f} (min), "
        f"{r['ours_median'] / r['ls_median']:5.2f} (median), RSS {r['ours_rss'] / r['ls_rss']:5.2f} | "
        f"CPU (median) {r['ours_cpu']:.2f} / {r['ls_cpu']:.2f} s = {r['ours_cpu'] / r['ls_cpu']:.2f} | "
        f"identical: {r['identical']}"
    )


def _min_median(xs: list[float]) -> str:
    return f"{min(xs):6.2f} / {statistics.median(xs):6.2f} s"


def _in_process_rows(
    tmp: Path, url: str, env: dict[str, str], repeat: int, s3env: dict[str, str]
) -> dict:
    """Our restore timed in process vs the one-thread floor on the largest LTX file,
    alternating, ``repeat`` times each; the outputs are compared with the source pages."""
    biggest = max((tmp / "replica" / "ltx" / "9").glob("*.ltx"), key=lambda p: p.stat().st_size)
    ours, floor, rss, workers_rss = [], [], [], []
    for _ in range(repeat):
        a, b = tmp / "inproc.db", tmp / "floor.db"
        for p in (a, b):
            p.unlink(missing_ok=True)
        _, peak, o = run_measured(
            [sys.executable, "-c", IN_PROCESS_RESTORE, url, str(a), json.dumps(s3env)], env
        )
        rss.append(peak)
        workers_rss.append(json.loads(o)["workers_rss"])
        _, _, f = run_measured([sys.executable, "-c", FLOOR, str(biggest), str(b)], env)
        ours.append(json.loads(o)["s"])
        floor.append(json.loads(f)["s"])
        identical = same_file(a, b)
        a.unlink()
        b.unlink()
    return {
        "ours": ours,
        "floor": floor,
        "identical": identical,
        "floor_file": biggest.name,
        "rss": max(rss),
        "workers_rss": max(workers_rss),
    }


def main() -> None:
    warm_bytecode()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--lookups", type=int, default=200)
    ap.add_argument("--delays", default="0,20", help="ms per request through the proxy")
    ap.add_argument("--no-lookups", action="store_true", help="skip the SQLite VFS lookups")
    ap.add_argument("--no-direct", action="store_true", help="skip S3 without the proxy")
    ap.add_argument("--json", type=Path, help="also write every figure here")
    ap.add_argument("--repeat", type=int, default=1, help="restore runs per row (min / median)")
    ap.add_argument("--restore-only", action="store_true", help="only the restore rows")
    ap.add_argument(
        "--s3-server",
        choices=["moto", "s3rver"],
        default="moto",
        help="local S3 server: moto (reads the whole object per ranged GET) or s3rver (npm, "
        "installed into the test cache; serves ranges from the file)",
    )
    ap.add_argument(
        "--variants",
        default="",
        help="restore_file tunings timed in process on the proxied S3 target, alternating "
        "with litestream: part:budget:p|t (MiB, MiB, processes or threads), comma-separated",
    )
    ap.add_argument("--no-cli", action="store_true", help="skip the CLI restore rows")
    args = ap.parse_args()
    delays = [float(d) for d in args.delays.split(",") if d.strip()]
    results: dict[str, object] = {"ltx": ltx.__file__}
    print(f"library: {ltx.__file__}")

    s3env = S3_ENV
    if args.s3_server == "s3rver":
        s3env = S3_ENV | {"AWS_ACCESS_KEY_ID": S3RVER_KEY, "AWS_SECRET_ACCESS_KEY": S3RVER_KEY}
    server = moto_server if args.s3_server == "moto" else s3rver_server
    print(f"S3 server: {args.s3_server}")
    results["s3_server"] = args.s3_server

    with tempfile.TemporaryDirectory() as tmpdir, server(Path(tmpdir)) as ep:
        tmp = Path(tmpdir)
        t0 = dt.datetime.now()
        file_url, rows = build(tmp, args.mib)
        s3_client(ep, s3env).create_bucket(Bucket="bench")
        copy_to_s3(file_url, f"s3://bench/db?endpoint={ep}&region=us-east-1", s3env)
        snap = ltx.open(file_url).view()
        size, commit = snap.size, snap.page_count
        print(
            f"setup: {size / 2**20:.0f} MiB database ({commit} pages), {rows} rows, "
            f"in {(dt.datetime.now() - t0).total_seconds():.0f} s"
        )
        results["db_mib"] = size / 2**20
        env = clean_env(s3env)
        ids = random.Random(3).sample(range(1, rows + 1), args.lookups)
        p1, p2 = max(1, commit // 3), max(1, (2 * commit) // 3)

        with DelayProxy.for_url(ep) as proxy:
            targets: list[tuple[str, str, float | None]] = [("file", file_url, None)]
            if not args.no_direct:
                targets.append(("s3 direct", f"s3://bench/db?endpoint={ep}&region=us-east-1", None))
            for d in delays:
                proxy_url = f"s3://bench/db?endpoint={proxy.url}&region=us-east-1"
                targets.append((f"s3 +{d:g} ms", proxy_url, d))

            # -- restore ----------------------------------------------------------------
            for label, url, delay in targets:
                if delay is None or not args.variants:
                    continue
                proxy.set_delay(delay)
                rows = _variant_rows(
                    tmp, url, env, proxy, _parse_variants(args.variants), args.repeat, s3env
                )
                results[f"variants {label}"] = rows
                for row in rows:
                    print(_fmt_variant(label, row), flush=True)
            for label, url, delay in targets:
                if args.no_cli:
                    break
                if delay is not None:
                    proxy.set_delay(delay)
                r = _restore_row(tmp, url, env, proxy, delay, args.repeat)
                results[f"restore {label}"] = r
                print(_fmt_restore(label, r), flush=True)
            if args.no_cli:
                return
            inproc = _in_process_rows(tmp, file_url, env, args.repeat, s3env)
            results["restore in process file"] = inproc
            ls = results["restore file"]["ls_all"]  # type: ignore[index]
            print(
                f"restore in process file://: ours {_min_median(inproc['ours'])} | "
                f"floor (1 thread: LZ4 + write + fsync of {inproc['floor_file']}) "
                f"{_min_median(inproc['floor'])} | ours/floor "
                f"{min(inproc['ours']) / min(inproc['floor']):.2f} (min), "
                f"{statistics.median(inproc['ours']) / statistics.median(inproc['floor']):.2f} "
                f"(median) | ours in process / litestream CLI "
                f"{min(inproc['ours']) / min(ls):.2f} (min) | peak RSS {inproc['rss']} MiB, "
                f"each worker <= {inproc['workers_rss']} MiB | identical: {inproc['identical']}",
                flush=True,
            )
            if args.restore_only:
                if args.json:
                    args.json.write_text(json.dumps(results, indent=1, default=str))
                return

            # -- page reads, history ----------------------------------------------------
            for label, url, delay in targets:
                if delay is not None:
                    proxy.set_delay(delay)
                _, rss, o = run_measured(
                    [
                        sys.executable,
                        "-c",
                        PROBE,
                        url,
                        json.dumps(s3env),
                        "read",
                        str(p1),
                        str(p2),
                        "3",
                    ],
                    env,
                )
                got = json.loads(o)
                results[f"reads {label}"] = got | {"rss": rss}
                parts = []
                for k, v in got.items():
                    if "us" in v:
                        parts.append(f"{k} {v['us']:.1f} us ({v['requests']} req)")
                    else:
                        parts.append(f"{k} {v['ms']:.1f} ms ({v['requests']} req)")
                print(
                    f"reads {label:14}: " + "; ".join(parts) + f"; peak RSS {rss} MiB", flush=True
                )

            # -- SQLite lookups ---------------------------------------------------------
            if not args.no_lookups:
                for label, url, delay in targets:
                    if delay is not None and delay != delays[-1]:
                        continue  # S3 direct and the largest delay are enough (moto is slow)
                    if delay is not None:
                        proxy.set_delay(delay)
                    n0 = proxy.requests
                    _, _, o = run_measured(
                        [
                            sys.executable,
                            "-c",
                            OURS_LOOKUP,
                            url,
                            json.dumps(ids),
                            json.dumps(s3env),
                        ],
                        env,
                    )
                    n1 = proxy.requests
                    _, _, t = run_measured(
                        [sys.executable, "-c", LITESTREAM_VFS_LOOKUP, url, json.dumps(ids)], env
                    )
                    n2 = proxy.requests
                    o, t = json.loads(o), json.loads(t)
                    reqs = (
                        f" | requests ours {n1 - n0}, litestream {n2 - n1}"
                        if delay is not None
                        else ""
                    )
                    results[f"lookups {label}"] = {"ours": o, "litestream": t}
                    print(
                        f"{args.lookups} lookups {label:14}: ours open {o['open']:.2f} s, cold {o['cold']:.2f} s, "
                        f"warm {o['warm']:.3f} s | litestream VFS open {t['open']:.2f} s, cold {t['cold']:.2f} s, "
                        f"warm {t['warm']:.3f} s | ratio cold {o['cold'] / t['cold']:.2f}, "
                        f"warm {o['warm'] / t['warm']:.2f}{reqs}",
                        flush=True,
                    )

            # -- appends (last: they add level-0 files) ---------------------------------
            for label, url, delay in targets:
                if delay is not None and delay != delays[-1]:
                    continue  # one proxied S3 run is enough: appends do not depend on delay
                if delay is not None:
                    proxy.set_delay(delay)
                _, _, o = run_measured(
                    [sys.executable, "-c", PROBE, url, json.dumps(s3env), "append", "1", "1", "1"],
                    env,
                )
                got = json.loads(o)
                results[f"append {label}"] = got
                print(
                    f"append {label:14}: "
                    + "; ".join(
                        f"{k} {v['ms']:.1f} ms ({v['requests']} req)" for k, v in got.items()
                    ),
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
