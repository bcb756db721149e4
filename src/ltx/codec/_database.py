"""SQLite database images: header fields and the whole-database checksum, over file objects.

The format rules themselves (magic, page sizes, the lock page) live in
``ltx.sqlitefmt.header``; this module applies them to whole images.
"""

from __future__ import annotations

from typing import BinaryIO

from ltx.codec._checksum import DatabaseChecksum
from ltx.errors import TruncatedError, UsageError
from ltx.sqlitefmt.header import HEADER_SIZE, MAGIC, header_page_size, is_valid_page_size, lock_pgno

__all__ = ["SQLITE_MAGIC", "sqlite_page_size", "sqlite_page_count", "checksum_database"]

SQLITE_MAGIC = MAGIC  # kept importable; the rule's home is ltx.sqlitefmt.header


def sqlite_page_size(header: bytes) -> int:
    """Page size from a SQLite header (u16 at offset 16; 1 means 65536).

    A bad header raises ``DatabaseFormatError`` (a ``FormatError``), as every entry point.
    """
    return header_page_size(header)


def sqlite_page_count(header: bytes) -> int:
    """The in-header database size in pages (u32 at offset 28)."""
    header_page_size(header)
    return int.from_bytes(header[28:32], "big")


def checksum_database(fp: BinaryIO, page_size: int | None = None) -> int:
    """LTX database checksum of a whole database file, as Go's ``ltx checksum``.

    Reads every page to EOF (not the header's count), skipping the lock page.
    """
    first = fp.read(HEADER_SIZE)
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
