"""The ``ltx`` command: parsing (``_parser``), commands that call the library
(``_commands``, ``_tools``, ``_sql``) and one output layer (``_output``): tables, CSV, JSON
and JSON lines, and errors as one line or one JSON object."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Sequence

from ltx.cli._commands import COMMANDS
from ltx.cli._config import apply_config
from ltx.cli._fleet import FLEET
from ltx.cli._output import Output
from ltx.cli._parser import ArgsError, build_parser, parse_args, wants_json
from ltx.cli._replicate import cmd_replicate
from ltx.cli._sql import SQL_ERRORS, cmd_sql
from ltx.cli._tools import TOOLS
from ltx.errors import LTXError

__all__ = ["main", "build_parser"]

_HANDLED: tuple[type[BaseException], ...] = (LTXError, OSError, *SQL_ERRORS)
"""Errors that print one line (or one JSON object) with exit 1; others are bugs."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ltx")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; an error prints one line to stderr (``--debug``: the traceback), or
    one JSON object ``{"error": {"type", "message", "exit_code"}}`` under ``--json``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_version())
    try:
        args = parse_args(parser, argv)
    except ArgsError as exc:
        out = Output(fmt="json" if wants_json(argv) else "table")
        out.error("UsageError", str(exc) if out.json_mode else exc.usage + str(exc), 2)
        return 2
    out = Output(fmt=getattr(args, "format", None) or "table")
    if not args.debug:
        # Libraries' own log lines (gcsfs, aiohttp tracebacks) stay off stderr: the
        # error reaches the user once, as one line.
        logging.getLogger().addHandler(logging.NullHandler())
    try:
        apply_config(args)
        run = {**COMMANDS, **TOOLS, **FLEET, "sql": cmd_sql, "replicate": cmd_replicate}
        return int(run[args.command](args, out))
    except BrokenPipeError:
        # The reader went away (``ltx ls ... | head``): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except _HANDLED as exc:
        if args.debug:
            traceback.print_exc()
        kind = type(exc).__name__
        named = f"{kind}: {exc}" if isinstance(exc, SQL_ERRORS) else str(exc)
        out.error(kind, f"ltx {args.command}: {named}", 1)
        return 1
    except KeyboardInterrupt:
        return 130
