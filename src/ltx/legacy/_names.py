"""Names of Litestream 0.3 replica objects, and the value a listing gives for each.

Layout (0.3.5 to 0.3.13; the same on file:// and object stores)::

    generations/<16 hex>/snapshots/<index %08x>.snapshot.lz4
    generations/<16 hex>/wal/<index %08x>_<offset %08x>.wal.lz4

0.3.0 to 0.3.4 also wrote ``<index>.snapshot`` / ``<index>_<offset>.wal`` without LZ4
and a whole WAL per index as ``<index>.wal`` (appended to while live) or
``<index>.wal.lz4``; those read as raw or LZ4 data at offset 0. 0.3.13 itself reads
only the two ``.lz4`` forms with exactly 8 hex digits of offset, so it skips segments
past 4 GiB (``%08x`` widens there); we read offsets of 8 to 16 digits.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

import attrs

from ltx.errors import UsageError
from ltx.times import EPOCH, UTC

__all__ = [
    "GENERATION_NAME_LEN",
    "LegacyObject",
    "datetime_to_ns",
    "format_snapshot_name",
    "format_time_ns",
    "format_wal_name",
    "is_generation_name",
    "ns_to_datetime",
    "parse_object_path",
]

GENERATION_NAME_LEN = 16
Kind = Literal["snapshot", "wal"]
_HEX = frozenset("0123456789abcdef")

_SNAPSHOT = re.compile(r"^([0-9a-f]{8})\.snapshot(\.lz4)?$")
_SEGMENT = re.compile(r"^([0-9a-f]{8})_([0-9a-f]{8,16})\.wal(\.lz4)?$")
_WHOLE_WAL = re.compile(r"^([0-9a-f]{8})\.wal(\.lz4)?$")


def datetime_to_ns(when: dt.datetime) -> int:
    """Nanoseconds since the Unix epoch, exactly (a naive datetime means UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return ((when - EPOCH) // dt.timedelta(microseconds=1)) * 1000


def ns_to_datetime(ns: int) -> dt.datetime:
    """An aware UTC datetime for ``ns`` (truncated to microseconds)."""
    return EPOCH + dt.timedelta(microseconds=ns // 1000)


def format_time_ns(ns: int) -> str:
    """RFC 3339 with nanoseconds, the form 0.3.13's ``-timestamp`` parses exactly."""
    secs, frac = divmod(ns, 1_000_000_000)
    return f"{(EPOCH + dt.timedelta(seconds=secs)).strftime('%Y-%m-%dT%H:%M:%S')}.{frac:09d}Z"


def is_generation_name(name: str) -> bool:
    """Exactly 16 lowercase hex digits, as 0.3.13's ``IsGenerationName`` (others are skipped)."""
    return len(name) == GENERATION_NAME_LEN and all(ch in _HEX for ch in name)


def format_snapshot_name(index: int) -> str:
    """``<index %08x>.snapshot.lz4``, the name 0.3.5+ writes."""
    if index < 0:
        raise UsageError(f"snapshot index must be non-negative: {index}")
    return f"{index:08x}.snapshot.lz4"


def format_wal_name(index: int, offset: int) -> str:
    """``<index %08x>_<offset %08x>.wal.lz4``, the name 0.3.5+ writes (wider past 4 GiB)."""
    if index < 0 or offset < 0:
        raise UsageError(f"WAL index and offset must be non-negative: {index}, {offset}")
    return f"{index:08x}_{offset:08x}.wal.lz4"


@attrs.frozen
class LegacyObject:
    """One snapshot or WAL segment of a 0.3 replica, as a store listing describes it.

    ``offset`` is the byte offset of the segment in its index's WAL (0 for snapshots);
    ``size`` is the stored (usually compressed) size. 0.3 objects carry no timestamp:
    ``created_at`` is the backend's (file mtime, S3 LastModified ...). ``created_ns``
    keeps a nanosecond time when the backend has one (file mtimes), so comparisons with
    a restore time tie-break exactly as 0.3.13's do.
    """

    path: str
    generation: str
    kind: Kind
    index: int
    offset: int
    size: int
    created_at: dt.datetime
    compressed: bool = True
    created_ns: int | None = None

    @property
    def time_ns(self) -> int:
        """Creation time in nanoseconds since the epoch (exact when ``created_ns`` is set)."""
        return self.created_ns if self.created_ns is not None else datetime_to_ns(self.created_at)

    @property
    def name(self) -> str:
        """The base name of the object."""
        return self.path.rsplit("/", 1)[-1]


def _parse_name(kind: str, name: str) -> tuple[int, int, bool] | None:
    """(index, offset, compressed) of a base name in a ``snapshots``/``wal`` folder."""
    if kind == "snapshots":
        m = _SNAPSHOT.match(name)
        return None if m is None else (int(m.group(1), 16), 0, m.group(2) is not None)
    m = _SEGMENT.match(name)
    if m is not None:
        return int(m.group(1), 16), int(m.group(2), 16), m.group(3) is not None
    m = _WHOLE_WAL.match(name)
    return None if m is None else (int(m.group(1), 16), 0, m.group(2) is not None)


def parse_object_path(
    path: str,
    *,
    size: int,
    created_at: dt.datetime,
    created_ns: int | None = None,
) -> LegacyObject | None:
    """The object at ``.../generations/<gen>/{snapshots,wal}/<name>``, or None to skip it.

    Skipped, as 0.3.13 skips them: generation folders that are not 16 lowercase hex
    digits, and names that do not parse (``.tmp`` files of an upload in progress ...).
    """
    parts = path.replace("\\", "/").split("/")
    if len(parts) < 4 or parts[-4] != "generations" or parts[-2] not in ("snapshots", "wal"):
        return None
    generation = parts[-3]
    if not is_generation_name(generation):
        return None
    parsed = _parse_name(parts[-2], parts[-1])
    if parsed is None:
        return None
    index, offset, compressed = parsed
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    return LegacyObject(
        path=path,
        generation=generation,
        kind="snapshot" if parts[-2] == "snapshots" else "wal",
        index=index,
        offset=offset,
        size=size,
        created_at=created_at,
        compressed=compressed,
        created_ns=created_ns,
    )
