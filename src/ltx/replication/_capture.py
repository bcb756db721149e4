"""One capture: what the WAL holds past the replica's position, as one level-0 file.

Litestream's rules: only committed transactions count; a run of them becomes one file
at the next TXID (WAL offset, size and salts in its header); a WAL restart we did not
cause, a foreign checkpoint or downtime makes the next file a snapshot of the whole
database. Pages the database grew by without writing them come from the db file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import attrs

from ltx.codec import lock_pgno
from ltx.errors import TransientStorageError
from ltx.sqlitefmt.wal import (
    FRAME_HEADER_SIZE,
    FrameHeader,
    ReadAt,
    WALHeader,
    WALPosition,
    WALScan,
    frame_size,
    resume_position,
    scan_wal,
)

from ._source import Database

__all__ = ["Capture", "DbPages", "Position", "capture", "joined"]


@attrs.frozen
class Position:
    """Where the replica stands in the database's WAL after its newest level-0 file.

    ``wal`` is None when the next file must be a snapshot. ``restarted_to`` names the
    salts of a WAL that continues from its first frame exactly where ``wal`` ends (we saw
    the restart that followed our own full checkpoint, proven to hold every commit
    since: see ``_checkpoint``).
    """

    txid: int
    wal: WALPosition | None
    commit: int = 0
    page_size: int = 0
    restarted_to: tuple[int, int] | None = None


@attrs.frozen
class DbPages:
    """Pages 1..Commit of a snapshot, read one by one as iterated (ascending): the WAL's
    newest copies (by frame offset, checked to be the frame scanned), the rest from the
    db file. So neither the snapshot nor the WAL is held in memory; iterate only inside
    the read transaction of the capture (``Database.reading``)."""

    db: Database
    wal_frames: Mapping[int, int]
    commit: int
    page_size: int
    salts: tuple[int, int] = (0, 0)

    def __len__(self) -> int:
        return self.commit - (self.commit >= lock_pgno(self.page_size))

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        lock, size = lock_pgno(self.page_size), self.page_size
        with contextlib.ExitStack() as stack:
            read = stack.enter_context(self.db.wal())[1] if self.wal_frames else None
            for p in range(1, self.commit + 1):
                at = self.wal_frames.get(p)
                if p == lock:
                    continue
                if at is not None and read is not None:
                    yield p, self._frame(read, at, p)
                else:
                    yield p, self.db.read_db((p - 1) * size, size)

    def _frame(self, read: ReadAt, at: int, pgno: int) -> bytes:
        """Page ``pgno`` of the frame at ``at``; a typed error if the WAL no longer holds
        that frame there (restarted under us: the next sync starts over)."""
        raw = read(at, frame_size(self.page_size))
        if len(raw) == frame_size(self.page_size):
            fh = FrameHeader.parse(raw[:FRAME_HEADER_SIZE])
            if (fh.pgno, fh.salt1, fh.salt2) == (pgno, *self.salts):
                return raw[FRAME_HEADER_SIZE:]
        raise TransientStorageError(
            f"WAL frame at offset {at} changed while a snapshot read it", url=self.db.wal_path
        )


@attrs.frozen
class Capture:
    """One level-0 file to write: pages (a ``DbPages`` for a snapshot), Commit, the WAL
    range, and the position after."""

    txid: int
    pages: dict[int, bytes] | DbPages
    commit: int
    page_size: int
    wal: tuple[int, int, int, int]
    snapshot: bool
    reason: str
    end: Position
    transactions: int


def _why_snapshot(pos: Position | None, hdr: WALHeader | None, read: ReadAt) -> str | WALPosition:
    """The reason the next file must be a snapshot, or where reading resumes."""
    if pos is None or pos.txid == 0:
        return "first sync"
    if pos.wal is None:
        return "position unknown"
    if hdr is None:
        return "WAL missing"
    if hdr.page_size != pos.page_size:
        return f"page size changed to {hdr.page_size}"
    if hdr.salts == (pos.wal.salt1, pos.wal.salt2):
        start = resume_position(hdr, read, pos.wal.offset)
        if start is None or (pos.wal.checksum1, pos.wal.checksum2) not in (
            (0, 0),
            (start.checksum1, start.checksum2),
        ):
            return "WAL no longer holds the replica's position"
        return start
    if pos.restarted_to == hdr.salts:
        return WALPosition.start(hdr)
    return "WAL restarted by a checkpoint we did not run"


def _snapshot(db: Database, hdr: WALHeader | None, scan: WALScan | None, txid: int) -> Capture:
    page_size = hdr.page_size if hdr is not None else db.db_page_size()
    commit = scan.commit if scan is not None and scan.commit else db.db_size() // page_size
    if scan is not None and hdr is not None:
        pages = DbPages(db, scan.offsets, commit, page_size, hdr.salts)
        wal = (scan.start.offset, scan.wal_size, *hdr.salts)
        end = Position(txid, scan.end, commit, page_size)
    else:
        pages = DbPages(db, {}, commit, page_size)
        wal, end = (0, 0, 0, 0), Position(txid, None, commit, page_size)
    n = scan.transactions if scan is not None else 0
    return Capture(txid, pages, commit, page_size, wal, True, "", end, n)


def capture(db: Database, pos: Position | None, *, max_bytes: int | None = None) -> Capture | None:
    """Read the WAL past ``pos`` under a short read transaction: the next level-0 file,
    or None when no transaction committed since. A snapshot's pages are read when
    iterated: call this inside ``db.reading()`` and encode them before it ends."""
    txid = (pos.txid if pos is not None else 0) + 1
    with db.reading(), db.wal() as (hdr, read):
        start = _why_snapshot(pos, hdr, read)
        bound = db.published_frames(hdr) if hdr is not None else None
        if isinstance(start, str):
            scan = None
            if hdr is not None:
                scan = scan_wal(hdr, read, max_frames=bound, keep_pages=False, trust_published=True)
            return attrs.evolve(_snapshot(db, hdr, scan, txid), reason=start)
        assert hdr is not None and pos is not None
        scan = scan_wal(
            hdr, read, start, max_bytes=max_bytes, max_frames=bound, trust_published=True
        )
        if not scan.transactions:
            return None
        pages = dict(scan.pages)
        lock = lock_pgno(hdr.page_size)
        for p in range(pos.commit + 1, scan.commit + 1):
            if p not in pages and p != lock:
                pages[p] = db.read_db((p - 1) * hdr.page_size, hdr.page_size)
    end = Position(txid, scan.end, scan.commit, hdr.page_size)
    wal = (scan.start.offset, scan.wal_size, *hdr.salts)
    return Capture(txid, pages, scan.commit, hdr.page_size, wal, False, "", end, scan.transactions)


def joined(a: Capture, b: Capture | None) -> Capture | None:
    """``a`` then ``b`` (captured from ``a.end``) as one level-0 file at ``a``'s TXID;
    None when they cannot be one: a snapshot, another WAL, a gap, another page size."""
    if b is None:
        return a
    if isinstance(a.pages, DbPages) or isinstance(b.pages, DbPages):
        return None
    if a.wal[2:] != b.wal[2:] or b.wal[0] != a.wal[0] + a.wal[1] or a.page_size != b.page_size:
        return None
    pages = {p: d for p, d in (a.pages | b.pages).items() if p <= b.commit}
    wal = (a.wal[0], a.wal[1] + b.wal[1], *a.wal[2:])
    end = attrs.evolve(b.end, txid=a.txid)
    n = a.transactions + b.transactions
    return attrs.evolve(b, txid=a.txid, pages=pages, wal=wal, end=end, transactions=n)
