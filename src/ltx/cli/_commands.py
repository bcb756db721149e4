"""The CLI's commands: each parses nothing and prints nothing itself; it calls the library
and hands rows or a record to the output layer."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from ltx.cli._output import Output, Progress
from ltx.cli._targets import target
from ltx.codec import format_txid
from ltx.demo import build_demo
from ltx.errors import NotFoundError, UsageError
from ltx.legacy import format_time_ns
from ltx.replica import Replica
from ltx.replica import open as open_replica
from ltx.resolve import RestorePoint
from ltx.storage import RetryPolicy

__all__ = ["COMMANDS"]


def _open(args: argparse.Namespace, out: Output) -> Replica:
    def on_retry(what: str, attempt: int, err: BaseException) -> None:
        out.note(f"ltx: retrying {what} (attempt {attempt + 1}): {err}")

    retry = RetryPolicy(deadline=args.timeout, on_retry=on_retry)
    return open_replica(
        args.url, retry=retry, env=args.env, verify_files=getattr(args, "verify", False)
    )


def _listed(replica: Replica) -> None:
    """Raise NotFoundError saying what was looked for when the replica has no files."""
    if not replica.files() and replica.legacy() is None:
        raise NotFoundError(replica.store.explain_empty())


def _target(args: argparse.Namespace) -> dict[str, Any]:
    return target(args)


def cmd_ls(args: argparse.Namespace, out: Output) -> int:
    replica = _open(args, out)
    _listed(replica)
    files = replica.files(exact_times=args.exact_times)
    objects = replica.source.legacy_objects() if args.level is None else []
    # A 0.3 object has no level or TXIDs: its generation and path say what it is.
    rows = [
        {
            "level": None,
            "min_txid": None,
            "max_txid": None,
            "size": o.size,
            "created": o.created_at.isoformat(),
            "generation": o.generation,
            "path": o.path,
        }
        for o in objects
    ] + [
        {
            "level": f.level,
            "min_txid": format_txid(f.min_txid),
            "max_txid": format_txid(f.max_txid),
            "size": f.size,
            "created": f.created_at.isoformat(),
            "generation": None,
            "path": f.path,
        }
        for f in files
        if args.level is None or f.level == args.level
    ]
    cols = [("level", "level", 5), ("min_txid", "min_txid", 16), ("max_txid", "max_txid", 16)]
    cols += [("size", "size", -10), ("created", "created", 0)]
    if objects:
        cols += [("generation", "generation", 0), ("path", "path", 0)]
    out.rows(rows, cols)
    return 0


def _when(point: RestorePoint) -> str:
    """A point's time as restores compare it: 0.3 points to the nanosecond."""
    ns = getattr(point, "time_ns", None)
    return format_time_ns(ns) if isinstance(ns, int) else point.created_at.isoformat()


def cmd_history(args: argparse.Namespace, out: Output) -> int:
    replica = _open(args, out)
    _listed(replica)
    points = replica.history()  # already the times restores compare (docs/concepts.md)
    rows = [{"txid": format_txid(p.txid), "created": _when(p)} for p in points]
    out.rows(rows, [("txid", "txid", 17), ("created", "created", 0)])
    return 0


def cmd_restore(args: argparse.Namespace, out: Output) -> int:
    replica = _open(args, out)
    if args.if_db_not_exists and args.output != "-" and Path(args.output).exists():
        out.note(f"ltx restore: {args.output} exists; nothing done (--if-db-not-exists)")
        return 0
    if args.if_replica_exists and not replica.files() and replica.legacy() is None:
        out.note(f"ltx restore: {replica.store.explain_empty()}; nothing done")
        return 0
    _listed(replica)
    if args.dry_run:
        return _restore_plan(replica, args, out)
    if args.output == "-":
        return _restore_to_stdout(replica, args, out)
    view = replica.restore(
        args.output,
        overwrite=args.overwrite,
        progress=Progress("restoring pages", force=args.progress),
        **_target(args),
    )
    obj = {
        "output": str(args.output),
        "txid": format_txid(view.txid),
        "pages": view.page_count,
        "page_size": view.page_size,
    }
    text = (
        f"restored {args.output}: txid {obj['txid']}, {view.page_count} pages of "
        f"{view.page_size} bytes"
    )
    out.record(obj, text)
    return 0


def _restore_plan(replica: Replica, args: argparse.Namespace, out: Output) -> int:
    """``--dry-run``: the files a restore would read, their bytes, and the requests (one
    read of each whole file, after the listing)."""
    pm = replica.page_map(**_target(args))
    files = getattr(pm, "files", None)
    if files is None:  # a 0.3 point: its snapshot, then its WAL segments
        plan = pm.plan  # type: ignore[attr-defined]
        files = [plan.snapshot, *plan.segments]
    rows = [{"path": f.path, "size": f.size} for f in files]
    total = sum(r["size"] for r in rows)
    if out.fmt == "table":
        for r in rows:
            out.line(f"{r['size']:>12}  {r['path']}")
        out.line(
            f"would restore txid {format_txid(pm.txid)} ({pm.commit} pages of {pm.page_size} "
            f"bytes) to {args.output}: {len(rows)} files, {total} bytes, {len(rows)} reads"
        )
        return 0
    out.record(
        {
            "dry_run": True,
            "txid": format_txid(pm.txid),
            "output": args.output,
            "files": rows,
            "bytes": total,
            "requests": len(rows),
        },
        "",
    )
    return 0


def _restore_to_stdout(replica: Replica, args: argparse.Namespace, out: Output) -> int:
    """``-o -``: the database bytes on stdout (built in a temporary folder first)."""
    if out.stdout.isatty():
        raise UsageError("ltx restore -o - writes a database to stdout: redirect it to a file")
    with tempfile.TemporaryDirectory(prefix="ltx-restore-") as tmp:
        path = Path(tmp) / "db"
        view = replica.restore(path, **_target(args))
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                out.raw(chunk)
    out.note(f"restored txid {format_txid(view.txid)}: {view.page_count} pages to stdout")
    return 0


def cmd_page(args: argparse.Namespace, out: Output) -> int:
    replica = _open(args, out)
    _listed(replica)
    data = replica.page_at(args.pgno, **_target(args))
    if args.output:
        Path(args.output).write_bytes(data)
        out.record({"pgno": args.pgno, "output": args.output}, f"wrote {args.output}")
    elif args.raw:
        out.raw(data)
    elif out.fmt != "table":
        out.record({"pgno": args.pgno, "hex": data.hex()}, "")
    else:
        for i in range(0, len(data), 16):
            row = data[i : i + 16]
            text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
            out.line(f"{i:08x}  {row[:8].hex(' ')}  {row[8:].hex(' ')}  |{text}|")
    return 0


def cmd_demo(args: argparse.Namespace, out: Output) -> int:
    result = build_demo(args.dir, force=args.force, log=out.line)
    out.line(
        f"\nreplica {result.url}: {result.files} files; {result.restorable} TXIDs can be "
        "restored exactly"
    )
    for p in result.points:
        out.line(
            f"as of txid {format_txid(p.txid)}: page 1 starts {p.header!r}, "
            f"{p.page_count} pages, {p.rows} rows in notes"
        )
    out.record(
        {
            "url": result.url,
            "files": result.files,
            "restorable": result.restorable,
            "points": [
                {"txid": format_txid(p.txid), "pages": p.page_count, "rows": p.rows}
                for p in result.points
            ],
        },
        f"\ntry: ltx ls {result.url}   |   ltx page {result.url} 2 --txid 0000000000000003",
    )
    return 0


def cmd_compact(args: argparse.Namespace, out: Output) -> int:
    replica = _open(args, out)
    steps = replica.compact(
        now=args.now, dry_run=args.dry_run, progress=Progress("compacting", force=args.progress)
    )
    rows = [{"step": s.describe()} for s in steps]
    if not rows:
        out.record({"steps": []}, "nothing to do")
        return 0
    if out.fmt == "json":
        out.record({"steps": [r["step"] for r in rows], "dry_run": args.dry_run}, "")
    elif out.fmt == "table":
        for r in rows:
            out.line(r["step"])
    else:
        out.rows(rows, [("step", "step", 0)])
    return 0


def cmd_snapshot(args: argparse.Namespace, out: Output) -> int:
    replica = _open(args, out)
    if args.db:
        info = replica.write_snapshot(args.db)
    else:
        _listed(replica)
        info = replica.write_snapshot(replica.view())
    obj = {"path": info.path, "size": info.size, "max_txid": format_txid(info.max_txid)}
    out.record(obj, f"snapshot {info.path} ({info.size} bytes)")
    return 0


COMMANDS = {
    "demo": cmd_demo,
    "ls": cmd_ls,
    "history": cmd_history,
    "restore": cmd_restore,
    "page": cmd_page,
    "compact": cmd_compact,
    "snapshot": cmd_snapshot,
}
