"""The 100-byte SQLite database header (https://www.sqlite.org/fileformat2.html#the_database_header)."""

from __future__ import annotations

import struct

import attrs

from ltx.errors import DatabaseFormatError

__all__ = [
    "HEADER_SIZE",
    "MAGIC",
    "MAX_PAGE_SIZE",
    "DatabaseHeader",
    "read_header",
    "header_page_size",
    "decode_page_size",
    "is_valid_page_size",
    "lock_pgno",
    "ENCODINGS",
]

# The SQLite file-format rules every other module imports (LTX, 0.3 snapshots, WAL,
# diffs); tests/house/test_house.py fails if one of them is restated elsewhere.
HEADER_SIZE = 100
MAGIC = b"SQLite format 3\x00"
MIN_PAGE_SIZE = 512
MAX_PAGE_SIZE = 65536
#: Text encoding number (header offset 56) -> Python codec; 0 is a fresh file with no schema yet.
ENCODINGS = {0: "utf-8", 1: "utf-8", 2: "utf-16-le", 3: "utf-16-be"}
_HEADER = struct.Struct(">16sHBBBBBB12I20xII")
_PENDING_BYTE = 0x40000000


def lock_pgno(page_size: int) -> int:
    """The page holding SQLite's lock bytes (offset 2**30, PENDING_BYTE); it never holds data."""
    return _PENDING_BYTE // page_size + 1


def is_valid_page_size(page_size: int) -> bool:
    """True for a power of two from 512 to 65536, the page sizes SQLite (and LTX) allow."""
    return MIN_PAGE_SIZE <= page_size <= MAX_PAGE_SIZE and page_size & (page_size - 1) == 0


def decode_page_size(raw: int) -> int:
    """The page size a header's u16 at offset 16 stands for: 1 means 65536."""
    return MAX_PAGE_SIZE if raw == 1 else raw


def header_page_size(data: bytes) -> int:
    """Check the magic and the page size at the start of a database; return the page size.

    Every reader of SQLite bytes goes through here, so a bad header raises the same
    ``DatabaseFormatError`` (offset set; callers add the path) whatever the entry point.
    """
    if len(data) < HEADER_SIZE:
        raise DatabaseFormatError(f"database header needs 100 bytes, got {len(data)}", offset=0)
    if data[: len(MAGIC)] != MAGIC:
        raise DatabaseFormatError("not a SQLite database (bad magic)", offset=0)
    raw = int.from_bytes(data[16:18], "big")
    page_size = decode_page_size(raw)
    if not is_valid_page_size(page_size):
        raise DatabaseFormatError(f"invalid page size {raw}", offset=16)
    return page_size


@attrs.frozen(slots=True)
class DatabaseHeader:
    """Every field of the database header; ``page_size`` is decoded (1 means 65536)."""

    page_size: int
    write_version: int
    read_version: int
    reserved_bytes: int
    change_counter: int
    page_count: int
    freelist_trunk: int
    freelist_count: int
    schema_cookie: int
    schema_format: int
    default_cache_size: int
    largest_root: int
    text_encoding: int
    user_version: int
    incremental_vacuum: int
    application_id: int
    version_valid_for: int
    sqlite_version: int

    @property
    def usable_size(self) -> int:
        """Bytes of each page available to b-trees: the page size less the reserved tail."""
        return self.page_size - self.reserved_bytes

    @property
    def encoding(self) -> str:
        """Python codec name of the database text encoding."""
        return ENCODINGS[self.text_encoding]

    @property
    def page_count_valid(self) -> bool:
        """The in-header size is trusted only when written by a SQLite that maintains it."""
        return self.page_count > 0 and self.version_valid_for == self.change_counter

    @property
    def auto_vacuum(self) -> bool:
        """Auto- and incremental-vacuum databases keep pointer-map pages."""
        return self.largest_root != 0


def read_header(data: bytes) -> DatabaseHeader:
    """Parse and validate the header at the start of page 1 (at least 100 bytes)."""
    page_size = header_page_size(data)
    f = _HEADER.unpack_from(data, 0)
    write_v, read_v, reserved, max_frac, min_frac, leaf_frac = f[2:8]
    if read_v > 2 or write_v not in (1, 2):
        raise DatabaseFormatError(f"unsupported file format version {write_v}/{read_v}", offset=18)
    if page_size - reserved < 480:
        raise DatabaseFormatError(f"{reserved} reserved bytes leave under 480 usable", offset=20)
    if (max_frac, min_frac, leaf_frac) != (64, 32, 32):
        raise DatabaseFormatError("payload fractions must be 64/32/32", offset=21)
    (change, count, trunk, free, cookie, fmt, cache, largest, enc, user, incr, app) = f[8:20]
    if enc not in ENCODINGS:
        raise DatabaseFormatError(f"invalid text encoding {enc}", offset=56)
    if fmt > 4:
        raise DatabaseFormatError(f"unsupported schema format {fmt}", offset=44)
    return DatabaseHeader(
        page_size=page_size,
        write_version=write_v,
        read_version=read_v,
        reserved_bytes=reserved,
        change_counter=change,
        page_count=count,
        freelist_trunk=trunk,
        freelist_count=free,
        schema_cookie=cookie,
        schema_format=fmt,
        default_cache_size=cache,
        largest_root=largest,
        text_encoding=enc,
        user_version=user,
        incremental_vacuum=incr,
        application_id=app,
        version_valid_for=f[20],
        sqlite_version=f[21],
    )
