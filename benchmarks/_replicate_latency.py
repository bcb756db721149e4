"""The app's commit latency beside each replicator, apart from the lag runs (issue 20's
goal: p99 within 1.2x of the app alone).

A p99 of a tenth of a millisecond moves by a third between two runs on a shared
2-core machine, and the bulk load's p99 is the slowest of its 64 commits, so one run
per tool says little. Here each workload (small, bulk) runs in rounds, each tool (and
the app alone) once per round in turn, on ``file://``, with no observer (the lag runs'
harness) beside it; a figure is the median over the rounds.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import S3_ENV, clean_env, wait_until

ROLES = str(Path(__file__).with_name("_replicate_roles.py"))


def _quantiles(lat: list[float]) -> dict[str, float]:
    s = sorted(lat)

    def at(p: float) -> float:
        return 1000 * s[min(len(s) - 1, int(len(s) * p / 100))]

    return {"p99": at(99), "p999": at(99.9), "max": 1000 * s[-1]}


def _first_file(folder: Path, proc: Any, timeout: float = 60) -> None:
    def listed() -> bool:
        return folder.is_dir() and any(folder.iterdir())

    wait_until(lambda: listed() or proc.poll() is not None, timeout, f"a file in {folder}")
    if not listed():
        raise RuntimeError(f"the replicator exited before its first file in {folder}")


def latency_case(
    tmp: Path,
    spec: dict[str, Any],
    tool: str,
    interval: float | None,
    fresh: Callable,
    start: Callable,
) -> dict[str, float]:
    """One run of the app (``spec``: its workload) beside ``tool`` ('none': the app
    alone, its own autocheckpoint on); the p99, p99.9 and max of its commits, in ms."""
    case = f"lat-{spec['workload']}-{tool}-{interval or 'default'}-{time.monotonic_ns()}"
    db = fresh(tmp / case)
    replica = tmp / case / "replica"
    proc = None
    if tool != "none":
        proc = start(tool, db, replica.as_uri(), interval, db.with_name("replicator.log"))
        _first_file(replica / "ltx" / "0", proc)
    spec = spec | {"db": str(db), "replicated": tool != "none", "attached": False}
    out = subprocess.run(
        [sys.executable, ROLES, "app", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=clean_env(S3_ENV),
        check=True,
    )
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=60)
    return _quantiles(json.loads(out.stdout.splitlines()[0])["lat"])


def latency_rounds(
    tmp: Path,
    spec: dict[str, Any],
    tools: list[str],
    intervals: list[float | None],
    rounds: int,
    fresh: Callable,
    start: Callable,
) -> dict[tuple[str, float | None], dict[str, float]]:
    """Every (tool, interval) once per round, the app alone first; medians over rounds."""
    cases = [("none", None)] + [(t, i) for i in intervals for t in tools]
    runs: dict[tuple[str, float | None], list[dict[str, float]]] = {c: [] for c in cases}
    for _ in range(rounds):
        for tool, interval in cases:
            runs[(tool, interval)].append(latency_case(tmp, spec, tool, interval, fresh, start))
            got = {"latency": [spec["workload"], tool, interval], **runs[(tool, interval)][-1]}
            print(json.dumps(got), flush=True)
    return {c: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for c, rs in runs.items()}


def latency_pass(
    tmp: Path,
    a: Any,
    tools: list[str],
    intervals: list[float | None],
    fresh: Callable,
    start: Callable,
) -> dict[str, dict[tuple[str, float | None], dict[str, float]]]:
    """``latency_rounds`` for each of the bench's workloads that has a latency pass."""
    specs: dict[str, dict[str, Any]] = {
        "small": {"workload": "small", "seconds": a.latency_seconds, "rate": a.rate},
        "bulk": {"workload": "bulk", "bulk_mib": a.bulk_mib},
    }
    reps = [t for t in tools if t in ("ltx", "litestream")]
    return {
        w: latency_rounds(tmp, specs[w], reps, intervals, a.latency_rounds, fresh, start)
        for w in a.workloads.split(",")
        if w in specs and a.latency_rounds > 0
    }


def latency_table(meds: dict[str, dict[tuple[str, float | None], dict[str, float]]]) -> str:
    """Markdown: per workload and interval, ltx / litestream / alone for each quantile,
    and each tool's p99 over the app alone's."""
    lines = [
        "| workload | interval | p99 ms ltx / litestream / alone | ltx / alone "
        "| litestream / alone | p99.9 ms ltx / litestream / alone | max ms ltx / litestream / alone |",
        "|---|---|---|---|---|---|---|",
    ]
    for workload, med in meds.items():
        alone = med[("none", None)]
        for interval in dict.fromkeys(i for (t, i) in med if t != "none"):
            ours, ls = med.get(("ltx", interval), {}), med.get(("litestream", interval), {})
            row = [workload, f"{interval or 'default'}"]
            for key in ("p99", "p999", "max"):
                row.append(" / ".join(f"{d.get(key, float('nan')):.3g}" for d in (ours, ls, alone)))
                if key == "p99":
                    row += [f"{d.get(key, float('nan')) / alone[key]:.2f}" for d in (ours, ls)]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
