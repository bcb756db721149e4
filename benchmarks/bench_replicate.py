"""``ltx replicate`` against ``litestream replicate`` beside a live app (issue 20).

Workloads: ``small`` (``--rate`` one-row commits per second for ``--seconds``; default
1,000/s for 60 s), ``bulk`` (``--bulk-mib`` MiB of rows in 4 MiB transactions, as
fast as the app goes) and ``sparse`` (one-row commits at random moments, 0.5/s for 20 s:
an app mostly idle). Each at default settings (both tools: 1 s) and at ``--intervals``
(Litestream: ``monitor-interval`` and ``sync-interval`` both set), to ``file://`` and to
a local moto S3 through the delay proxy (``--delays`` ms per request; the proxy counts
the replicator's requests). Each replicator is its own process beside the app (another
process); an ``attached`` row runs ``Replicator.attach(conn)`` inside an apsw app.

Lag is from the app's commit returning to the first listing of a level-0 file that
holds it (``_replicate_lag``; the observer lists every 5 ms on file://, 20 ms on S3,
directly, not through the proxy). The app's commit latency (small and bulk) is also
measured apart, in rounds with no observer (``_replicate_latency``). CPU is the
replicator's from its first file to the last commit restorable, per MiB the app appended to the WAL; start-up CPU apart. Short
run: ``--seconds 10 --bulk-mib 32 --delays 0``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import S3_ENV, clean_env, ltx_cli, s3_client, wait_until, warm_bytecode
from _proxy import DelayProxy
from _replicate_lag import Rows, lags, p50, pct
from _replicate_latency import latency_pass, latency_table
from _replicate_roles import SCHEMA
from tests.litestream_harness import LITESTREAM
from tests.servers import moto_server

ROLES = str(Path(__file__).with_name("_replicate_roles.py"))


def _proc_cpu_rss(pid: int) -> tuple[float, int]:
    """(CPU seconds, peak RSS MiB) of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    hwm = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) // 1024
    return cpu, hwm


def _fresh_db(folder: Path) -> Path:
    import sqlite3

    folder.mkdir(parents=True)
    db = folder / "app.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute(SCHEMA)
    conn.close()
    return db


class Target:
    """Where a case replicates to: its URL for the tools, and direct access for the
    observer and the lag analysis."""

    def __init__(self, ctx: dict[str, Any], label: str, delay: float | None) -> None:
        self.label, self.delay, self.ctx = label, delay, ctx

    def url(self, case: str) -> str:
        if self.delay is None:
            return (self.ctx["tmp"] / case / "replica").as_uri()
        return f"s3://bench/{case}/db?endpoint={self.ctx['proxy'].url}&region=us-east-1"

    def watch(self, case: str) -> dict[str, Any]:
        if self.delay is None:
            return {"folder": str(self.ctx["tmp"] / case / "replica" / "ltx" / "0")}
        return {"endpoint": self.ctx["ep"], "bucket": "bench", "prefix": f"{case}/db/0000/"}

    def reader(self, case: str) -> Any:
        if self.delay is None:
            folder = self.ctx["tmp"] / case / "replica" / "ltx" / "0"
            return lambda name: (folder / name).read_bytes() if (folder / name).exists() else None
        s3 = self.ctx["s3"]

        def read(name: str) -> bytes | None:
            try:
                return s3.get_object(Bucket="bench", Key=f"{case}/db/0000/{name}")["Body"].read()
            except s3.exceptions.NoSuchKey:
                return None

        return read


class Observer:
    """The ``observe`` role in its own process; its lines gathered by a thread."""

    def __init__(self, spec: dict[str, Any]) -> None:
        import threading

        self.seen: list[tuple[int, float]] = []
        self.proc = subprocess.Popen(
            [sys.executable, ROLES, "observe", json.dumps(spec)],
            stdout=subprocess.PIPE,
            env=clean_env(S3_ENV),
            text=True,
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            txid, at = line.split()
            self.seen.append((int(txid), float(at)))

    @property
    def top(self) -> int:
        return self.seen[-1][0] if self.seen else 0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.thread.join(timeout=5)


def _replicator(tool: str, db: Path, url: str, interval: float | None, log: Path) -> Any:
    if tool == "ltx":
        args = [*ltx_cli(), "replicate", str(db), url]
        if interval is not None:
            args += ["-sync-interval", str(interval)]
    else:
        lines = ["dbs:", f"  - path: {db}"]
        if interval is not None:
            lines.append(f"    monitor-interval: {int(interval * 1000)}ms")
        lines += ["    replica:", f"      url: {url}"]
        if interval is not None:
            lines.append(f"      sync-interval: {int(interval * 1000)}ms")
        cfg = db.with_name("litestream.yml")
        cfg.write_text("\n".join(lines) + "\n")
        args = [str(LITESTREAM), "replicate", "-config", str(cfg)]
    with open(log, "wb") as err:
        return subprocess.Popen(
            args,
            env=clean_env(S3_ENV),
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )


def _replicator_ready(tool: str, db: Path, url: str, interval: float | None, obs: Any) -> Any:
    """The replicator's process, once its first file is listed."""
    proc = _replicator(tool, db, url, interval, db.with_name("replicator.log"))
    wait_until(lambda: obs.top > 0 or proc.poll() is not None, 60, f"{tool}'s first file")
    if proc.poll() is not None:
        raise RuntimeError(f"{tool} exited: {db.with_name('replicator.log').read_text()[-2000:]}")
    return proc


def _app(a: Any, workload: str, tool: str, interval: float | None, db: Path, url: str) -> Any:
    """The app's process (the ``app`` role) running ``workload``."""
    spec = {"db": str(db), "workload": workload, "seconds": a.seconds, "rate": a.rate}
    spec |= {
        "bulk_mib": a.bulk_mib,
        "sparse_seconds": a.sparse_seconds,
        "sparse_rate": a.sparse_rate,
        "attached": tool == "attached",
        "replicated": tool != "none",
        "url": url,
        "interval": interval,
    }
    return subprocess.Popen(
        [sys.executable, ROLES, "app", json.dumps(spec)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=clean_env(S3_ENV),
        text=True,
    )


def run_case(
    ctx: dict[str, Any], workload: str, tool: str, interval: float | None, target: Target
) -> dict:
    """One workload beside one replicator (or none, or attached); its figures."""
    a = ctx["args"]
    case = f"{workload}-{tool}-{interval or 'default'}-{target.label}".replace("+", "p")
    db = _fresh_db(ctx["tmp"] / case)
    url = target.url(case)
    obs = Observer(target.watch(case)) if tool != "none" else None
    proc = None
    if tool in ("ltx", "litestream"):
        assert obs is not None
        proc = _replicator_ready(tool, db, url, interval, obs)
    start_cpu = _proc_cpu_rss(proc.pid)[0] if proc else 0.0
    req0 = ctx["proxy"].requests if ctx["proxy"] else 0
    app = _app(a, workload, tool, interval, db, url)
    assert app.stdout is not None and app.stdin is not None
    out = json.loads(app.stdout.readline())
    commits = [tuple(c) for c in out["commits"]]
    res: dict[str, Any] = {"tool": tool, "workload": workload, "interval": interval}
    res |= {"target": target.label, "commits": len(commits), "wal_mib": out["wal_mib"]}
    res |= {"commit_p99_ms": 1000 * pct(out["lat"], 99), "app_s": out["elapsed"]}
    if obs is not None:
        rows = Rows(target.reader(case))
        last = commits[-1][0]

        def caught_up() -> bool:
            rows.advance(obs.top)
            return rows.top >= last

        wait_until(caught_up, 600 if workload == "bulk" else 120, f"{tool} to catch up")
        if proc is not None:
            res["cpu_s"], res["rss_mib"] = _proc_cpu_rss(proc.pid)
            res["cpu_s"] -= start_cpu
            res["startup_cpu_s"] = start_cpu
        else:
            app.stdin.write("\n")
            app.stdin.flush()
            res["cpu_s"] = json.loads(app.stdout.readline())["cpu"]
        if ctx["proxy"] and target.delay is not None:
            res["req_per_commit"] = (ctx["proxy"].requests - req0) / len(commits)
        obs.stop()
        ls = lags(commits, obs.seen, rows)
        res |= {"lag_p50_ms": 1000 * p50(ls), "lag_p99_ms": 1000 * pct(ls, 99), "lagged": len(ls)}
        res["cpu_s_per_mib"] = res["cpu_s"] / max(out["wal_mib"], 1e-9)
    try:
        app.wait(timeout=120)
    except subprocess.TimeoutExpired:  # an attached replicator's final sync hung: noted
        res["app_killed"] = True
        app.kill()
        app.wait()
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=60)
    return res


def _cell(res: dict[tuple, dict], key: tuple, field: str, fmt: str) -> str:
    ours, ls = res.get((*key, "ltx"), {}).get(field), res.get((*key, "litestream"), {}).get(field)
    if ours is None and ls is None:
        return ""
    text = " / ".join(format(v, fmt) if v is not None else "-" for v in (ours, ls))
    if ours is not None and ls:
        text += f" ({ours / ls:.2f})"
    return text


FIELDS = [
    ("lag p50 ms", "lag_p50_ms", ".0f"),
    ("lag p99 ms", "lag_p99_ms", ".0f"),
    ("CPU s/MiB WAL", "cpu_s_per_mib", ".3f"),
    ("start-up CPU s", "startup_cpu_s", ".2f"),
    ("peak RSS MiB", "rss_mib", ".0f"),
    ("requests/commit", "req_per_commit", ".3f"),
    ("app commit p99 ms", "commit_p99_ms", ".2f"),
]


def table(results: list[dict]) -> str:
    """Markdown: per workload, interval and target, ``ltx / litestream (ratio)``; then
    the attached rows and the app alone."""
    res = {(r["workload"], r["interval"], r["target"], r["tool"]): r for r in results}
    lines = ["| workload | interval | target | " + " | ".join(f[0] for f in FIELDS) + " |"]
    lines.append("|" + "---|" * (3 + len(FIELDS)))
    keys = dict.fromkeys((r["workload"], r["interval"], r["target"]) for r in results)
    for key in keys:
        if (*key, "ltx") not in res and (*key, "litestream") not in res:
            continue
        cells = [_cell(res, key, f, fmt) for _, f, fmt in FIELDS]
        lines.append(f"| {key[0]} | {key[1] or 'default'} | {key[2]} | " + " | ".join(cells) + " |")
    for r in results:
        if r["tool"] in ("attached", "none"):
            cells = [format(r[f], fmt) if f in r else "" for _, f, fmt in FIELDS]
            label = "attached apsw" if r["tool"] == "attached" else "no replicator"
            lines.append(
                f"| {r['workload']} | {label} | {r['target']} | " + " | ".join(cells) + " |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="small workload length")
    ap.add_argument("--rate", type=float, default=1000.0, help="small commits per second")
    ap.add_argument("--bulk-mib", type=int, default=256)
    ap.add_argument("--sparse-seconds", type=float, default=20.0, help="sparse workload length")
    ap.add_argument("--sparse-rate", type=float, default=0.5, help="sparse commits per second")
    ap.add_argument("--workloads", default="small,bulk,sparse")
    ap.add_argument("--intervals", default="default,0.1", help="'default' and/or seconds")
    ap.add_argument("--delays", default="0,20", help="S3 through the proxy, ms per request")
    ap.add_argument("--no-file", action="store_true", help="skip file://")
    ap.add_argument("--tools", default="ltx,litestream,attached")
    ap.add_argument("--json", type=Path, help="also write every figure here")
    ap.add_argument("--latency-rounds", type=int, default=3, help="commit-latency rounds (0: none)")
    ap.add_argument("--latency-seconds", type=float, default=20.0, help="each latency run")
    a = ap.parse_args()
    warm_bytecode()
    intervals = [None if i == "default" else float(i) for i in a.intervals.split(",") if i]
    delays = [float(d) for d in a.delays.split(",") if d.strip()]
    tools = [t for t in a.tools.split(",") if t and (t != "litestream" or LITESTREAM)]
    results: list[dict] = []
    with (
        tempfile.TemporaryDirectory() as d,
        moto_server(Path(d)) as ep,
        DelayProxy.for_url(ep) as proxy,
    ):
        ctx: dict[str, Any] = {"tmp": Path(d), "ep": ep, "proxy": proxy, "args": a}
        ctx["s3"] = s3_client(ep)
        ctx["s3"].create_bucket(Bucket="bench")
        targets = [] if a.no_file else [Target(ctx, "file", None)]
        targets += [Target(ctx, f"s3+{g:g}ms", g) for g in delays]
        for workload in a.workloads.split(","):
            results.append(run_case(ctx, workload, "none", None, Target(ctx, "file", None)))
            print(json.dumps(results[-1]), flush=True)
            for interval in intervals:
                for target in targets:
                    if target.delay is not None:
                        proxy.set_delay(target.delay)
                    for tool in tools:
                        if tool == "attached" and interval != intervals[0]:
                            continue  # syncs after each commit: the interval is moot
                        at = None if tool == "attached" else interval
                        results.append(run_case(ctx, workload, tool, at, target))
                        print(json.dumps(results[-1]), flush=True)
        latency = latency_pass(Path(d), a, tools, intervals, _fresh_db, _replicator)
    print(f"\nload average: {Path('/proc/loadavg').read_text().split()[:3]}")
    print(table(results))
    if latency:
        print(
            f"\nApp commit latency on file://, no observer, medians of {a.latency_rounds} rounds:"
        )
        print(latency_table(latency))
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
