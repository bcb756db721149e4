"""The SQLite write-ahead log, read as SQLite's recovery reads it (sans-I/O).

A WAL is a 32-byte header and frames (a 24-byte frame header + one page). A frame is
valid when its salts equal the header's and its checksum continues the running
checksum; the log ends at the first invalid frame. A frame whose "database size after
commit" is nonzero ends a transaction, and only whole transactions count. This module
is the one home of those rules: Litestream 0.3 segments (``ltx.legacy``) and the live
replicator (``ltx.replication``) both read through it. Bytes come from the caller's
``read_at(offset, n)``; nothing here opens a file.

A live database's readers do not recompute checksums: SQLite's shared index (the -shm
file) publishes how many frames of the current WAL are committed (``mxFrame``), and
frames up to it are never rewritten until the WAL restarts (new salts). ``scan_wal``
can read the same way (``trust_published``): frames within ``max_frames`` are checked
for salts only and the running checksum is the one each frame header stores; a final
read of the WAL header proves no restart began while the frames were read (a restart
writes the new header before any frame), else the scan is redone with checksums.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import attrs

from ltx.errors import DatabaseFormatError, FormatError, UsageError
from ltx.sqlitefmt.header import is_valid_page_size

__all__ = [
    "FRAME_HEADER_SIZE",
    "WAL_HEADER_SIZE",
    "WAL_MAGIC_BE",
    "WAL_MAGIC_LE",
    "FrameHeader",
    "ReadAt",
    "WALHeader",
    "WALPosition",
    "WALScan",
    "frame_size",
    "resume_position",
    "scan_wal",
    "wal_checksum",
]

WAL_HEADER_SIZE = 32
FRAME_HEADER_SIZE = 24
WAL_MAGIC_LE = 0x377F0682
"""Checksums read the data as little-endian 32-bit words."""
WAL_MAGIC_BE = 0x377F0683
"""Checksums read the data as big-endian 32-bit words."""
WAL_VERSION = 3007000
_MASK = 0xFFFFFFFF


def wal_checksum(data: bytes, s0: int = 0, s1: int = 0, *, big_endian: bool) -> tuple[int, int]:
    """SQLite's running WAL checksum over ``data`` (a multiple of 8 bytes), from (s0, s1).

    Eight word pairs per loop turn, masked once per turn (the sums stay below 2**48),
    which is about three times faster than masking every step; restores spend most of
    their Python time here.
    """
    if len(data) % 8:
        raise UsageError(f"WAL checksum input must be a multiple of 8 bytes, got {len(data)}")
    n = len(data) // 4
    words = struct.unpack(f"{'>' if big_endian else '<'}{n}I", data)
    whole = n - n % 16
    it = iter(words[:whole])
    for a0, b0, a1, b1, a2, b2, a3, b3, a4, b4, a5, b5, a6, b6, a7, b7 in zip(
        *([it] * 16), strict=False
    ):
        s0 += a0 + s1
        s1 += b0 + s0
        s0 += a1 + s1
        s1 += b1 + s0
        s0 += a2 + s1
        s1 += b2 + s0
        s0 += a3 + s1
        s1 += b3 + s0
        s0 += a4 + s1
        s1 += b4 + s0
        s0 += a5 + s1
        s1 += b5 + s0
        s0 += a6 + s1
        s1 += b6 + s0
        s0 += a7 + s1
        s1 += b7 + s0
        s0 &= _MASK
        s1 &= _MASK
    for a, b in zip(words[whole::2], words[whole + 1 :: 2], strict=True):
        s0 = (s0 + a + s1) & _MASK
        s1 = (s1 + b + s0) & _MASK
    return s0, s1


@attrs.frozen
class WALHeader:
    """The 32-byte WAL header: magic, version, page size, checkpoint seq, salts, checksum."""

    magic: int
    version: int
    page_size: int
    checkpoint_seq: int
    salt1: int
    salt2: int
    checksum1: int
    checksum2: int

    @property
    def big_endian(self) -> bool:
        """Checksum byte order: bit 0 of the magic (0x377f0683 means big-endian)."""
        return self.magic == WAL_MAGIC_BE

    @property
    def salts(self) -> tuple[int, int]:
        """The salt pair every valid frame of this WAL repeats."""
        return (self.salt1, self.salt2)

    @classmethod
    def parse(
        cls,
        data: bytes,
        *,
        path: str | None = None,
        error: type[FormatError] = DatabaseFormatError,
    ) -> WALHeader:
        """Decode and check a header as SQLite's recovery does; ``error`` if it is bad."""
        if len(data) != WAL_HEADER_SIZE:
            raise error(f"WAL header is {len(data)} bytes, not 32", path=path, offset=0)
        hdr = cls(*struct.unpack(">8I", data))
        if hdr.magic not in (WAL_MAGIC_LE, WAL_MAGIC_BE):
            raise error(f"not a WAL header (magic {hdr.magic:08x})", path=path, offset=0)
        if hdr.version != WAL_VERSION:
            raise error(f"WAL format version {hdr.version}", path=path, offset=0)
        if not is_valid_page_size(hdr.page_size):
            raise error(f"WAL page size {hdr.page_size}", path=path, offset=0)
        if wal_checksum(data[:24], big_endian=hdr.big_endian) != (hdr.checksum1, hdr.checksum2):
            raise error("WAL header checksum mismatch", path=path, offset=24)
        return hdr


@attrs.frozen
class FrameHeader:
    """A frame header: page number, database size after commit (0 if none), salts, checksum."""

    pgno: int
    commit: int
    salt1: int
    salt2: int
    checksum1: int
    checksum2: int

    @classmethod
    def parse(cls, data: bytes) -> FrameHeader:
        """Decode the big-endian fields (no checks: see ``iter_frames``)."""
        return cls(*struct.unpack(">6I", data))


ReadAt = Callable[[int, int], bytes]
"""``read_at(offset, n)``: up to ``n`` bytes of the WAL from ``offset`` (short at its end)."""

_BATCH = 256  # frames read per call


def frame_size(page_size: int) -> int:
    """Bytes of one frame: the 24-byte frame header and the page."""
    return FRAME_HEADER_SIZE + page_size


@attrs.frozen
class WALPosition:
    """Where reading resumes: the WAL offset after the last commit frame consumed, the
    salts of that WAL and the running checksum there (what the next frame continues)."""

    offset: int
    salt1: int
    salt2: int
    checksum1: int
    checksum2: int

    @classmethod
    def start(cls, header: WALHeader) -> WALPosition:
        """The position before the first frame of ``header``'s WAL."""
        return cls(WAL_HEADER_SIZE, header.salt1, header.salt2, header.checksum1, header.checksum2)


@attrs.frozen
class WALScan:
    """The committed transactions found from ``start``: each page's newest copy, pages
    past the last commit's database size dropped, and where the next read resumes."""

    start: WALPosition
    end: WALPosition
    commit: int
    """Database size in pages after the last transaction (0 if none was found)."""
    pages: dict[int, bytes]
    transactions: int
    frames: int
    stopped: str
    """Why reading stopped: "end", "limit", or the first invalid frame's fault."""
    offsets: dict[int, int] = attrs.field(factory=dict)
    """Each page's newest frame as its offset in the WAL, kept instead of ``pages``
    when the scan was asked not to keep page bytes (``keep_pages=False``)."""

    @property
    def wal_size(self) -> int:
        """Bytes of WAL the scan consumed (whole transactions only)."""
        return self.end.offset - self.start.offset


def resume_position(header: WALHeader, read_at: ReadAt, offset: int) -> WALPosition | None:
    """The position at ``offset`` in ``header``'s WAL, or None when the frame ending there
    is not a valid frame of this WAL (restarted, truncated, or not a frame boundary).

    The running checksum is the one stored in the frame before ``offset`` (SQLite stores
    the cumulative sum in each frame header); a valid chain from there on proves it.
    """
    fsz = frame_size(header.page_size)
    if offset == WAL_HEADER_SIZE:
        return WALPosition.start(header)
    if offset < WAL_HEADER_SIZE or (offset - WAL_HEADER_SIZE) % fsz:
        return None
    raw = read_at(offset - fsz, FRAME_HEADER_SIZE)
    if len(raw) < FRAME_HEADER_SIZE:
        return None
    fh = FrameHeader.parse(raw)
    if (fh.salt1, fh.salt2) != header.salts or not fh.commit:
        return None
    return WALPosition(offset, fh.salt1, fh.salt2, fh.checksum1, fh.checksum2)


def _frame_fault(hdr: WALHeader, raw: bytes, sums: tuple[int, int]) -> tuple[str, tuple[int, int]]:
    """Why a frame is invalid ("" if valid) and the running checksum after it."""
    fh = FrameHeader.parse(raw[:FRAME_HEADER_SIZE])
    if (fh.salt1, fh.salt2) != hdr.salts:
        return "salt differs from the header's", sums
    if fh.pgno == 0:
        return "frame for page 0", sums
    s = wal_checksum(raw[:8], *sums, big_endian=hdr.big_endian)
    s = wal_checksum(raw[FRAME_HEADER_SIZE:], *s, big_endian=hdr.big_endian)
    if s != (fh.checksum1, fh.checksum2):
        return "checksum mismatch", sums
    return "", s


_FRAME = struct.Struct(">6I")


def _frame_published(hdr: WALHeader, chunk: bytes, at: int) -> tuple[str, tuple[int, int]]:
    """As ``_frame_fault`` for a frame SQLite's index published: salts checked, the
    stored running checksum taken (see the module docstring)."""
    pgno, _size, salt1, salt2, sum1, sum2 = _FRAME.unpack_from(chunk, at)
    if (salt1, salt2) != hdr.salts:
        return "salt differs from the header's", (0, 0)
    if pgno == 0:
        return "frame for page 0", (0, 0)
    return "", (sum1, sum2)


def scan_wal(
    header: WALHeader,
    read_at: ReadAt,
    start: WALPosition | None = None,
    *,
    max_bytes: int | None = None,
    max_frames: int | None = None,
    keep_pages: bool = True,
    trust_published: bool = False,
) -> WALScan:
    """Read committed transactions of ``header``'s WAL from ``start`` (default: the first
    frame) up to the first invalid frame or the end; stop at the first commit boundary
    past ``max_bytes`` when given. Frames after the last commit frame are left unread
    for a later scan, as SQLite's recovery ignores them. ``max_frames`` bounds the WAL
    to the frames SQLite's shared index says are committed (a writer that died after
    writing its commit frame but before publishing it did not commit);
    ``trust_published`` then reads them as SQLite's readers do (module docstring). With
    ``keep_pages=False`` each page's newest copy is kept as its frame's offset, not its
    bytes, so memory stays bounded however large the WAL is."""
    trusted = trust_published and max_frames is not None
    scan = _scan(header, read_at, start, max_bytes, max_frames, keep_pages, trusted)
    if trusted and scan.frames and read_at(16, 8) != struct.pack(">2I", *header.salts):
        return _scan(header, read_at, start, max_bytes, max_frames, keep_pages, False)
    return scan


def _scan(
    header: WALHeader,
    read_at: ReadAt,
    start: WALPosition | None,
    max_bytes: int | None,
    max_frames: int | None,
    keep_pages: bool,
    trusted: bool,
) -> WALScan:
    """``scan_wal``'s loop, verifying checksums unless ``trusted`` (a restart while a
    trusting scan read makes ``scan_wal`` run it again verifying)."""
    pos = start or WALPosition.start(header)
    if (pos.salt1, pos.salt2) != header.salts:
        raise UsageError("scan position belongs to another WAL (salts differ)")
    fsz = frame_size(header.page_size)
    pages: dict[int, Any] = {}  # page bytes, or frame offsets without keep_pages
    pending: dict[int, Any] = {}
    sums, offset = (pos.checksum1, pos.checksum2), pos.offset
    end, commit, txns, frames, stopped = pos, 0, 0, 0, "end"
    while True:
        want = fsz * _BATCH
        if max_frames is not None:
            want = min(want, WAL_HEADER_SIZE + max_frames * fsz - offset)
        chunk = read_at(offset, want) if want > 0 else b""
        if len(chunk) < fsz:
            break
        for at in range(0, len(chunk) - fsz + 1, fsz):
            if trusted:
                fault, sums2 = _frame_published(header, chunk, at)
                sums = sums2 if not fault else sums
            else:
                fault, sums = _frame_fault(header, chunk[at : at + fsz], sums)
            if fault:
                stopped = f"WAL frame at offset {offset + at}: {fault}"
                break
            pgno, size = struct.unpack_from(">II", chunk, at)
            pending[pgno] = chunk[at + FRAME_HEADER_SIZE : at + fsz] if keep_pages else offset + at
            frames += 1
            if not size:
                continue
            pages.update(pending)
            pending = {}
            for p in [p for p in pages if p > size]:
                del pages[p]
            commit, txns = size, txns + 1
            end = WALPosition(offset + at + fsz, *header.salts, *sums)
            if max_bytes is not None and end.offset - pos.offset >= max_bytes:
                stopped = "limit"
                break
        else:
            offset += len(chunk) - len(chunk) % fsz
            continue
        break
    if not keep_pages:
        return WALScan(pos, end, commit, {}, txns, frames, stopped, offsets=pages)
    return WALScan(pos, end, commit, pages, txns, frames, stopped)
