"""Reading Litestream 0.3 replicas (``generations/...``): sans-I/O, as 0.3.13 restores them.

The caller lists the store and parses each key with ``parse_object_path`` (creation
times come from the backend), then asks for a plan (``plan_latest``, ``plan_at``,
``plan_for_position``, or the points in ``history``) and turns it into a ``PageMap``
with ``build_page_map``, passing ``open_object(obj) -> bytes | file | chunk iterator``.
Pages are then read lazily (``read_page``) or all at once (``iter_pages``,
``write_database``, ``database_bytes``). Nothing here touches storage, clocks or the
environment.

Over a Store (any scheme), imported on first use so that ``import ltx.legacy`` stays
free of fsspec: ``LegacySource`` (history, page maps, lazy pages, restores, as 0.3.13
restores), ``MixedSource``/``choose_side`` (a root with both ``generations/`` and LTX
files, as 0.5.17 reads it) and ``convert`` (0.3 -> LTX files). Encrypted 0.3 replicas
(age) open with ``age_identity=``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._age import AGE_MAGIC, AgeDecryptor, is_encrypted, parse_identities
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
    PointCut,
    history,
    make_position,
    plan_at,
    plan_for_position,
    plan_latest,
    point_cuts,
    split_position,
)
from ._plan05 import best_snapshot_v05, plan_v05, seen_by_v05, time_bounds_v05
from ._replay import Replay, Step
from ._wal import (
    FrameHeader,
    WALCursor,
    WALFrame,
    WALHeader,
    iter_frames,
    iter_transactions,
    wal_checksum,
)

if TYPE_CHECKING:
    from .convert import ConvertReport, ConvertStep, convert, plan_convert
    from .mixed import LTXSide, MixedPoint, MixedSource, Side, choose_side, mixed_time_bounds
    from .source import LegacyPageMap, LegacyRestorePoint, LegacySource, legacy_txid, split_txid

_LAZY = {
    **dict.fromkeys(["ConvertReport", "ConvertStep", "convert", "plan_convert"], "convert"),
    **dict.fromkeys(
        ["LTXSide", "MixedPoint", "MixedSource", "Side", "choose_side", "mixed_time_bounds"],
        "mixed",
    ),
    **dict.fromkeys(
        ["LegacyPageMap", "LegacyRestorePoint", "LegacySource", "legacy_txid", "split_txid"],
        "source",
    ),
}

__all__ = [
    "AGE_MAGIC",
    "AgeDecryptor",
    "ConvertReport",
    "ConvertStep",
    "LTXSide",
    "LegacyPageMap",
    "LegacyRestorePoint",
    "LegacySource",
    "MixedPoint",
    "MixedSource",
    "PointCut",
    "Replay",
    "Side",
    "Step",
    "WALCursor",
    "best_snapshot_v05",
    "choose_side",
    "convert",
    "is_encrypted",
    "legacy_txid",
    "mixed_time_bounds",
    "parse_identities",
    "plan_convert",
    "plan_v05",
    "point_cuts",
    "seen_by_v05",
    "split_txid",
    "time_bounds_v05",
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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ltx.legacy' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
