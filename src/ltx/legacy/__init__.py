"""Reading Litestream 0.3 replicas (``generations/...``) as 0.3.13 and 0.5.17 restore them.

Over a Store (any scheme), imported on first use so that ``import ltx.legacy`` stays
free of fsspec: ``LegacySource`` (history, page maps, lazy pages, restores, as 0.3.13
restores), ``MixedSource`` (a root with both ``generations/`` and LTX files, as 0.5.17
reads it) and ``convert`` (0.3 -> LTX files). Encrypted 0.3 replicas (age) open with
``age_identity=``. ``ltx.open`` picks the right one by itself (``Replica.source``).

The values they return are exported too. The sans-I/O machinery under them (object
names, LZ4 frames, WAL frames, plans, page replay, age) lives in the private modules
``_names``, ``_lz4``, ``_wal``, ``_plan``, ``_plan05``, ``_apply``, ``_replay`` and
``_age``; nothing there touches storage, clocks or the environment.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._apply import LegacyPages
from ._names import LegacyObject, format_time_ns, parse_object_path
from ._plan import LegacyPlan, LegacyPoint

if TYPE_CHECKING:
    from .convert import ConvertReport, ConvertStep, convert, plan_convert
    from .mixed import MixedPoint, MixedSource, Side
    from .source import LegacyPageMap, LegacyRestorePoint, LegacySource, legacy_txid, split_txid

_LAZY = {
    **dict.fromkeys(["ConvertReport", "ConvertStep", "convert", "plan_convert"], "convert"),
    **dict.fromkeys(["MixedPoint", "MixedSource", "Side"], "mixed"),
    **dict.fromkeys(
        ["LegacyPageMap", "LegacyRestorePoint", "LegacySource", "legacy_txid", "split_txid"],
        "source",
    ),
}

__all__ = [
    "ConvertReport",
    "ConvertStep",
    "LegacyObject",
    "LegacyPageMap",
    "LegacyPages",
    "LegacyPlan",
    "LegacyPoint",
    "LegacyRestorePoint",
    "LegacySource",
    "MixedPoint",
    "MixedSource",
    "Side",
    "parse_object_path",
    "convert",
    "format_time_ns",
    "legacy_txid",
    "plan_convert",
    "split_txid",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ltx.legacy' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
