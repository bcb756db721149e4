"""SQLite database images: header fields and the whole-database checksum, over file objects."""

from __future__ import annotations

from typing import BinaryIO

from ltx.codec._checksum import DatabaseChecksum, lock_pgno
from ltx.codec._values import is_valid_page_size
from ltx.errors import FormatError, TruncatedError, UsageError

__all__ = ["SQLITE_MAGIC", "sqlite_page_size", "sqlite_page_count", "checksum_database"]

SQLITE_MAGIC = b"SQLite format 3\x00"


def sqlite_page_size(header: bytes) -> int:
    """Page size from a SQLite header (u16 at offset 16; 1 means 65536)."""
    if len(header) < 100:
        raise TruncatedError("SQLite header needs 100 bytes", offset=len(header))
    if header[:16] != SQLITE_MAGIC:
        raise FormatError("invalid database header", offset=0)
    raw = int.from_bytes(header[16:18], "big")
    size = 65536 if raw == 1 else raw
    if not is_valid_page_size(size):
        raise FormatError(f"invalid SQLite page size {size}", offset=16)
    return size


def sqlite_page_count(header: bytes) -> int:
    """The in-header database size in pages (u32 at offset 28)."""
    sqlite_page_size(header)
    return int.from_bytes(header[28:32], "big")


def checksum_database(fp: BinaryIO, page_size: int | None = None) -> int:
    """LTX database checksum of a whole database file, as Go's ``ltx checksum``.

    Reads every page to EOF (not the header's count), skipping the lock page.
    """
    first = fp.read(100)
    if page_size is None:
        page_size = sqlite_page_size(first)
    elif not is_valid_page_size(page_size):
        raise UsageError(f"invalid page size {page_size}")
    lock = lock_pgno(page_size)
    acc = DatabaseChecksum()
    pgno = 0
    buf = first
    while True:
        need = page_size - len(buf)
        while need > 0:
            chunk = fp.read(need)
            if not chunk:
                break
            buf += chunk
            need -= len(chunk)
        if not buf:
            break
        pgno += 1
        if len(buf) != page_size:
            raise TruncatedError(
                f"database ends inside page {pgno}", offset=(pgno - 1) * page_size + len(buf)
            )
        if pgno != lock:
            acc.add(pgno, buf)
        buf = b""
    return acc.value if pgno else 0
