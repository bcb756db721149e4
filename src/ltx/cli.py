"""The ``ltx`` command: parsing and printing only; the work is done by ltx.replica."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ltx.codec import format_txid, parse_txid
from ltx.errors import LTXError

__all__ = ["main"]


class Progress:
    """A one-line progress bar on a terminal stream; silent when not a TTY unless forced."""

    def __init__(self, label: str, stream: TextIO = sys.stderr, *, force: bool = False) -> None:
        self.label = label
        self.stream = stream
        self.enabled = force or stream.isatty()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.enabled or (done < total and now - self._last < 0.1):
            return
        self._last = now
        frac = done / total if total else 1.0
        bar = "#" * int(frac * 30)
        self.stream.write(f"\r{self.label} [{bar:<30}] {frac:6.1%} {done}/{total} pages")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _txid(text: str) -> int:
    try:
        return parse_txid(text) if len(text) == 16 else int(text, 0)
    except (LTXError, ValueError):
        raise argparse.ArgumentTypeError(f"not a TXID: {text!r}") from None


def _target(args: argparse.Namespace) -> dict[str, Any]:
    return {"txid": args.txid, "timestamp": args.timestamp}


def _add_target(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--txid", type=_txid, help="TXID (16 hex digits, or 0x.. / decimal)")
    g.add_argument("--timestamp", help="RFC 3339 time, Unix ms, '5 minutes ago' or 'yesterday'")


def cmd_ls(args: argparse.Namespace) -> int:
    import ltx

    replica = ltx.open(args.url)
    files = replica.files(exact_times=args.exact_times)
    if args.level is not None:
        files = [f for f in files if f.level == args.level]
    if args.json:
        rows = [
            {
                "level": f.level,
                "min_txid": format_txid(f.min_txid),
                "max_txid": format_txid(f.max_txid),
                "size": f.size,
                "created": f.created_at.isoformat(),
            }
            for f in files
        ]
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'level':<6} {'min_txid':<17} {'max_txid':<17} {'size':>10}  created")
    for f in files:
        print(
            f"{f.level:<6} {format_txid(f.min_txid):<17} {format_txid(f.max_txid):<17} "
            f"{f.size:>10}  {f.created_at.isoformat()}"
        )
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    import ltx

    for point in ltx.open(args.url).history():
        print(f"{format_txid(point.txid)}  {point.created_at.isoformat()}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    import ltx

    replica = ltx.open(args.url)
    t0 = time.monotonic()
    view = replica.restore(
        args.output,
        overwrite=args.overwrite,
        progress=Progress("restoring", force=args.progress),
        **_target(args),
    )
    print(
        f"restored {args.output}: txid {format_txid(view.txid)}, {view.page_count} pages of "
        f"{view.page_size} bytes in {time.monotonic() - t0:.2f} s"
    )
    return 0


def cmd_page(args: argparse.Namespace) -> int:
    import ltx

    data = ltx.open(args.url).page_at(args.pgno, **_target(args))
    if args.output:
        Path(args.output).write_bytes(data)
    elif args.raw:
        sys.stdout.buffer.write(data)
    else:
        for i in range(0, len(data), 16):
            row = data[i : i + 16]
            text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
            print(f"{i:08x}  {row[:8].hex(' ')}  {row[8:].hex(' ')}  |{text}|")
    return 0


def _count_rows(db: Path) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT count(*) FROM notes").fetchone()[0])
    finally:
        con.close()


def cmd_demo(args: argparse.Namespace) -> int:
    """Build a small local replica with several TXIDs and read it at two points in time."""
    import ltx
    from ltx.dbfile import image_pages

    target = Path(args.dir).resolve()
    if target.exists() and any(target.iterdir()):
        if not args.force:
            print(f"{target} is not empty; pass --force to rebuild it", file=sys.stderr)
            return 2
        import shutil

        shutil.rmtree(target)
    url = target.as_uri()
    replica = ltx.open(url)
    ps = 4096
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "notes.db"
        con = sqlite3.connect(db, isolation_level=None)
        con.execute(f"PRAGMA page_size={ps}")
        con.execute("PRAGMA journal_mode=DELETE")
        con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        prev: dict[int, bytes] = {}
        base = int(time.time() * 1000) - 60_000
        for step in range(6):
            if step:
                con.execute("BEGIN")
                for i in range(25):
                    con.execute("INSERT INTO notes (body) VALUES (?)", (f"note {step}.{i} " * 8,))
                con.execute("COMMIT")
            image = db.read_bytes()
            cur = image_pages(image, ps)
            changed = {p: d for p, d in cur.items() if prev.get(p) != d}
            info = replica.append(changed, len(cur), timestamp=base + step * 5000)
            print(
                f"txid {format_txid(info.max_txid)}: wrote {len(changed)} pages "
                f"({info.size} bytes) -> {info.path}"
            )
            prev = cur
        con.close()
        replica.write_snapshot(db)
    history = replica.history()
    print(f"\nreplica {url}: {len(replica.refresh())} files, TXIDs {len(history)} restorable")
    with tempfile.TemporaryDirectory() as tmp:
        for txid in (history[2].txid, history[-1].txid):
            page1 = replica.page_at(1, txid)
            out = Path(tmp) / f"at-{txid}.db"
            replica.restore(out, txid)
            print(
                f"as of txid {format_txid(txid)}: page 1 starts {page1[:15]!r}, "
                f"{int.from_bytes(page1[28:32], 'big')} pages, "
                f"{_count_rows(out)} rows in notes"
            )
    print(f"\ntry: ltx ls {url}   |   ltx page {url} 2 --txid 3")
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    import ltx

    replica = ltx.open(args.url)
    steps = replica.compact(
        now=args.now, dry_run=args.dry_run, progress=Progress("compacting", force=args.progress)
    )
    for step in steps:
        print(step.describe())
    if not steps:
        print("nothing to do")
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    import ltx

    replica = ltx.open(args.url)
    if args.db:
        info = replica.write_snapshot(args.db)
    else:
        info = replica.write_snapshot(replica.snapshot())
    print(f"snapshot {info.path} ({info.size} bytes)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``ltx`` command."""
    p = argparse.ArgumentParser(prog="ltx", description="LTX files and Litestream replicas")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="build a small local replica and read it back in time")
    d.add_argument("--dir", default="demo-replica", help="where (default ./demo-replica)")
    d.add_argument("--force", action="store_true", help="rebuild a non-empty directory")
    d.set_defaults(fn=cmd_demo)

    ls = sub.add_parser("ls", help="list the LTX files of a replica")
    ls.add_argument("url")
    ls.add_argument("--level", type=int)
    ls.add_argument("--exact-times", action="store_true", help="creation times as restore uses")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(fn=cmd_ls)

    h = sub.add_parser("history", help="list the TXIDs the replica can restore exactly")
    h.add_argument("url")
    h.set_defaults(fn=cmd_history)

    r = sub.add_parser("restore", help="restore the database at a point in time")
    r.add_argument("url")
    r.add_argument("-o", "--output", required=True)
    r.add_argument("--overwrite", action="store_true")
    r.add_argument("--progress", action="store_true", help="show progress even when not a TTY")
    _add_target(r)
    r.set_defaults(fn=cmd_restore)

    pg = sub.add_parser("page", help="print one page as of a point in time")
    pg.add_argument("url")
    pg.add_argument("pgno", type=int)
    pg.add_argument("--raw", action="store_true", help="write the raw page to stdout")
    pg.add_argument("-o", "--output", help="write the raw page to a file")
    _add_target(pg)
    pg.set_defaults(fn=cmd_page)

    c = sub.add_parser("compact", help="run Litestream's compaction and retention policy")
    c.add_argument("url")
    c.add_argument("--dry-run", action="store_true", help="print the steps only")
    c.add_argument("--now", help="plan as if it were this time")
    c.add_argument("--progress", action="store_true")
    c.set_defaults(fn=cmd_compact)

    s = sub.add_parser("snapshot", help="write a level-9 snapshot")
    s.add_argument("url")
    s.add_argument("--db", help="SQLite file at the replica's position (default: the replica)")
    s.set_defaults(fn=cmd_snapshot)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; errors print one line to stderr and exit 1."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except (LTXError, OSError) as exc:
        print(f"ltx {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
