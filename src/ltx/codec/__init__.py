"""The LTX codec: bytes in, bytes out; no network, no clocks, no files opened by itself
(``verified_pages`` spools to a temp file past 64 MiB unless given a spool).

Readers take a binary file-like object or a ``read_range(start, end)`` callable and
never own either. The names below are the public surface; the private modules hold
the rest (varints, frames, the pure-Python CRC) for tests and the codec itself.
"""

from ltx.codec._chain import ChainFinding, TrackedFile, compare_levels, replay_checksums
from ltx.codec._checksum import CHECKSUM_FLAG, DatabaseChecksum, checksum_page, crc64
from ltx.codec._compact import compact, is_contiguous
from ltx.codec._database import checksum_database, sqlite_page_count, sqlite_page_size
from ltx.codec._decoder import DecodedFile, Decoder, decode, verified_pages
from ltx.codec._encoder import Encoder, encode_pages
from ltx.codec._fileinfo import SNAPSHOT_LEVEL, FileInfo, decode_listing, encode_listing, with_file
from ltx.codec._names import (
    check_txid,
    format_filename,
    format_txid,
    parse_filename,
    parse_txid,
)
from ltx.codec._page_index import PageIndex
from ltx.codec._parts import FilePart, PageBatch, PartDecoder, PartSum, split_file, verify_parts
from ltx.codec._random import (
    FileIndex,
    ReadRange,
    read_file_index,
    read_page,
    read_page_index,
    read_pages,
)
from ltx.codec._values import (
    HEADER_FLAG_NO_CHECKSUM,
    HEADER_SIZE,
    TRAILER_SIZE,
    Header,
    PageHeader,
    Trailer,
)
from ltx.sqlitefmt.header import lock_pgno

__all__ = [
    "CHECKSUM_FLAG",
    "HEADER_FLAG_NO_CHECKSUM",
    "HEADER_SIZE",
    "TRAILER_SIZE",
    "SNAPSHOT_LEVEL",
    "ChainFinding",
    "DatabaseChecksum",
    "DecodedFile",
    "Decoder",
    "Encoder",
    "FileIndex",
    "FileInfo",
    "FilePart",
    "Header",
    "PageHeader",
    "PageBatch",
    "PageIndex",
    "PartDecoder",
    "PartSum",
    "ReadRange",
    "TrackedFile",
    "Trailer",
    "checksum_database",
    "checksum_page",
    "compact",
    "compare_levels",
    "crc64",
    "decode",
    "decode_listing",
    "encode_listing",
    "encode_pages",
    "format_filename",
    "check_txid",
    "format_txid",
    "is_contiguous",
    "lock_pgno",
    "parse_filename",
    "parse_txid",
    "read_file_index",
    "read_page",
    "read_page_index",
    "read_pages",
    "replay_checksums",
    "sqlite_page_count",
    "split_file",
    "sqlite_page_size",
    "verified_pages",
    "verify_parts",
    "with_file",
]
