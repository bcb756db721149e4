"""The app's commit latency beside each replicator, apart from the lag runs (issue 20's
goal: p99 within 1.2x of the app alone).

A p99 of a tenth of a millisecond moves by a third between two runs on a shared
2-core machine, so one run per tool says little. Here the small workload runs in
rounds, each tool (and the app alone) once per round in turn, on ``file://``, with no
observer (the lag runs' harness) beside it; a figure is the median over the rounds.
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

from _common import S3_ENV, clean_env

ROLES = str(Path(__file__).with_name("_replicate_roles.py"))


def _quantiles(lat: list[float]) -> dict[str, float]:
    s = sorted(lat)

    def at(p: float) -> float:
        return 1000 * s[min(len(s) - 1, int(len(s) * p / 100))]

    return {"p99": at(99), "p999": at(99.9), "max": 1000 * s[-1]}


def _first_file(folder: Path, proc: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not (folder.is_dir() and any(folder.iterdir())):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"no first file in {folder}")
        time.sleep(0.02)


def latency_case(
    tmp: Path, tool: str, interval: float | None, seconds: float, fresh: Callable, start: Callable
) -> dict[str, float]:
    """One small-workload run beside ``tool`` ('none': the app alone, its own
    autocheckpoint on); the p99, p99.9 and max of its commits, in ms."""
    case = f"lat-{tool}-{interval or 'default'}-{time.monotonic_ns()}"
    db = fresh(tmp / case)
    replica = tmp / case / "replica"
    proc = None
    if tool != "none":
        proc = start(tool, db, replica.as_uri(), interval, db.with_name("replicator.log"))
        _first_file(replica / "ltx" / "0", proc)
    spec = {"db": str(db), "workload": "small", "seconds": seconds, "rate": 1000.0}
    spec |= {"replicated": tool != "none", "attached": False}
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
    tools: list[str],
    intervals: list[float | None],
    rounds: int,
    seconds: float,
    fresh: Callable,
    start: Callable,
) -> dict[tuple[str, float | None], dict[str, float]]:
    """Every (tool, interval) once per round, the app alone first; medians over rounds."""
    cases = [("none", None)] + [(t, i) for i in intervals for t in tools]
    runs: dict[tuple[str, float | None], list[dict[str, float]]] = {c: [] for c in cases}
    for _ in range(rounds):
        for tool, interval in cases:
            runs[(tool, interval)].append(latency_case(tmp, tool, interval, seconds, fresh, start))
            print(
                json.dumps({"latency": [tool, interval], **runs[(tool, interval)][-1]}), flush=True
            )
    return {c: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for c, rs in runs.items()}


def latency_table(med: dict[tuple[str, float | None], dict[str, float]], rounds: int) -> str:
    """Markdown: per interval, ltx / litestream / alone for each quantile, and each
    tool's p99 over the app alone's."""
    alone = med[("none", None)]
    lines = [
        "| interval | p99 ms ltx / litestream / alone | ltx / alone | litestream / alone "
        "| p99.9 ms ltx / litestream / alone | max ms ltx / litestream / alone |",
        "|---|---|---|---|---|---|",
    ]
    for interval in dict.fromkeys(i for (t, i) in med if t != "none"):
        ours, ls = med.get(("ltx", interval), {}), med.get(("litestream", interval), {})
        row = [f"{interval or 'default'}"]
        for key in ("p99",):
            row.append(" / ".join(f"{d.get(key, float('nan')):.3f}" for d in (ours, ls, alone)))
            row += [f"{d.get(key, float('nan')) / alone[key]:.2f}" for d in (ours, ls)]
        for key in ("p999", "max"):
            row.append(" / ".join(f"{d.get(key, float('nan')):.2f}" for d in (ours, ls, alone)))
        lines.append("| " + " | ".join(row) + " |")
    return f"Medians of {rounds} rounds:\n\n" + "\n".join(lines)
