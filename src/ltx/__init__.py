"""ltx: the LTX file format and Litestream-style replicas of SQLite databases.

The codec names are imported eagerly (they need only attrs, lz4 and fastcrc); the
storage-backed names (``open``, ``Replica``, ``open_store`` ...) load on first use so
that ``import ltx.codec`` never imports fsspec.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ltx.codec import (
    CHECKSUM_FLAG,
    HEADER_FLAG_NO_CHECKSUM,
    Decoder,
    Encoder,
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
    from ltx.compaction import LevelsConfig
    from ltx.dbfile import checksum_db, encode_db
    from ltx.replica import Replica, open
    from ltx.storage import FileInfo, Store, open_store
    from ltx.view import View

__version__ = "0.1.0"

_LAZY = {
    "open": "ltx.replica",
    "Replica": "ltx.replica",
    "View": "ltx.view",
    "LevelsConfig": "ltx.compaction",
    "open_store": "ltx.storage",
    "Store": "ltx.storage",
    "FileInfo": "ltx.storage",
    "checksum_db": "ltx.dbfile",
    "encode_db": "ltx.dbfile",
}

__all__ = [
    "CHECKSUM_FLAG",
    "HEADER_FLAG_NO_CHECKSUM",
    "AccessDeniedError",
    "BadMagicError",
    "UnsupportedFormatError",
    "ChecksumMismatchError",
    "ConflictError",
    "DatabaseFormatError",
    "Decoder",
    "Encoder",
    "FileInfo",
    "FormatError",
    "FrameError",
    "Header",
    "HeaderFieldError",
    "LevelsConfig",
    "LTXError",
    "NotFoundError",
    "PageHeader",
    "PageIndex",
    "PageIndexError",
    "PageNotFoundError",
    "PageOrderError",
    "Replica",
    "ResolveError",
    "StorageError",
    "Store",
    "Trailer",
    "TransientStorageError",
    "TruncatedError",
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
    "open_store",
    "parse_filename",
    "parse_txid",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ltx' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
