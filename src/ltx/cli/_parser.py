"""The ``ltx`` argument parser: every command, option and argument with its help text."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence

from ltx.cli._fleet import add_fleet_parser
from ltx.cli._output import FORMATS
from ltx.cli._replicate import add_replicate

__all__ = ["ArgsError", "build_parser", "parse_args", "parse_txid_arg", "point_arg", "wants_json"]

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
        if t.isdigit() and int(t) != int(t, 16):
            hint += f", or {int(t):016x} if you meant decimal {t}"
    raise argparse.ArgumentTypeError(f"not a TXID: {text!r}{hint}")


def point_arg(text: str) -> int | str:
    """A TXID (as ``parse_txid_arg``), or else the text of a time, resolved once the
    replica is open."""
    try:
        return parse_txid_arg(text)
    except argparse.ArgumentTypeError:
        if re.fullmatch(r"0[xX].*|[0-9a-fA-F]{1,9}", text.strip()):
            raise  # short hex or digits: a TXID mistyped (Unix ms have 10 digits or more)
        return text


def _seconds(text: str) -> float:
    """A positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


class ArgsError(Exception):
    """The command line is wrong (exit 2): ``message`` and the command's ``usage``."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    """Raises ArgsError instead of printing, so that ``main`` can print it as the output
    format asks (one line, or a JSON object)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ArgsError(f"{self.prog}: error: {message}", self.format_usage())


def _outputs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=FORMATS,
        help="table (default), csv, json or jsonl (one JSON object per line)",
    )
    p.add_argument(
        "--json",
        dest="format",
        action="store_const",
        const="json",
        help="print JSON (short for --format json)",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")


def _common(p: argparse.ArgumentParser, *, url: bool = True) -> None:
    if url:
        p.add_argument("url", help=_URL_HELP + "; with --config, a database path")
        p.add_argument(
            "-config",
            "--config",
            metavar="PATH",
            help="litestream.yml: read URL as a database path and use its replica",
        )
        p.add_argument(
            "-no-expand-env",
            "--no-expand-env",
            action="store_true",
            help="do not expand $VAR in the config file",
        )
    _outputs(p)
    p.add_argument("--timeout", type=_seconds, default=120.0, metavar="SECONDS", help=_TIMEOUT)


def _add_target(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--txid", type=parse_txid_arg, help="TXID: 16 hex digits (as listed) or 0x-prefixed hex"
    )
    g.add_argument(
        "--timestamp",
        help="the newest point made strictly before this time: RFC 3339 with a zone, Unix "
        "milliseconds, '<n> <unit> ago', 'yesterday'; 'now' or a time to come: the latest",
    )
    p.add_argument(
        "--local", action="store_true", help="read a --timestamp without a zone as local"
    )


def _read_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    ls = sub.add_parser("ls", help="list the LTX files of a replica")
    _common(ls)
    ls.add_argument("--level", type=int, choices=range(10), help="only this level (0..9)")
    ls.add_argument("--exact-times", action="store_true", help="creation times as restore uses")

    h = sub.add_parser("history", help="list the TXIDs the replica can restore exactly")
    _common(h)
    h.add_argument("--exact-times", action="store_true", help="(the default; kept for scripts)")

    r = sub.add_parser("restore", help="restore the database at a point in time")
    _common(r)
    r.add_argument("-o", "--output", required=True, help="database file to write ('-': stdout)")
    r.add_argument(
        "--if-db-not-exists", action="store_true", help="do nothing (exit 0) if OUTPUT exists"
    )
    r.add_argument(
        "--if-replica-exists", action="store_true", help="do nothing (exit 0) if no replica"
    )
    r.add_argument(
        "--dry-run", action="store_true", help="print the plan (files, bytes, reads) only"
    )
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
    pg.add_argument(
        "--verify",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="read the page's LTX file whole once to check its checksum first (default: on)",
    )
    _add_target(pg)


def _write_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
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


def _tool_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    v = sub.add_parser("verify", help="check that replicas are really restorable")
    v.add_argument("urls", nargs="+", metavar="url", help=_URL_HELP + "; a prefix of many")
    _common(v, url=False)
    v.add_argument("--deep", action="store_true", help="also rebuild points, integrity_check")
    v.add_argument("--progress", action="store_true", help="show progress even when not a TTY")

    c = sub.add_parser("convert", help="rewrite a Litestream 0.3 replica as LTX files")
    c.add_argument("src", help="the 0.3 replica (or a mixed one): " + _URL_HELP)
    c.add_argument("dst", help="where to write the LTX replica: " + _URL_HELP)
    c.add_argument("--dry-run", action="store_true", help="print the plan only")
    c.add_argument("--progress", action="store_true", help="show progress even when not a TTY")
    _common(c, url=False)

    q = sub.add_parser("sql", help="run SQL against the database at a point in time")
    _common(q)
    q.add_argument(
        "sql", nargs="?", help="statements, run in order (without: an interactive shell)"
    )
    q.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="bind :NAME (integers and reals as numbers, anything else as text; repeatable)",
    )
    q.add_argument(
        "--verify",
        action="store_true",
        help="check each LTX file's whole checksum before serving any of its pages",
    )
    _add_target(q)


def _change_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    tables = "only rows of table T (repeatable)"
    df = sub.add_parser("diff", help="what changed between two points: pages, rows, schema")
    _common(df)
    point = "a TXID (16 hex digits or 0x-prefixed) or a time (as --timestamp takes)"
    df.add_argument(
        "from_txid",
        metavar="FROM",
        type=point_arg,
        help=f"the earlier point: {point}; 0000000000000000 is the empty database",
    )
    df.add_argument("to_txid", metavar="TO", type=point_arg, help=f"the later point: {point}")
    df.add_argument("--pages", action="store_true", help="list the page numbers that differ")
    df.add_argument("--table", action="append", metavar="T", help=tables)
    df.add_argument("--local", action="store_true", help="read times without a zone as local")
    ch = sub.add_parser("changes", help="row changes of each restorable point, as a feed")
    _common(ch)
    ch.add_argument(
        "--since",
        type=point_arg,
        help=f"start after this point: {point} (default: the empty database)",
    )
    ch.add_argument("--local", action="store_true", help="read times without a zone as local")
    ch.add_argument("--follow", action="store_true", help="keep polling for new transactions")
    ch.add_argument(
        "--poll", type=float, default=1.0, metavar="SECONDS", help="poll interval (default 1)"
    )
    ch.add_argument("--table", action="append", metavar="T", help=tables)


def build_parser(version: str = "") -> argparse.ArgumentParser:
    """The argument parser of the ``ltx`` command."""
    p = _Parser(prog="ltx", description="LTX files and Litestream replicas")
    p.add_argument("--version", action="version", version=f"ltx {version}")
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    _write_commands(sub)
    _read_commands(sub)
    _tool_commands(sub)
    _change_commands(sub)
    add_fleet_parser(sub)
    add_replicate(sub, _common)
    return p


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """The command line, options allowed anywhere among a command's positionals (and
    ``--debug`` before or after the command); ArgsError when it is wrong."""
    argv = list(argv)
    commands = _commands(parser)
    at = next((i for i, a in enumerate(argv) if a in commands), None)
    if at is None or any(a != "--debug" for a in argv[:at]):
        return parser.parse_args(argv)
    name = argv[at]
    args = commands[name].parse_intermixed_args(argv[at + 1 :])
    args.command = name
    args.debug = args.debug or "--debug" in argv[:at]
    return args


def wants_json(argv: Sequence[str]) -> bool:
    """Whether the command line asks for JSON (for errors found while parsing it)."""
    argv = list(argv)
    pairs = zip(argv, [*argv[1:], ""], strict=True)
    return "--json" in argv or any(
        (a == "--format" and b in ("json", "jsonl")) or a in ("--format=json", "--format=jsonl")
        for a, b in pairs
    )
