"""The one place that formats and parses LTX file names and TXID hex strings."""

from __future__ import annotations

import re

from ltx.errors import FormatError, UsageError

__all__ = ["check_txid", "format_txid", "parse_txid", "format_filename", "parse_filename"]

_FILENAME = re.compile(r"^([0-9a-f]{16})-([0-9a-f]{16})\.ltx$")
_HEX16 = re.compile(r"^[0-9a-fA-F]{16}$")


def format_txid(txid: int) -> str:
    """16 lowercase hex digits, as Go's ``TXID.String``."""
    if not 0 <= txid < 1 << 64:
        raise UsageError(f"TXID out of range: {txid}")
    return f"{txid:016x}"


def check_txid(value: object, name: str = "txid") -> int:
    """``value`` when it is a TXID: an int (not a bool, float or text) in 0..2**64-1; else
    UsageError saying how to write one (a listed hex string goes through ``int(s, 16)``)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 64:
        return value
    hint = ""
    if isinstance(value, str) and _HEX16.match(value.strip()):
        hint = f" (as listed: pass int({value!r}, 16) = {int(value, 16)})"
    elif isinstance(value, float) and value.is_integer():
        hint = f" (pass {int(value)})"
    raise UsageError(f"{name} must be an int in 0..2**64-1, got {value!r}{hint}")


def parse_txid(text: str) -> int:
    """Parse exactly 16 hex digits (either case), as Go's ``ParseTXID``."""
    if len(text) != 16:
        raise FormatError(f"invalid formatted transaction id length: {text!r}")
    if not _HEX16.match(text):
        raise FormatError(f"invalid transaction id format: {text!r}")
    return int(text, 16)


def format_filename(min_txid: int, max_txid: int) -> str:
    """``<min>-<max>.ltx`` with 16 lowercase hex digits each."""
    return f"{format_txid(min_txid)}-{format_txid(max_txid)}.ltx"


def parse_filename(name: str) -> tuple[int, int]:
    """Return (min_txid, max_txid) of a base name; lowercase only, like Go's regex."""
    m = _FILENAME.fullmatch(name)
    if m is None:
        raise FormatError(f"invalid ltx filename: {name!r}")
    lo, hi = int(m.group(1), 16), int(m.group(2), 16)
    if lo == 0 or lo > hi:
        raise FormatError(f"invalid ltx filename (TXIDs out of order): {name!r}")
    return lo, hi
