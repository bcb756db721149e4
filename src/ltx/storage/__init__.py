"""Storage: Litestream replica layouts on fsspec filesystems, one registry entry per scheme.

Knows files, levels, TXID ranges and timestamps; nothing of pages or restore plans.
"""

from ltx.codec import FileInfo
from ltx.storage._backend import Backend, SchemeSpec
from ltx.storage._layout import DECIMAL, HEX, Layout
from ltx.storage._objects import ListedFile, ObjectStore
from ltx.storage._open import open_store
from ltx.storage._registry import REFUSED, SCHEMES, available_schemes, register_scheme
from ltx.storage._retry import RetryPolicy
from ltx.storage._store import Store
from ltx.storage._url import StoreTarget, parse_url, redact, reject_misspelled
from ltx.storage._workers import Job, Workers

__all__ = [
    "reject_misspelled",
    "DECIMAL",
    "HEX",
    "Job",
    "REFUSED",
    "SCHEMES",
    "Backend",
    "FileInfo",
    "Layout",
    "ListedFile",
    "ObjectStore",
    "RetryPolicy",
    "SchemeSpec",
    "Store",
    "StoreTarget",
    "Workers",
    "available_schemes",
    "open_store",
    "parse_url",
    "redact",
    "register_scheme",
]
