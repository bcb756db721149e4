"""Times: RFC 3339 metadata, listing fields, epoch milliseconds and the time targets users type.

Pure: the caller passes ``now``; nothing here reads a clock or the environment.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ltx.errors import UsageError

__all__ = [
    "UTC",
    "EPOCH",
    "as_datetime",
    "format_timestamp",
    "ms_to_datetime",
    "parse_time",
    "parse_timestamp",
    "rfc3339_ns",
]

UTC = dt.timezone.utc
#: The Unix epoch, the one home of it: import this, never build another.
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


def format_timestamp(ms: int) -> str:
    """RFC 3339 with trailing fractional zeros trimmed, as Go's RFC3339Nano (UTC)."""
    t = ms_to_datetime(ms)
    frac = f"{ms % 1000:03d}".rstrip("0")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def parse_timestamp(text: str) -> dt.datetime:
    """Parse RFC 3339 (any fraction length, Z or offset) to an aware datetime (µs precision).

    Raises UsageError (a ValueError) naming the text when it is not RFC 3339.
    """
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    main, dot, rest = s.partition(".")
    if dot:
        digits = re.match(r"\d*", rest).group(0)  # type: ignore[union-attr]
        tz = rest[len(digits) :]
        s = f"{main}.{digits[:6].ljust(6, '0')}{tz}"
    try:
        out = dt.datetime.fromisoformat(s)
    except ValueError:
        raise UsageError(f"not an RFC 3339 time: {text!r}") from None
    if out.tzinfo is None:
        out = out.replace(tzinfo=UTC)
    return out.astimezone(UTC)


_RFC3339_NS = re.compile(
    r"(\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)"
)


def rfc3339_ns(text: object) -> int | None:
    """Nanoseconds since the epoch of an RFC 3339 text with a zone, every digit kept (a
    datetime holds microseconds; Litestream 0.3 object times have nanoseconds); None
    for anything else."""
    m = _RFC3339_NS.fullmatch(text.strip()) if isinstance(text, str) else None
    if m is None:
        return None
    zone = "+00:00" if m.group(3) in ("Z", "z") else m.group(3)
    try:
        whole = dt.datetime.fromisoformat(m.group(1).replace(" ", "T") + zone)
    except ValueError:
        return None
    seconds = (whole - EPOCH) // dt.timedelta(seconds=1)
    return seconds * 1_000_000_000 + int((m.group(2) or "").ljust(9, "0"))


def ms_to_datetime(ms: int) -> dt.datetime:
    """Milliseconds since the epoch as an aware UTC datetime (UsageError if unrepresentable)."""
    try:
        return EPOCH + dt.timedelta(milliseconds=ms)
    except OverflowError:
        raise UsageError(f"timestamp {ms} ms is outside the years 1..9999") from None


def as_datetime(value: Any) -> dt.datetime | None:
    """A listing field (datetime, epoch seconds or RFC 3339 text) as an aware datetime."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return dt.datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value:
        try:
            return parse_timestamp(value)
        except UsageError:
            return None
    return None


_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}  # fmt: skip
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s+ago\s*$", re.I)


def parse_time(value: object, *, now: dt.datetime) -> dt.datetime:
    """An aware UTC datetime from ``value``; UsageError naming the value if it is no time.

    Accepts a datetime (naive means UTC), an int/float of Unix milliseconds, an ISO
    8601 / RFC 3339 string, ``"now"``, ``"yesterday"`` and ``"<n> <unit> ago"``
    (seconds, minutes, hours, days, weeks), the forms the Litestream VFS accepts.
    """
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UsageError(f"cannot read a time from {type(value).__name__} {value!r}")
    if isinstance(value, (int, float)):
        return ms_to_datetime(int(value))
    text = value.strip()
    low = text.lower()
    if low == "now":
        return now
    if low == "yesterday":
        return now - dt.timedelta(days=1)
    m = _RELATIVE.match(low)
    if m:
        unit = _UNITS.get(m.group(2))
        if unit is None:
            raise UsageError(f"unknown time unit {m.group(2)!r} in {value!r}")
        try:
            return now - dt.timedelta(seconds=float(m.group(1)) * unit)
        except OverflowError:
            raise UsageError(f"{value!r} reaches before the year 1") from None
    if re.fullmatch(r"\d{10,}", text):
        return parse_time(int(text), now=now)
    s = text.replace(" ", "T", 1) if re.match(r"\d{4}-\d\d-\d\d \d", text) else text
    try:
        return parse_timestamp(s)
    except UsageError:
        raise UsageError(
            f"cannot read a time from {value!r} (RFC 3339, Unix ms, 'now', 'yesterday' "
            "or '<n> <unit> ago')"
        ) from None
