"""CLI commands beyond reading and writing files: verify, sql, convert, diff, changes."""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from ltx.changes import diff_to_json, diff_to_text, tx_to_json, tx_to_text
from ltx.cli._output import Output, Progress
from ltx.errors import LTXError, NotFoundError
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
    if out.json_mode:
        out.record({"ok": ok, "replicas": [r.to_json() for r in reports]}, "")
    for r in reports:
        state = "ok" if r.ok else f"{len(r.problems)} problem(s)"
        out.line(f"{r.url}: {state} ({r.files} files, {r.points} restorable points)")
        for p in r.problems:
            where = f" [{p.path}" + (f" @ {p.offset}" if p.offset is not None else "") + "]"
            out.line(f"  {p.kind}: {p.message}{where if p.path else ''}")
    return 0 if ok else 1


def _rows_text(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> str:
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    cells = [columns, *[["NULL" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def cmd_sql(args: argparse.Namespace, out: Output) -> int:
    try:
        from ltx.sqlite import connect
    except ImportError:
        raise LTXError("ltx sql needs the sqlite extra: pip install 'ltx[sqlite]'") from None
    con = connect(args.url, txid=args.txid, timestamp=args.timestamp)
    try:
        if args.sql is None:
            import apsw.shell

            apsw.shell.Shell(db=con).cmdloop()  # type: ignore[no-untyped-call]
            return 0
        cursor = con.cursor()
        rows = list(cursor.execute(args.sql))
        columns = [d[0] for d in (cursor.description or ())]
        if args.format == "json" or out.json_mode:
            blobs = [[v.hex() if isinstance(v, bytes) else v for v in row] for row in rows]
            out.json_mode = True
            out.record({"columns": columns, "rows": blobs, "txid": f"{con.txid:016x}"}, "")
        elif columns:
            out.line(_rows_text(columns, rows, args.format))
        return 0
    finally:
        con.close()


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


def _json_lines(args: argparse.Namespace) -> bool:
    return (args.format or ("json" if args.json else "text")) == "json"


def _print_lines(out: Output, lines: Iterable[str]) -> None:
    for line in lines:
        print(line, file=out.stdout)
    out.stdout.flush()


def cmd_diff(args: argparse.Namespace, out: Output) -> int:
    replica = open_replica(args.url, retry=_retry(args, out))
    if not replica.files() and replica.legacy() is None:
        raise NotFoundError(replica.store.explain_empty())
    d = replica.diff(args.from_txid, args.to_txid)
    if _json_lines(args):
        _print_lines(out, (json.dumps(o) for o in diff_to_json(d, args.table, pages=args.pages)))
    else:
        _print_lines(out, diff_to_text(d, args.table, pages=args.pages))
    return 0


def cmd_changes(args: argparse.Namespace, out: Output) -> int:
    replica = open_replica(args.url, retry=_retry(args, out))
    if not replica.files() and replica.legacy() is None:
        raise NotFoundError(replica.store.explain_empty())
    as_json = _json_lines(args)
    feed = replica.changes(args.since, follow=args.follow, poll=args.poll, tables=args.table)
    for tx in feed:
        if as_json:
            _print_lines(out, (json.dumps(o) for o in tx_to_json(tx)))
        else:
            _print_lines(out, tx_to_text(tx))
    return 0


TOOLS = {
    "verify": cmd_verify,
    "sql": cmd_sql,
    "convert": cmd_convert,
    "diff": cmd_diff,
    "changes": cmd_changes,
}
