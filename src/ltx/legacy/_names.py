"""Names of Litestream 0.3 replica objects, and the value a listing gives for each.

Layout (0.3.5 to 0.3.13; the same on file:// and object stores)::

    generations/<16 hex>/snapshots/<index %08x>.snapshot.lz4
    generations/<16 hex>/wal/<index %08x>_<offset %08x>.wal.lz4

Only these two forms are taken, exactly as 0.3.13 takes them (its regular expressions
want 8 hex digits of index and of offset and the ``.lz4`` suffix). Everything else in
those folders is skipped as 0.3.13 skips it: the ``<index>.snapshot`` /
``<index>_<offset>.wal`` / ``<index>.wal[.lz4]`` forms of 0.3.0 to 0.3.4, an extra
whole-index WAL beside the segments, and segment names whose offset has 9 to 16
digits (``%08x`` widens past 4 GiB, so 0.3.13 itself never reads those back): reading
any of them would restore another database than 0.3.13 restores from the same objects.
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

_SNAPSHOT = re.compile(r"^([0-9a-f]{8})\.snapshot\.lz4\Z")
_SEGMENT = re.compile(r"^([0-9a-f]{8})_([0-9a-f]{8})\.wal\.lz4\Z")


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
        return None if m is None else (int(m.group(1), 16), 0, True)
    m = _SEGMENT.match(name)
    return None if m is None else (int(m.group(1), 16), int(m.group(2), 16), True)


def parse_object_path(
    path: str,
    *,
    size: int,
    created_at: dt.datetime,
    created_ns: int | None = None,
) -> LegacyObject | None:
    """The object at ``.../generations/<gen>/{snapshots,wal}/<name>``, or None to skip it.

    Skipped, as 0.3.13 skips them: generation folders that are not 16 lowercase hex
    digits, and names that do not parse (``.tmp`` files of an upload in progress, the
    0.3.0-0.3.4 forms, whole-index WALs, offsets wider than 8 digits ...).
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
