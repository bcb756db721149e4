"""``ltx fleet verify|drill|stats|compact PREFIX``: one JSON line per replica, a summary.

Exit codes: 0 every replica healthy, 1 some unhealthy, 2 the run could not be done
(nothing found, storage unreachable, an engine lost work, the request budget ran out).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import datetime as dt
import json
import os
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import attrs

from ltx import fleet
from ltx.cli._output import Output, Progress
from ltx.errors import LTXError, UsageError
from ltx.fleet._engines import RayExecutor, dask_executor
from ltx.storage import parse_url
from ltx.times import UTC, parse_time

__all__ = ["FLEET", "add_fleet_parser"]

ALL_HEALTHY, SOME_UNHEALTHY, COULD_NOT_RUN = 0, 1, 2


def add_fleet_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """The ``fleet`` command and its options (output options as every command has)."""
    from ltx.cli._parser import _outputs  # _parser imports this module: import at call time

    p = sub.add_parser("fleet", help="verify, drill, size or compact every replica under a prefix")
    _outputs(p)
    p.add_argument("op", choices=tuple(fleet.OPERATIONS), help="the operation per replica")
    p.add_argument("prefix", help="a URL or folder holding many replicas (or one)")
    p.add_argument("--out", metavar="FILE", help="write the JSON lines here (default stdout)")
    p.add_argument("--resume", metavar="FILE", help="skip replicas with a line in FILE; append")
    p.add_argument("--deep", action="store_true", help="verify: rebuild points, integrity_check")
    p.add_argument("--stale-after", type=float, metavar="SECONDS", help="older newest point: stale")
    p.add_argument("--probe", metavar="SQL", help="drill: a read-only query to run")
    p.add_argument("--now", help="the clock for RPO and retention (RFC 3339; default now)")
    p.add_argument("--dry-run", action="store_true", help="compact: plan only")
    p.add_argument(
        "--levels", metavar="S,S,..", help="L1.. intervals in seconds (default 30,300,3600)"
    )
    p.add_argument("--write-rate", type=float, metavar="W/S", help="stats: project at this rate")
    p.add_argument("--bytes-per-write", type=int, metavar="N", help="stats: level-0 file size")
    p.add_argument("--days", type=float, default=30.0, help="stats: projection length (30)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="local processes")
    p.add_argument("--batch", type=int, metavar="N", help="replicas per task (default: sized)")
    p.add_argument("--threads", type=int, default=8, metavar="N", help="replicas at once per task")
    engine = p.add_mutually_exclusive_group()
    engine.add_argument("--dask", metavar="SCHEDULER", help="run on this Dask scheduler")
    engine.add_argument("--ray", metavar="ADDRESS", help="run on this Ray cluster ('auto')")
    p.add_argument("--max-requests", type=int, metavar="N", help="stop submitting after N requests")
    p.add_argument("--progress", action="store_true", help="show progress even when not a TTY")
    p.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS", help="per call")
    p.add_argument(
        "--listing-max-age",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="verify/drill work from discovery's listing while younger (0: list each root)",
    )


def _options(args: argparse.Namespace) -> fleet.Options:
    clock = dt.datetime.now(UTC)
    now = None if args.now is None else parse_time(args.now, now=clock).timestamp()
    levels = None if args.levels is None else tuple(float(s) for s in args.levels.split(","))
    return fleet.Options(
        deep=args.deep,
        stale_after=args.stale_after,
        now=now,
        probe=args.probe,
        levels=levels,
        writes_per_second=args.write_rate,
        bytes_per_write=args.bytes_per_write,
        days=args.days,
        dry_run=args.dry_run,
        timeout=args.timeout,
        listing_max_age=args.listing_max_age,
    )


def _bare(url: str) -> str:
    """``url`` without user info: credentials travel as storage options instead."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _done(path: str | None) -> list[fleet.Verdict]:
    """The verdicts already written to ``path`` (a torn last line is ignored)."""
    if path is None or not Path(path).exists():
        return []
    out = []
    for line in Path(path).read_text().splitlines():
        with contextlib.suppress(ValueError, TypeError, KeyError):
            out.append(fleet.Verdict.from_json(json.loads(line)))
    return out


@contextlib.contextmanager
def _engine(args: argparse.Namespace) -> Iterator[cf.Executor | None]:
    if args.dask:
        ex, close = dask_executor(args.dask)
        try:
            yield ex
        finally:
            close()
    elif args.ray:
        ray_ex = RayExecutor(args.ray)
        try:
            yield ray_ex
        finally:
            ray_ex.shutdown()
    else:
        yield None


@contextlib.contextmanager
def _sink(args: argparse.Namespace, out: Output) -> Iterator[TextIO]:
    path = args.out or args.resume
    if path is None:
        yield out.stdout
        return
    with open(path, "a+", encoding="utf-8") as fp:
        if fp.tell():  # a killed run may have left a torn last line: start a fresh one
            fp.seek(fp.tell() - 1)
            if fp.read(1) != "\n":
                fp.write("\n")
        yield fp


def _writer(fp: TextIO) -> Callable[[fleet.Verdict], None]:
    def write(v: fleet.Verdict) -> None:
        fp.write(json.dumps(v.to_json(), sort_keys=True) + "\n")
        fp.flush()  # a line per replica on disk as it comes: a killed run loses nothing

    return write


def _summary(out: Output, summary: dict[str, Any], to_stdout: bool) -> None:
    """The summary in the chosen format; on stderr when stdout carries the verdict lines."""
    if not to_stdout:
        out = Output(fmt=out.fmt, stdout=out.stderr, stderr=out.stderr)
    text = ""
    if out.fmt == "table":
        counts = "  ".join(f"{k} {n}" for k, n in summary["counts"].items())
        rpo = summary["worst_rpo_seconds"]
        worst = "-" if rpo is None else f"{rpo:.1f} s ({summary['worst_rpo_url']})"
        text = "\n".join(
            [
                f"replicas         {summary['replicas']}   not run {summary['not_run']}",
                f"verdicts         {counts}",
                f"worst RPO        {worst}",
                f"bytes            {summary['bytes']}",
                f"identical bytes  {summary['identical_bytes']}",
                f"requests         {summary['requests']}   seconds {summary['seconds']}",
            ]
        )
    out.record(summary, text)


def cmd_fleet(args: argparse.Namespace, out: Output) -> int:
    """Discover the replicas under the prefix, run the operation, write lines and a summary."""
    try:
        options = _options(args)
        storage = parse_url(args.prefix, env=os.environ).options
        found = fleet.discover(args.prefix, **storage)
    except (LTXError, OSError, ValueError) as exc:
        out.note(f"ltx fleet {args.op}: {exc}")
        return COULD_NOT_RUN
    if not found.roots:
        out.note(
            f"ltx fleet {args.op}: no replica under {found.prefix}: looked for LTX level "
            f"folders and generations/ in {found.listed} listed objects"
        )
        return COULD_NOT_RUN
    earlier = _done(args.resume)
    progress = Progress(f"fleet {args.op}", force=args.progress)
    try:
        with _engine(args) as ex, _sink(args, out) as fp:
            result = fleet.run(
                args.op,
                [attrs.evolve(r, url=_bare(r.url)) for r in found.roots],
                options,
                executor=ex,
                workers=max(1, args.workers),
                batch_size=args.batch,
                storage_options=storage,
                done={v.url for v in earlier},
                on_verdict=_writer(fp),
                progress=progress,
                max_requests=args.max_requests,
                spent=found.requests,
                threads_per_task=max(1, args.threads),
            )
    except (LTXError, UsageError, OSError) as exc:
        out.note(f"ltx fleet {args.op}: {exc}")
        return COULD_NOT_RUN
    for err in result.errors:
        out.note(f"ltx fleet {args.op}: {err}")
    _summary(out, result.summary(earlier), to_stdout=bool(args.out or args.resume))
    if not result.complete:
        return COULD_NOT_RUN
    healthy = all(v.healthy for v in [*earlier, *result.verdicts])
    return ALL_HEALTHY if healthy else SOME_UNHEALTHY


FLEET = {"fleet": cmd_fleet}
