"""The replicas a replicator writes: one position, the same TXIDs and bytes on each.

A file is encoded once and created (if absent) on every target. A target left behind
(a crash between two uploads) first gets the files it misses, copied byte for byte
from the one ahead; when they are gone, every target gets a snapshot instead.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from ltx.codec import (
    HEADER_FLAG_NO_CHECKSUM,
    HEADER_SIZE,
    SNAPSHOT_LEVEL,
    Decoder,
    FileInfo,
    Header,
    lock_pgno,
)
from ltx.errors import ConflictError, FormatError, NotFoundError
from ltx.replica import Replica
from ltx.sqlitefmt.wal import WALPosition

from ._capture import Capture, DbPages, Position
from ._stage import download, stage

__all__ = ["COPY_IN_MEMORY", "Targets"]

COPY_IN_MEMORY = 8 << 20
"""A file another target lacks is copied through memory up to this size, else via disk."""


class Targets:
    """One or more replicas kept at one position."""

    def __init__(self, replicas: Sequence[Replica], db_path: str, levels: int = 0) -> None:
        self.replicas = list(replicas)
        self.db_path = db_path
        self.levels = levels  # compaction levels 1..levels in use (see _snapshot_at)
        # txid, bytes (or the staged file of a snapshot), timestamp, page size
        self.pending: tuple[int, bytes | Path, int, int] | None = None
        self.rebase = False  # the pending file changes the page size (see _snapshot_at)
        self.page_size: int | None = None  # of the newest level-0 file (None: none yet)

    def align(self) -> Position:
        """List every target, copy missing level-0 files to those behind, and return the
        position the newest level-0 file records (``wal`` None: snapshot next)."""
        for r in self.replicas:
            r.refresh()
        top = max(self.replicas, key=lambda r: r.position or 0)
        txid = top.position or 0
        newest = max(top.store.list_level(0), key=lambda f: f.max_txid, default=None)
        for r in self.replicas:
            if (r.position or 0) < txid and not self._copy(top, r, txid):
                return self._unknown(top, txid)
        if newest is None or newest.max_txid != txid:
            return self._unknown(top, txid)
        try:
            head = Header.from_bytes(top.store.read_range(newest.path, 0, HEADER_SIZE))
        except FormatError as exc:  # stop: never write past a file we cannot read
            raise exc.at(newest.path) from None
        self.page_size = head.page_size
        wal = None
        if head.wal_size or head.wal_offset:
            end = head.wal_offset + head.wal_size
            wal = WALPosition(end, head.wal_salt1, head.wal_salt2, 0, 0)
        return Position(txid, wal, head.commit, head.page_size)

    def _unknown(self, top: Replica, txid: int) -> Position:
        """A snapshot next, at ``txid`` + 1; the page size is the newest file's."""
        files = [f for f in top.refresh() if f.max_txid == txid]
        if files:
            path = min(files, key=lambda f: f.level).path
            try:
                self.page_size = Header.from_bytes(
                    top.store.read_range(path, 0, HEADER_SIZE)
                ).page_size
            except FormatError as exc:  # as for the newest level-0 file: stop, naming it
                raise exc.at(path) from None
        return Position(txid, None)

    def _copy(self, src: Replica, dst: Replica, upto: int) -> bool:
        """Copy src's level-0 files past dst's position; False when one is missing."""
        have = {f.max_txid: f for f in src.store.list_level(0) if f.min_txid == f.max_txid}
        for txid in range((dst.position or 0) + 1, upto + 1):
            if txid not in have:
                return False
            try:
                data = self._fetch(src, have[txid])
            except NotFoundError:
                return False
            try:
                head = Header.from_bytes(_head(data))
                self._put_one(dst, txid, data, head.timestamp, head.page_size)
            finally:
                if isinstance(data, Path):
                    os.unlink(data)
        return True

    def _fetch(self, src: Replica, f: FileInfo) -> bytes | Path:
        """A file of ``src`` in memory, or staged beside the database when it is large
        (a full level-0 file holds the whole database)."""
        if f.size <= COPY_IN_MEMORY:
            return src.store.read(f.path)
        with src.store.open_reader(f) as fp:
            return download(self.db_path, fp, f.size)

    def write(self, cap: Capture, timestamp_ms: int) -> None:
        """Encode ``cap`` once as the pending upload (``flush`` creates it everywhere): in
        memory, or a snapshot streamed to a file staged beside the database."""
        lead = self.replicas[0].writer
        data: bytes | Path
        if isinstance(cap.pages, DbPages):
            header = lead.next_header(
                cap.commit, timestamp_ms, cap.page_size, txid=cap.txid, wal=cap.wal, whole=True
            )
            txid, data = cap.txid, stage(self.db_path, header, cap.pages, len(cap.pages))
        else:
            txid, data = lead.prepare(
                cap.pages,
                cap.commit,
                timestamp_ms,
                page_size=cap.page_size,
                txid=cap.txid,
                wal=cap.wal,
            )
        self.discard()
        self.pending = (txid, data, timestamp_ms, cap.page_size)
        self.rebase = isinstance(data, Path) and self.page_size not in (None, cap.page_size)

    def flush(self) -> None:
        """Finish the pending upload on every target that lacks it."""
        if self.pending is None:
            return
        txid, data, ts, page_size = self.pending
        for r in self.replicas:
            if (r.position or 0) < txid:
                if self.rebase and isinstance(data, Path):
                    self._snapshot_at(r, txid, data, ts)
                self._put_one(r, txid, data, ts, page_size)
        self.page_size = page_size
        self.discard()

    def _snapshot_at(self, r: Replica, txid: int, staged: Path, ts: int) -> None:
        """The page size changed with the full level-0 file ``staged``: before it lands,
        the same pages as a level-9 snapshot 1..``txid`` and as the next file of each
        compaction level (from its newest file on). So restores from ``txid`` on start
        there, and no restore or compaction merges files of two page sizes (which
        Litestream refuses). Written first, so a crash before the level-0 file leaves a
        replica whose next file (a snapshot above ``txid``) follows them."""
        starts = {SNAPSHOT_LEVEL: 1}
        for level in range(1, self.levels + 1):
            starts[level] = max((f.max_txid for f in r.store.list_level(level)), default=0) + 1
        for level, first in starts.items():
            if first <= txid:
                path = self._restage(staged, first, txid, ts)
                try:
                    r.store.write(level, first, txid, path, timestamp_ms=ts)
                finally:
                    os.unlink(path)

    def _restage(self, staged: Path, first: int, txid: int, ts: int) -> Path:
        """The full file ``staged`` again, as TXIDs ``first``..``txid``."""
        with open(staged, "rb") as fp:
            head = Header.from_bytes(fp.read(HEADER_SIZE))
        out = Header(
            flags=HEADER_FLAG_NO_CHECKSUM,
            page_size=head.page_size,
            commit=head.commit,
            min_txid=first,
            max_txid=txid,
            timestamp=ts,
        )
        count = head.commit - (head.commit >= lock_pgno(head.page_size))
        with open(staged, "rb") as fp:
            return stage(self.db_path, out, ((ph.pgno, d) for ph, d in Decoder(fp)), count)

    def discard(self) -> None:
        """Forget the pending upload (and remove its staged file)."""
        if self.pending is not None and isinstance(self.pending[1], Path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.pending[1])
        self.pending = None

    @staticmethod
    def _put_one(r: Replica, txid: int, data: bytes | Path, ts: int, page_size: int) -> None:
        """Create file ``txid``; one already there with our bytes (an earlier attempt
        that landed) counts as written, any other is another writer's: ConflictError."""
        try:
            r.writer.put(txid, data, ts, page_size)
        except ConflictError:
            path = r.store.file_path(0, txid, txid)
            try:
                same = r.store._holds(path, data if isinstance(data, bytes) else os.fspath(data))
            except NotFoundError:
                same = False
            if not same:
                raise
            r.writer.position, r.writer.page_size = txid, page_size


def _head(data: bytes | Path) -> bytes:
    """The header bytes of an LTX file in memory or on local disk."""
    if isinstance(data, bytes):
        return data[:HEADER_SIZE]
    with open(data, "rb") as fp:
        return fp.read(HEADER_SIZE)
