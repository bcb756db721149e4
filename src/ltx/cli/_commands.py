"""The CLI's commands: each parses nothing and prints nothing itself; it calls the library
and hands rows or a record to the output layer."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ltx.cli._output import Output, Progress
from ltx.codec import format_txid
from ltx.demo import build_demo
from ltx.errors import NotFoundError
from ltx.replica import Replica
from ltx.replica import open as open_replica
from ltx.storage import RetryPolicy

__all__ = ["COMMANDS"]


def _open(args: argparse.Namespace, out: Output) -> Replica:
    def on_retry(what: str, attempt: int, err: BaseException) -> None:
        out.note(f"ltx: retrying {what} (attempt {attempt + 1}): {err}")

    retry = RetryPolicy(deadline=args.timeout, on_retry=on_retry)
    return open_replica(args.url, retry=retry)


def _listed(replica: Replica) -> None:
    """Raise NotFoundError saying what was looked for when the replica has no files."""
    if not replica.files() and replica.legacy() is None:
        raise NotFoundError(replica.store.explain_empty())


def _target(args: argparse.Namespace) -> dict[str, Any]:
    return {"txid": args.txid, "timestamp": args.timestamp}


def cmd_ls(args: argparse.Namespace, out: Output) -> int:
    replica = _open(args, out)
    _listed(replica)
    files = replica.files(exact_times=args.exact_times)
    objects = replica.source.legacy_objects() if args.level is None else []
    rows = [
        {
            "level": "0.3",
            "min_txid": o.generation,
            "max_txid": f"{o.kind} {o.index:08x}" + (f"_{o.offset:08x}" if o.kind == "wal" else ""),
            "size": o.size,
            "created": o.created_at.isoformat(),
        }
        for o in objects
    ] + [
        {
            "level": f.level,
            "min_txid": format_txid(f.min_txid),
            "max_txid": format_txid(f.max_txid),
            "size": f.size,
            "created": f.created_at.isoformat(),
        }
        for f in files
        if args.level is None or f.level == args.level
    ]
    cols = [("level", "level", 6), ("min_txid", "min_txid", 17), ("max_txid", "max_txid", 17)]
    out.rows(rows, [*cols, ("size", "size", -10), ("created", " created", 0)])
    return 0


def cmd_history(args: argparse.Namespace, out: Output) -> int:
    replica = _open(args, out)
    _listed(replica)
    rows = [
        {"txid": format_txid(p.txid), "created": p.created_at.isoformat()}
        for p in replica.history()
    ]
    out.rows(rows, [("txid", "txid", 17), ("created", "created", 0)])
    return 0


def cmd_restore(args: argparse.Namespace, out: Output) -> int:
    replica = _open(args, out)
    _listed(replica)
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


def cmd_page(args: argparse.Namespace, out: Output) -> int:
    replica = _open(args, out)
    _listed(replica)
    data = replica.page_at(args.pgno, **_target(args))
    if args.output:
        Path(args.output).write_bytes(data)
        out.record({"pgno": args.pgno, "output": args.output}, f"wrote {args.output}")
    elif args.raw:
        out.stdout.flush()
        out.stdout.buffer.write(data)
    elif out.json_mode:
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
    if out.json_mode:
        out.record({"steps": [r["step"] for r in rows], "dry_run": args.dry_run}, "")
    else:
        for r in rows:
            out.line(r["step"])
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
