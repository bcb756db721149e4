"""Storage: Litestream replica layouts on fsspec filesystems (local, memory, S3, GCS, WebDAV).

Knows files, levels, TXID ranges and timestamps; nothing of pages or restore plans.
"""

from ltx.storage._layout import DECIMAL, HEX, Layout, layout_for_scheme
from ltx.storage._retry import RetryPolicy, classify
from ltx.storage._store import (
    FileInfo,
    Store,
    format_timestamp,
    ms_to_datetime,
    open_store,
    parse_timestamp,
)
from ltx.storage._url import StoreTarget, parse_url, redact

__all__ = [
    "DECIMAL",
    "HEX",
    "FileInfo",
    "Layout",
    "RetryPolicy",
    "Store",
    "StoreTarget",
    "classify",
    "format_timestamp",
    "layout_for_scheme",
    "ms_to_datetime",
    "open_store",
    "parse_timestamp",
    "parse_url",
    "redact",
]
