"""Time targets: datetimes, RFC 3339 strings, Unix milliseconds and relative phrases."""

from __future__ import annotations

import datetime as dt
import re

from ltx.storage import parse_timestamp

__all__ = ["parse_time"]

UTC = dt.timezone.utc
_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}  # fmt: skip
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s+ago\s*$", re.I)


def parse_time(value: object, *, now: dt.datetime) -> dt.datetime:
    """An aware UTC datetime from ``value``.

    Accepts a datetime (naive means UTC), an int/float of Unix milliseconds, an ISO
    8601 / RFC 3339 string, ``"now"``, ``"yesterday"`` and ``"<n> <unit> ago"``
    (seconds, minutes, hours, days, weeks), the forms the Litestream VFS accepts.
    """
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, bool):
        raise TypeError("a boolean is not a time")
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(0, UTC) + dt.timedelta(milliseconds=value)
    if not isinstance(value, str):
        raise TypeError(f"cannot read a time from {type(value).__name__}")
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
            raise ValueError(f"unknown time unit in {value!r}")
        return now - dt.timedelta(seconds=float(m.group(1)) * unit)
    if re.fullmatch(r"\d{10,}", text):
        return parse_time(int(text), now=now)
    s = text.replace(" ", "T", 1) if re.match(r"\d{4}-\d\d-\d\d \d", text) else text
    try:
        return parse_timestamp(s)
    except ValueError:
        raise ValueError(f"cannot read a time from {value!r}") from None
