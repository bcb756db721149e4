"""CLI commands beyond reading and writing files: verify, sql, convert, diff, changes."""

from __future__ import annotations

import argparse

from ltx.changes import diff_to_json, diff_to_text, tx_to_json, tx_to_text
from ltx.cli._output import Output, Progress
from ltx.cli._targets import point
from ltx.errors import NotFoundError, UsageError
from ltx.fleet import child_url
from ltx.replica import Replica
from ltx.replica import open as open_replica
from ltx.storage import RetryPolicy

__all__ = ["TOOLS"]


def _retry(args: argparse.Namespace, out: Output) -> RetryPolicy:
    def on_retry(what: str, attempt: int, err: BaseException) -> None:
        out.note(f"ltx: retrying {what} (attempt {attempt + 1}): {err}")

    return RetryPolicy(deadline=args.timeout, on_retry=on_retry)


def _replicas(url: str, args: argparse.Namespace, out: Output) -> list[Replica]:
    """The replica at ``url``, or every replica found below it (a prefix of many)."""
    replica = open_replica(url, retry=_retry(args, out))
    if replica.files():
        return [replica]
    if replica.legacy() is not None:
        raise UsageError(
            f"{replica.store.url} is a Litestream 0.3 replica (generations/): ltx verify "
            "checks LTX files; run ltx convert first, or restore it and PRAGMA integrity_check"
        )
    roots = [r for r in replica.store.replica_roots() if r]
    if not roots:
        raise NotFoundError(replica.store.explain_empty())
    return [open_replica(child_url(url, r), retry=_retry(args, out)) for r in roots]


def cmd_verify(args: argparse.Namespace, out: Output) -> int:
    reports = []
    for url in args.urls:
        for replica in _replicas(url, args, out):
            progress = Progress(f"verifying {replica.store.url}", force=args.progress)
            reports.append(replica.verify(deep=args.deep, progress=progress))
    ok = all(r.ok for r in reports)
    if out.fmt == "json":
        out.record({"ok": ok, "replicas": [r.to_json() for r in reports]}, "")
    elif out.fmt != "table":
        cols = [("url", "url", 0), ("ok", "ok", 0), ("files", "files", 0)]
        cols += [("points", "points", 0), ("problems", "problems", 0)]
        rows = [{**r.to_json(), "problems": len(r.problems)} for r in reports]
        out.rows(rows, cols)
    for r in reports:
        state = "ok" if r.ok else f"{len(r.problems)} problem(s)"
        out.line(f"{r.url}: {state} ({r.files} files, {r.points} restorable points)")
        for p in r.problems:
            where = f" [{p.path}" + (f" @ {p.offset}" if p.offset is not None else "") + "]"
            out.line(f"  {p.kind}: {p.message}{where if p.path else ''}")
    return 0 if ok else 1


def cmd_convert(args: argparse.Namespace, out: Output) -> int:
    from ltx.legacy import convert

    src, dst = open_replica(args.src, retry=_retry(args, out)), open_replica(args.dst)
    progress = Progress("converting files", force=args.progress)
    report = convert(
        src.store, dst.store, dry_run=args.dry_run, progress=progress, age_identity=src.age_identity
    )
    steps = [
        {
            "level": s.level,
            "min_txid": f"{s.min_txid:016x}",
            "max_txid": f"{s.max_txid:016x}",
            "timestamp_ms": s.timestamp_ms,
            "generation": s.generation,
            "legacy_txid": f"{s.legacy_txid:016x}",
        }
        for s in report.steps
    ]
    obj = {
        "dry_run": report.dry_run,
        "written": report.written,
        "skipped": report.skipped,
        "destination": report.destination,
        "files": steps,
    }
    verb = "would write" if report.dry_run else "wrote"
    text = (
        f"{verb} {len(steps) - report.skipped if report.dry_run else report.written} LTX "
        f"files to {report.destination} ({report.skipped} already there)"
    )
    if not out.json_mode and args.dry_run:
        for s in steps:
            out.line(
                f"L{s['level']} {s['min_txid']}-{s['max_txid']} <- 0.3 {s['generation']} "
                f"{s['legacy_txid']}"
            )
    out.record(obj, text)
    return 0


def cmd_diff(args: argparse.Namespace, out: Output) -> int:
    replica = open_replica(args.url, retry=_retry(args, out), env=args.env)
    if not replica.files() and replica.legacy() is None:
        raise NotFoundError(replica.store.explain_empty())
    a, b = (point(replica, p, args.local) for p in (args.from_txid, args.to_txid))
    d = replica.diff(a, b)
    out.objects(
        diff_to_json(d, args.table, pages=args.pages),
        diff_to_text(d, args.table, pages=args.pages),
    )
    return 0


def _known_tables(replica: Replica, tables: list[str]) -> None:
    """UsageError for a table that exists at neither the first nor the latest point."""
    points = replica.history()
    if points:
        for _ in replica.diff(points[0].txid, points[-1].txid).rows(tables):
            break


def cmd_changes(args: argparse.Namespace, out: Output) -> int:
    replica = open_replica(args.url, retry=_retry(args, out), env=args.env)
    if not replica.files() and replica.legacy() is None:
        raise NotFoundError(replica.store.explain_empty())
    if args.table:
        _known_tables(replica, args.table)
    since = None if args.since is None else point(replica, args.since, args.local)
    feed = replica.changes(since, follow=args.follow, poll=args.poll, tables=args.table)
    out.objects(
        (o for tx in feed for o in tx_to_json(tx)),
        (line for tx in feed for line in tx_to_text(tx)),
    )
    return 0


TOOLS = {
    "verify": cmd_verify,
    "convert": cmd_convert,
    "diff": cmd_diff,
    "changes": cmd_changes,
}
