"""Reading Litestream 0.3 replicas (``generations/...``): sans-I/O, as 0.3.13 restores them.

The caller lists the store and parses each key with ``parse_object_path`` (creation
times come from the backend), then asks for a plan (``plan_latest``, ``plan_at``,
``plan_for_position``, or the points in ``history``) and turns it into a ``PageMap``
with ``build_page_map``, passing ``open_object(obj) -> bytes | file | chunk iterator``.
Pages are then read lazily (``read_page``) or all at once (``iter_pages``,
``write_database``, ``database_bytes``). Nothing here touches storage, clocks or the
environment.
"""

from __future__ import annotations

from ._apply import (
    PageMap,
    PageSource,
    build_page_map,
    database_bytes,
    iter_pages,
    read_page,
    write_database,
)
from ._lz4 import ByteSource, LZ4FrameReader, RawReader, open_reader
from ._names import (
    LegacyObject,
    datetime_to_ns,
    format_snapshot_name,
    format_time_ns,
    format_wal_name,
    is_generation_name,
    ns_to_datetime,
    parse_object_path,
)
from ._plan import (
    LegacyPlan,
    LegacyPoint,
    history,
    make_position,
    plan_at,
    plan_for_position,
    plan_latest,
    split_position,
)
from ._wal import (
    FrameHeader,
    WALFrame,
    WALHeader,
    iter_frames,
    iter_transactions,
    wal_checksum,
)

__all__ = [
    "ByteSource",
    "FrameHeader",
    "LZ4FrameReader",
    "LegacyObject",
    "LegacyPlan",
    "LegacyPoint",
    "PageMap",
    "PageSource",
    "RawReader",
    "WALFrame",
    "WALHeader",
    "build_page_map",
    "database_bytes",
    "datetime_to_ns",
    "format_snapshot_name",
    "format_time_ns",
    "format_wal_name",
    "history",
    "is_generation_name",
    "iter_frames",
    "iter_pages",
    "iter_transactions",
    "make_position",
    "ns_to_datetime",
    "open_reader",
    "parse_object_path",
    "plan_at",
    "plan_for_position",
    "plan_latest",
    "read_page",
    "split_position",
    "wal_checksum",
    "write_database",
]
