"""ltx: the LTX file format and Litestream-style replicas of SQLite databases.

The codec names are imported eagerly (they need only attrs, lz4 and fastcrc); the
storage-backed names (``open``, ``Replica``, ``open_store`` ...) load on first use so
that ``import ltx.codec`` never imports fsspec. Exported too: the types ``ltx.open`` and
``Replica`` take and return (``RetryPolicy``, ``RestorePoint``, ``Plan``, ``PageMap``,
``View``, ``Diff``, ``TxChanges``, ``Report``, ``Source`` ...).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ltx.codec import (
    CHECKSUM_FLAG,
    HEADER_FLAG_NO_CHECKSUM,
    Decoder,
    Encoder,
    FileInfo,
    Header,
    PageHeader,
    PageIndex,
    Trailer,
    checksum_page,
    compact,
    decode,
    encode_pages,
    format_filename,
    format_txid,
    parse_filename,
    parse_txid,
)
from ltx.errors import (
    AccessDeniedError,
    BadMagicError,
    ChecksumMismatchError,
    ConflictError,
    DatabaseFormatError,
    FormatError,
    FrameError,
    HeaderFieldError,
    LeaseHeldError,
    LeaseLostError,
    LTXError,
    NotFoundError,
    PageIndexError,
    PageNotFoundError,
    PageOrderError,
    ResolveError,
    StorageError,
    TransientStorageError,
    TruncatedError,
    TxidNotAvailableError,
    UnsupportedFormatError,
    UsageError,
)

if TYPE_CHECKING:
    from ltx.changes import Diff, TxChanges
    from ltx.compaction import CompactStep, DeleteStep, LevelsConfig, SnapshotStep
    from ltx.dbfile import checksum_db, encode_db
    from ltx.replica import Replica, TimeLike, open
    from ltx.replication import Replicator, replicate
    from ltx.resolve import PageCache, PageMap, Plan, RestorePoint
    from ltx.sources import LTXSource, Source
    from ltx.storage import RetryPolicy, Store, open_store
    from ltx.verify import Problem, Report
    from ltx.view import PageMapLike, View

__version__ = "0.1.0"

_LAZY = {
    **dict.fromkeys(["open", "Replica", "TimeLike"], "ltx.replica"),
    **dict.fromkeys(["View", "PageMapLike"], "ltx.view"),
    **dict.fromkeys(["Diff", "TxChanges"], "ltx.changes"),
    **dict.fromkeys(
        ["CompactStep", "DeleteStep", "LevelsConfig", "SnapshotStep"], "ltx.compaction"
    ),
    **dict.fromkeys(["PageCache", "PageMap", "Plan", "RestorePoint"], "ltx.resolve"),
    **dict.fromkeys(["Problem", "Report"], "ltx.verify"),
    **dict.fromkeys(["RetryPolicy", "Store", "open_store"], "ltx.storage"),
    **dict.fromkeys(["checksum_db", "encode_db"], "ltx.dbfile"),
    **dict.fromkeys(["LTXSource", "Source"], "ltx.sources"),
    **dict.fromkeys(["Replicator", "replicate"], "ltx.replication"),
}

__all__ = [
    "AccessDeniedError",
    "BadMagicError",
    "CHECKSUM_FLAG",
    "UnsupportedFormatError",
    "ChecksumMismatchError",
    "CompactStep",
    "ConflictError",
    "LeaseHeldError",
    "LeaseLostError",
    "DatabaseFormatError",
    "Decoder",
    "DeleteStep",
    "Diff",
    "Encoder",
    "FileInfo",
    "FormatError",
    "FrameError",
    "HEADER_FLAG_NO_CHECKSUM",
    "Header",
    "HeaderFieldError",
    "LTXError",
    "LTXSource",
    "LevelsConfig",
    "NotFoundError",
    "PageCache",
    "PageHeader",
    "PageIndex",
    "PageIndexError",
    "PageMap",
    "PageMapLike",
    "PageNotFoundError",
    "PageOrderError",
    "Plan",
    "Problem",
    "Replica",
    "Report",
    "ResolveError",
    "RestorePoint",
    "RetryPolicy",
    "SnapshotStep",
    "Source",
    "StorageError",
    "Store",
    "TimeLike",
    "Trailer",
    "TransientStorageError",
    "TruncatedError",
    "TxChanges",
    "TxidNotAvailableError",
    "UsageError",
    "View",
    "__version__",
    "checksum_db",
    "checksum_page",
    "compact",
    "decode",
    "encode_db",
    "encode_pages",
    "format_filename",
    "format_txid",
    "open",
    "Replicator",
    "replicate",
    "open_store",
    "parse_filename",
    "parse_txid",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ltx' has no attribute {name!r}")
    imported = importlib.import_module(module)
    value = getattr(imported, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
