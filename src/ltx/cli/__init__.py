"""The ``ltx`` command: parsing (``_parser``), commands that call the library
(``_commands``) and one output layer for text or JSON (``_output``)."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence

from ltx.cli._commands import COMMANDS
from ltx.cli._fleet import FLEET
from ltx.cli._output import Output
from ltx.cli._parser import build_parser
from ltx.cli._tools import TOOLS
from ltx.errors import LTXError

__all__ = ["main", "build_parser"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ltx")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; an error prints one line to stderr (``--debug``: the traceback)."""
    parser = build_parser(_version())
    args = parser.parse_args(argv)
    out = Output(json_mode=getattr(args, "json", False))
    try:
        return int({**COMMANDS, **TOOLS, **FLEET}[args.command](args, out))
    except BrokenPipeError:
        # The reader went away (``ltx ls ... | head``): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (LTXError, OSError) as exc:
        if args.debug:
            traceback.print_exc()
        out.note(f"ltx {args.command}: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
