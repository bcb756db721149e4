"""mkdocs hook: the CLI reference is generated from the argument parser at build time."""

from __future__ import annotations

from typing import Any

MARKER = "<!-- cli-reference -->"


def cli_reference() -> str:
    """Markdown for every ``ltx`` command: its help, as argparse prints it."""
    import argparse

    from ltx.cli import build_parser

    parser = build_parser()
    parts = ["```text", parser.format_help().rstrip(), "```"]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, cmd in sub.choices.items():
        parts += [f"## ltx {name}", "", "```text", cmd.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Fill the marker on the CLI page."""
    return markdown.replace(MARKER, cli_reference()) if MARKER in markdown else markdown
