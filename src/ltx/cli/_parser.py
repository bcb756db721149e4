"""The ``ltx`` argument parser: every command, option and argument with its help text."""

from __future__ import annotations

import argparse
import re

from ltx.cli._fleet import add_fleet_parser

__all__ = ["build_parser", "parse_txid_arg"]

_URL_HELP = "replica URL (file://, s3://, gs://, webdav://, sftp://, memory://) or a folder"
_TIMEOUT = "give up on a storage call after this long, retries included (default 120)"


def parse_txid_arg(text: str) -> int:
    """A TXID as Litestream prints it (16 hex digits) or as 0x-prefixed hex (0: empty)."""
    t = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{16}", t):
        return int(t, 16)
    if re.fullmatch(r"0[xX][0-9a-fA-F]{1,16}", t):
        return int(t, 16)
    hint = ""
    if re.fullmatch(r"[0-9a-fA-F]{1,15}", t):
        hint = f"; TXIDs are 16 hex digits as listings print them: {int(t, 16):016x}"
        if t.isdigit():
            hint += f", or {int(t):016x} if you meant decimal {t}"
    raise argparse.ArgumentTypeError(f"not a TXID: {text!r}{hint}")


def _common(p: argparse.ArgumentParser, *, url: bool = True) -> None:
    if url:
        p.add_argument("url", help=_URL_HELP)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help=_TIMEOUT,
    )


def _add_target(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--txid", type=parse_txid_arg, help="TXID: 16 hex digits (as listed) or 0x-prefixed hex"
    )
    g.add_argument(
        "--timestamp",
        help="RFC 3339 time, Unix milliseconds, 'now', 'yesterday' or '<n> <unit> ago'",
    )


def _read_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ls = sub.add_parser("ls", help="list the LTX files of a replica")
    _common(ls)
    ls.add_argument("--level", type=int, choices=range(10), help="only this level (0..9)")
    ls.add_argument("--exact-times", action="store_true", help="creation times as restore uses")

    h = sub.add_parser("history", help="list the TXIDs the replica can restore exactly")
    _common(h)

    r = sub.add_parser("restore", help="restore the database at a point in time")
    _common(r)
    r.add_argument("-o", "--output", required=True, help="database file to write")
    r.add_argument(
        "--overwrite", action="store_true", help="replace OUTPUT (and remove its -wal/-shm)"
    )
    r.add_argument("--progress", action="store_true", help="show progress even when not a TTY")
    _add_target(r)

    pg = sub.add_parser("page", help="print one page as of a point in time")
    _common(pg)
    pg.add_argument("pgno", type=int, help="page number (1 is the first page)")
    pg.add_argument("--raw", action="store_true", help="write the raw page to stdout")
    pg.add_argument("-o", "--output", help="write the raw page to a file")
    _add_target(pg)


def _write_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser("demo", help="build a small local replica and read it back in time")
    _common(d, url=False)
    d.add_argument("--dir", default="demo-replica", help="where (default ./demo-replica)")
    d.add_argument("--force", action="store_true", help="rebuild a non-empty directory")

    c = sub.add_parser("compact", help="run Litestream's compaction and retention policy")
    _common(c)
    c.add_argument("--dry-run", action="store_true", help="print the steps only")
    c.add_argument("--now", help="plan as if it were this time")
    c.add_argument("--progress", action="store_true", help="show progress even when not a TTY")

    s = sub.add_parser("snapshot", help="write a level-9 snapshot")
    _common(s)
    s.add_argument("--db", help="SQLite file at the replica's position (default: the replica)")


def _tool_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    v = sub.add_parser("verify", help="check that replicas are really restorable")
    v.add_argument("urls", nargs="+", metavar="url", help=_URL_HELP + "; a prefix of many")
    v.add_argument("--json", action="store_true", help="print JSON instead of text")
    v.add_argument("--deep", action="store_true", help="also rebuild points, integrity_check")
    v.add_argument("--progress", action="store_true", help="show progress even when not a TTY")
    v.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS", help=_TIMEOUT)

    c = sub.add_parser("convert", help="rewrite a Litestream 0.3 replica as LTX files")
    c.add_argument("src", help="the 0.3 replica (or a mixed one): " + _URL_HELP)
    c.add_argument("dst", help="where to write the LTX replica: " + _URL_HELP)
    c.add_argument("--dry-run", action="store_true", help="print the plan only")
    c.add_argument("--json", action="store_true", help="print JSON instead of text")
    c.add_argument("--progress", action="store_true", help="show progress even when not a TTY")
    c.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS", help=_TIMEOUT)

    q = sub.add_parser("sql", help="run SQL against the database at a point in time")
    _common(q)
    q.add_argument("sql", nargs="?", help="one statement (without it: an interactive shell)")
    q.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="how to print rows"
    )
    _add_target(q)


def _change_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fmt = "text, or JSON lines (default: text; with --json: json)"
    tables = "only rows of table T (repeatable)"
    df = sub.add_parser("diff", help="what changed between two points: pages, rows, schema")
    _common(df)
    df.add_argument(
        "from_txid",
        metavar="FROM",
        type=parse_txid_arg,
        help="TXID of the earlier point (0000000000000000: the empty database)",
    )
    df.add_argument("to_txid", metavar="TO", type=parse_txid_arg, help="TXID of the later point")
    df.add_argument("--pages", action="store_true", help="list the page numbers that differ")
    df.add_argument("--table", action="append", metavar="T", help=tables)
    df.add_argument("--format", choices=("text", "json"), help=fmt)
    ch = sub.add_parser("changes", help="row changes of each restorable point, as a feed")
    _common(ch)
    ch.add_argument(
        "--since", type=parse_txid_arg, help="start after this TXID (default: the empty database)"
    )
    ch.add_argument("--follow", action="store_true", help="keep polling for new transactions")
    ch.add_argument(
        "--poll", type=float, default=1.0, metavar="SECONDS", help="poll interval (default 1)"
    )
    ch.add_argument("--table", action="append", metavar="T", help=tables)
    ch.add_argument("--format", choices=("text", "json"), help=fmt)


def build_parser(version: str = "") -> argparse.ArgumentParser:
    """The argument parser of the ``ltx`` command."""
    p = argparse.ArgumentParser(prog="ltx", description="LTX files and Litestream replicas")
    p.add_argument("--version", action="version", version=f"ltx {version}")
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _write_commands(sub)
    _read_commands(sub)
    _tool_commands(sub)
    _change_commands(sub)
    add_fleet_parser(sub)
    return p
