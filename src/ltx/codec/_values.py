"""Header, page header and trailer: fixed-size, big-endian values with Go's validation rules."""

from __future__ import annotations

import bisect
import itertools
import struct
from collections.abc import Sequence

import attrs

from ltx.codec._checksum import CHECKSUM_FLAG
from ltx.errors import (
    BadMagicError,
    FrameError,
    HeaderFieldError,
    TruncatedError,
    UnsupportedFlagsError,
    UnsupportedVersionError,
)
from ltx.sqlitefmt.header import is_valid_page_size, lock_pgno

__all__ = [
    "MAGIC",
    "HEADER_SIZE",
    "PAGE_HEADER_SIZE",
    "TRAILER_SIZE",
    "HEADER_FLAG_NO_CHECKSUM",
    "HEADER_FLAG_MASK",
    "PAGE_FLAG_SIZE",
    "PAGE_FLAG_MASK",
    "Header",
    "PageHeader",
    "Trailer",
    "is_valid_page_size",
]

MAGIC = b"LTX1"
HEADER_SIZE = 100
PAGE_HEADER_SIZE = 6
TRAILER_SIZE = 16
HEADER_FLAG_NO_CHECKSUM = 0x2
HEADER_FLAG_MASK = 0x2
PAGE_FLAG_SIZE = 0x1
PAGE_FLAG_MASK = 0x1

_HEADER = struct.Struct(">4sIIIQQqQqqIIQ20x")
_PAGE_HEADER = struct.Struct(">IH")
_TRAILER = struct.Struct(">QQ")
_U64 = 1 << 64
_I64_MAX = (1 << 63) - 1
# Header timestamps must be representable as a datetime (years 1..9999), so a hostile
# file cannot pass decoding and fail later where its time is used.
MIN_TIMESTAMP_MS = -62_135_596_800_000
MAX_TIMESTAMP_MS = 253_402_300_799_999


@attrs.frozen(kw_only=True)
class Header:
    """The 100-byte LTX header. ``timestamp`` is milliseconds since the Unix epoch."""

    flags: int = 0
    page_size: int
    commit: int
    min_txid: int
    max_txid: int
    timestamp: int = 0
    pre_apply_checksum: int = 0
    wal_offset: int = 0
    wal_size: int = 0
    wal_salt1: int = 0
    wal_salt2: int = 0
    node_id: int = 0

    @property
    def is_snapshot(self) -> bool:
        """A snapshot holds the whole database: exactly when MinTXID is 1."""
        return self.min_txid == 1

    @property
    def no_checksum(self) -> bool:
        """True when the file does not track the database checksum (all Litestream 0.5 files)."""
        return bool(self.flags & HEADER_FLAG_NO_CHECKSUM)

    @property
    def lock_pgno(self) -> int:
        """The page number SQLite reserves for its lock byte at this page size."""
        return lock_pgno(self.page_size)

    @property
    def last_pgno(self) -> int:
        """The last page a snapshot holds: Commit, or the page before when that is the lock page."""
        return self.commit - 1 if self.commit == self.lock_pgno else self.commit

    def page_order_problem(self, prev: int, pgno: int) -> str | None:
        """Why page ``pgno`` may not follow page ``prev`` (0: none yet) in this file, or None.

        The one home of the ordering rules: pages ascend, stay within Commit, skip the
        lock page, and a snapshot holds every page from 1 with no gap.
        """
        lock = self.lock_pgno
        in_order = prev < pgno <= self.commit and pgno != lock  # the common case, first
        if in_order and (not self.is_snapshot or pgno == prev + 1 or pgno == prev + 2 == lock + 1):
            return None
        if pgno <= 0:
            return f"page number required, got {pgno}"
        if pgno > self.commit:
            return f"page number {pgno} out-of-bounds for commit size {self.commit}"
        if pgno == self.lock_pgno:
            return f"cannot hold the lock page: pgno={pgno}"
        if pgno <= prev:
            return f"out-of-order page numbers: {prev},{pgno}"
        if self.is_snapshot:
            expected = prev + 2 if prev + 1 == self.lock_pgno else prev + 1
            if pgno != expected:
                return (
                    f"snapshot pages must be contiguous from 1: got {pgno} after {prev}, "
                    f"expected {expected}"
                )
        return None

    def pages_in_order(self, pgnos: Sequence[int]) -> bool:
        """True when ``page_order_problem`` finds nothing along ``pgnos`` (from 0): the same
        rules checked for a whole run at once, for long page indexes."""
        if not pgnos:
            return True
        lock = self.lock_pgno
        n = len(pgnos)
        if self.is_snapshot:
            if n < lock:
                expected = list(range(1, n + 1))
            else:
                expected = [*range(1, lock), *range(lock + 1, n + 2)]
            return pgnos[-1] <= self.commit and list(pgnos) == expected
        if not (pgnos[0] > 0 and pgnos[-1] <= self.commit):
            return False
        if not all(a < b for a, b in itertools.pairwise(pgnos)):
            return False
        i = bisect.bisect_left(pgnos, lock)
        return i == n or pgnos[i] != lock

    def end_problem(self, last: int) -> str | None:
        """Why this file may not end after page ``last`` (0: no pages), or None: a snapshot
        must reach ``last_pgno``; other files may hold any subset of pages, even none."""
        if self.is_snapshot and last != self.last_pgno:
            return f"snapshot ends at pgno {last}, commit is {self.commit}"
        return None

    def to_bytes(self) -> bytes:
        """Serialize to 100 bytes (reserved bytes zero)."""
        try:
            return _HEADER.pack(
                MAGIC,
                self.flags,
                self.page_size,
                self.commit,
                self.min_txid,
                self.max_txid,
                self.timestamp,
                self.pre_apply_checksum,
                self.wal_offset,
                self.wal_size,
                self.wal_salt1,
                self.wal_salt2,
                self.node_id,
            )
        except struct.error as exc:
            self.validate()  # names the field that does not fit
            raise HeaderFieldError(f"header field out of range: {exc}", field="header") from None

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, *, validate: bool = True) -> Header:
        """Parse 100 bytes; with ``validate`` (default) apply the format's rules."""
        if len(data) < HEADER_SIZE:
            raise TruncatedError(
                f"header needs {HEADER_SIZE} bytes, got {len(data)}", offset=len(data)
            )
        fields = _HEADER.unpack_from(data, 0)
        digit = fields[0][3:]
        version = int(digit) if fields[0][:3] == MAGIC[:3] and digit.isdigit() else 0
        if version > 1:
            message = f"LTX version {version} is newer than this reader (it reads {MAGIC!r})"
            raise UnsupportedVersionError(message, version=version, offset=0)
        if fields[0] != MAGIC:
            raise BadMagicError(f"bad magic {bytes(fields[0])!r}, expected {MAGIC!r}", offset=0)
        hdr = cls(
            flags=fields[1],
            page_size=fields[2],
            commit=fields[3],
            min_txid=fields[4],
            max_txid=fields[5],
            timestamp=fields[6],
            pre_apply_checksum=fields[7],
            wal_offset=fields[8],
            wal_size=fields[9],
            wal_salt1=fields[10],
            wal_salt2=fields[11],
            node_id=fields[12],
        )
        if validate:
            hdr.validate()
        return hdr

    def validate(self) -> None:
        """Apply the Go ``Header.Validate`` rules, in Go's order; raise HeaderFieldError."""

        def bad(field: str, message: str, offset: int) -> HeaderFieldError:
            return HeaderFieldError(message, field=field, offset=offset)

        if not 0 <= self.flags < (1 << 32):
            raise bad("flags", f"invalid flags: 0x{self.flags:08x}", 4)
        if self.flags & ~HEADER_FLAG_MASK:
            unknown = f"unknown header flags 0x{self.flags & ~HEADER_FLAG_MASK:08x}"
            message = f"invalid flags: 0x{self.flags:08x} ({unknown}: a newer LTX writer?)"
            raise UnsupportedFlagsError(message, flags=self.flags, offset=4)
        if not is_valid_page_size(self.page_size):
            raise bad("page_size", f"invalid page size: {self.page_size}", 8)
        if not 0 <= self.commit < (1 << 32):
            raise bad("commit", f"commit out of range: {self.commit}", 12)
        if not 0 < self.min_txid < _U64:
            raise bad("min_txid", "minimum transaction id required", 16)
        if not 0 < self.max_txid < _U64:
            raise bad("max_txid", "maximum transaction id required", 24)
        if self.min_txid > self.max_txid:
            raise bad(
                "min_txid",
                f"transaction ids out of order: ({self.min_txid},{self.max_txid})",
                16,
            )
        if not MIN_TIMESTAMP_MS <= self.timestamp <= MAX_TIMESTAMP_MS:
            raise bad("timestamp", f"timestamp out of range: {self.timestamp}", 32)
        if self.wal_offset < 0 or self.wal_offset > _I64_MAX:
            raise bad("wal_offset", f"wal offset cannot be negative: {self.wal_offset}", 48)
        if self.wal_size < 0 or self.wal_size > _I64_MAX:
            raise bad("wal_size", f"wal size cannot be negative: {self.wal_size}", 56)
        if (self.wal_salt1 or self.wal_salt2) and self.wal_offset == 0:
            raise bad("wal_salt1", "wal offset required if salt exists", 64)
        if self.wal_offset == 0 and self.wal_size != 0:
            raise bad("wal_size", "wal offset required if wal size exists", 56)
        for name in ("wal_salt1", "wal_salt2"):
            if not 0 <= getattr(self, name) < (1 << 32):
                raise bad(name, f"{name} out of range", 64)
        if not 0 <= self.node_id < _U64 or not 0 <= self.pre_apply_checksum < _U64:
            raise bad("node_id", "field out of range", 72)
        if self.is_snapshot:
            if self.pre_apply_checksum != 0:
                raise bad("pre_apply_checksum", "pre-apply checksum must be zero on snapshots", 40)
        elif self.no_checksum:
            if self.pre_apply_checksum != 0:
                raise bad("pre_apply_checksum", "pre-apply checksum not allowed", 40)
        elif self.pre_apply_checksum == 0:
            raise bad("pre_apply_checksum", "pre-apply checksum required on non-snapshot files", 40)
        elif not self.pre_apply_checksum & CHECKSUM_FLAG:
            raise bad("pre_apply_checksum", "invalid pre-apply checksum format", 40)


@attrs.frozen
class PageHeader:
    """The 6-byte header before each page frame; flag bit 0 means a size-prefixed LZ4 block."""

    pgno: int
    flags: int = PAGE_FLAG_SIZE

    def to_bytes(self) -> bytes:
        """Serialize to 6 bytes."""
        return _PAGE_HEADER.pack(self.pgno, self.flags)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, offset: int = 0) -> PageHeader:
        """Parse 6 bytes (no validation; see ``validate``)."""
        pgno, flags = _PAGE_HEADER.unpack_from(data, offset)
        return cls(pgno, flags)

    @property
    def is_end(self) -> bool:
        """The all-zero header that ends the page block."""
        return self.pgno == 0 and self.flags == 0

    def validate(self, *, offset: int | None = None) -> None:
        """Go's PageHeader.Validate: a page number and no unknown flag bits."""
        if self.pgno == 0:
            raise FrameError("page number required", offset=offset)
        if self.flags & ~PAGE_FLAG_MASK:
            raise FrameError(f"invalid page header flags: 0x{self.flags:04x}", offset=offset)


@attrs.frozen
class Trailer:
    """The 16-byte trailer: post-apply database checksum and the file checksum."""

    post_apply_checksum: int
    file_checksum: int

    def to_bytes(self) -> bytes:
        """Serialize to 16 bytes."""
        return _TRAILER.pack(self.post_apply_checksum, self.file_checksum)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, offset: int = 0) -> Trailer:
        """Parse 16 bytes."""
        post, chk = _TRAILER.unpack_from(data, offset)
        return cls(post, chk)

    def validate(self, header: Header, *, offset: int | None = None) -> None:
        """Go's ``Trailer.Validate(header)``: a NoChecksum file carries no post-apply
        checksum; any other needs one with the flag bit; the file checksum needs the flag
        bit. ``offset`` is where the trailer starts; raises HeaderFieldError."""
        post = self.post_apply_checksum
        where = None if offset is None else offset + 8
        problem = None
        if header.no_checksum:
            problem = "post-apply checksum not allowed" if post else None
        elif post == 0:
            problem = "post-apply checksum required"
        elif not post & CHECKSUM_FLAG:
            problem = "invalid post-apply checksum format"
        if problem is not None:
            field = "post_apply_checksum"
            raise HeaderFieldError(f"{problem} (found {post:016x})", field=field, offset=offset)
        if not self.file_checksum & CHECKSUM_FLAG:
            raise HeaderFieldError(
                "invalid file checksum format", field="file_checksum", offset=where
            )
