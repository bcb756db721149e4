"""The CLI's time targets, one rule for every command (docs/concepts.md, "Time targets"):
a time names the newest point whose files were all made strictly before it; ``now`` and
any time not yet reached mean the latest point; a date-time without a zone is refused
unless ``--local`` says it is in the local zone."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from typing import Any

from ltx.errors import UsageError
from ltx.times import UTC, parse_time

__all__ = ["point", "target"]

_ZONELESS = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(:\d\d(\.\d+)?)?")


def _zoned(text: str, local: bool) -> str:
    """``text`` with a zone: refused without one unless ``local`` (then the local zone)."""
    if not _ZONELESS.fullmatch(text.strip()):
        return text
    if not local:
        raise UsageError(
            f"time {text!r} has no zone: add Z for UTC or an offset such as +02:00, "
            "or pass --local to read it in this machine's zone"
        )
    naive = dt.datetime.fromisoformat(text.strip().replace(" ", "T").replace("t", "T"))
    return naive.astimezone().isoformat()


def target(args: argparse.Namespace) -> dict[str, Any]:
    """``txid=`` and ``timestamp=`` keywords for the library from ``--txid``/``--timestamp``."""
    when = getattr(args, "timestamp", None)
    if when is None:
        return {"txid": getattr(args, "txid", None), "timestamp": None}
    when = _zoned(when, getattr(args, "local", False))
    now = dt.datetime.now(UTC)
    if parse_time(when, now=now) >= now:
        return {"txid": None, "timestamp": None}  # now, or not yet: the latest point
    return {"txid": None, "timestamp": when}


def point(replica: Any, value: int | str, local: bool) -> int:
    """A diff or feed point: a TXID as it is, a time as the TXID it names (the rule)."""
    if isinstance(value, int):
        return value
    when = target(argparse.Namespace(timestamp=value, local=local))
    return int(replica.page_map(**when).txid)
