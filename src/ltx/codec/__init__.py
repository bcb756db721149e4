"""The LTX codec: bytes in, bytes out; no files opened, no network, no clocks.

Readers take a binary file-like object or a ``read_range(start, end)`` callable and
never own either.
"""

from ltx.codec._checksum import (
    CHECKSUM_FLAG,
    DatabaseChecksum,
    checksum_page,
    crc64,
    crc64_pure,
    lock_pgno,
)
from ltx.codec._compact import compact, is_contiguous
from ltx.codec._database import (
    SQLITE_MAGIC,
    checksum_database,
    sqlite_page_count,
    sqlite_page_size,
)
from ltx.codec._decoder import DecodedFile, Decoder, decode
from ltx.codec._encoder import Encoder
from ltx.codec._fileinfo import FileInfo
from ltx.codec._frame import decode_frame, encode_frame
from ltx.codec._names import format_filename, format_txid, parse_filename, parse_txid
from ltx.codec._page_index import PageIndex, decode_uvarint, encode_uvarint
from ltx.codec._random import FileIndex, ReadRange, read_file_index, read_page, read_page_index
from ltx.codec._values import (
    HEADER_FLAG_NO_CHECKSUM,
    HEADER_SIZE,
    PAGE_FLAG_SIZE,
    TRAILER_SIZE,
    Header,
    PageHeader,
    Trailer,
    is_valid_page_size,
)

__all__ = [
    "CHECKSUM_FLAG",
    "HEADER_FLAG_NO_CHECKSUM",
    "HEADER_SIZE",
    "PAGE_FLAG_SIZE",
    "SQLITE_MAGIC",
    "TRAILER_SIZE",
    "DatabaseChecksum",
    "DecodedFile",
    "Decoder",
    "Encoder",
    "FileIndex",
    "FileInfo",
    "Header",
    "PageHeader",
    "PageIndex",
    "ReadRange",
    "Trailer",
    "checksum_database",
    "checksum_page",
    "compact",
    "crc64",
    "crc64_pure",
    "decode",
    "decode_frame",
    "decode_uvarint",
    "encode_frame",
    "encode_uvarint",
    "format_filename",
    "format_txid",
    "is_contiguous",
    "is_valid_page_size",
    "lock_pgno",
    "parse_filename",
    "parse_txid",
    "read_file_index",
    "read_page",
    "read_page_index",
    "sqlite_page_count",
    "sqlite_page_size",
]
