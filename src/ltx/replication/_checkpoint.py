"""The replicator's checkpoints, on Litestream's thresholds (a mixin of ``Replicator``).

A checkpoint copies only frames captured first. Most are copied while our read
transaction pins the WAL (the app keeps writing); the last few under SQLite's write
lock, taken before that transaction ends. Once the lock is released one write restarts
the WAL, and only then is the file holding the last frames uploaded (the app's commits
never wait for an upload).
The restart's write rides with the next sync; the new WAL is taken as continuing ours
only when SQLite's shared index proves no commit landed between them (``_continues``).
A sync that finds the thresholds passed leaves the checkpoint to the next one, which
captures and checkpoints as above (``_checkpoint_ahead``; so does a sync that sees
SQLite has published enough frames): one level-0 file per sync, not three.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import attrs

from ltx.sqlitefmt.wal import WAL_HEADER_SIZE, frame_size, scan_wal

from ._capture import Capture, Position, capture
from ._source import Database
from ._targets import Targets

__all__ = ["MIN_CHECKPOINT_PAGES", "TRUNCATE_PAGES", "Checkpoints"]

TRUNCATE_PAGES = 121359
"""Litestream's ``truncate-page-n``: past this many WAL pages, the WAL file is cut."""
MIN_CHECKPOINT_PAGES = 1000
"""Litestream's ``min-checkpoint-page-count``: a PASSIVE checkpoint past this many."""
PINNED_WAIT = 1.0
"""Seconds a checkpoint waits for the write lock while its read transaction pins the
WAL: an app's own blocking checkpoint (FULL, RESTART, TRUNCATE) takes the write lock
and waits for readers, so it waits for us at most this long (the next sync tries again)."""
_U32 = 0xFFFFFFFF


class Checkpoints:
    """Checkpoint policy and mechanics; the state lives on the ``Replicator``."""

    position: Position | None
    min_checkpoint_pages: int
    truncate_pages: int
    checkpoint_interval: float
    clock: Callable[[], float]
    _lock: threading.RLock
    _last_checkpoint: float
    _synced_since_checkpoint: bool
    _checkpoint_next: bool
    max_sync_bytes: int

    def _opened(self) -> tuple[Database, Targets]:
        raise NotImplementedError

    def _sync_all(self, *, upload: bool = True, ahead: Capture | None = None) -> None:
        raise NotImplementedError

    def _flush(self) -> None:
        raise NotImplementedError

    def _wal_pages(self) -> int:
        pos = self.position
        if pos is None or pos.wal is None or not pos.page_size:
            return 0
        return (pos.wal.offset - WAL_HEADER_SIZE) // frame_size(pos.page_size)

    def _checkpoint_wanted(self) -> bool:
        """Litestream's thresholds: past ``min_checkpoint_pages`` synced WAL pages, or
        ``checkpoint_interval`` seconds after the last one when data was synced since."""
        pages = self._wal_pages()
        due = self._synced_since_checkpoint and (
            self.clock() - self._last_checkpoint >= self.checkpoint_interval
        )
        return pages >= self.min_checkpoint_pages or bool(pages and due)

    def _checkpoint_ahead(self) -> bool:
        """True when this sync should be the checkpoint's: the last one found it due
        (``_checkpoint_next``), or SQLite has already published ``min_checkpoint_pages``
        frames of the WAL we are in."""
        pos = self.position
        if pos is None or pos.wal is None:
            return False
        if self._checkpoint_next:
            return True
        db, _ = self._opened()
        with db.wal() as (hdr, _read):
            if hdr is None or hdr.salts != (pos.wal.salt1, pos.wal.salt2):
                return False
            frames = db.published_frames(hdr)
        return frames is not None and frames >= self.min_checkpoint_pages

    def checkpoint(self) -> bool:
        """A PASSIVE checkpoint sealed by SQLite's write lock, then the write that
        restarts the WAL (cut to its new size): True when the whole WAL was copied."""
        return bool(self._checkpoint())

    def _checkpoint(self) -> bool | None:
        """``checkpoint``; None when the write lock was not had (nothing was done).

        Most of the work is done before the lock, while our read transaction pins the
        WAL: the frames are captured and copied (``precopy``, its fsyncs included). The
        write lock is taken before that transaction ends, so no restart can come between;
        the app's commits then wait only for the last frames and their copy. The lock is
        waited for ``PINNED_WAIT`` at most."""
        with self._lock:
            db, _ = self._opened()
            with db.reading() as release:
                ahead = self._capture_ahead(db)
                db.precopy()
                with db.writes_held(PINNED_WAIT) as held:
                    release()  # the write lock keeps the WAL from restarting now
                    if not held:
                        return None
                    pos, full, changes = self._checkpoint_held(db, ahead)
            self._last_checkpoint = self.clock()
            self._synced_since_checkpoint = False
            try:
                if full and pos is not None:
                    self._restart_wal(db, pos, changes)  # at once: the app may write meanwhile
            finally:
                self._flush()
            return full

    def _checkpoint_held(
        self, db: Database, ahead: Capture | None
    ) -> tuple[Position | None, bool, int | None]:
        """Under SQLite's write lock: the last frames captured (uploaded after the lock),
        the rest of the WAL copied; our position, whether all of the WAL was copied, and
        the shared index's commit count the copied WAL ends at."""
        self._checkpoint_next = False
        self._sync_all(upload=False, ahead=ahead)
        busy, log, copied = db.checkpoint("PASSIVE")
        index = db.index_header()
        pos = self.position
        full = (
            busy == 0
            and log == copied
            and pos is not None
            and pos.wal is not None
            and pos.wal.offset == WAL_HEADER_SIZE + log * frame_size(pos.page_size)
        )
        return pos, full, index.changes if index is not None else None

    def _capture_ahead(self, db: Database) -> Capture | None:
        """What committed since our position, read before taking SQLite's write lock
        (inside the checkpoint's read transaction); not a snapshot, whose pages are read
        while it is encoded."""
        cap = capture(db, self.position, max_bytes=self.max_sync_bytes)
        return cap if cap is not None and not cap.snapshot else None

    def _restart_wal(self, db: Database, pos: Position, changes: int | None) -> None:
        """After our full checkpoint at ``pos``: the write that restarts the WAL; then,
        if the new WAL provably continues our position from its first frame, the
        position says so (``_continues``); if not, the next sync decides as for any WAL
        it finds. When the app keeps the write lock past the busy timeout its own next
        write restarts the WAL: the same check then follows it."""
        try:
            db.bump(truncate=self._wal_pages() >= self.truncate_pages)
        except Exception as exc:  # sqlite3's OperationalError or apsw's BusyError
            if "locked" not in str(exc).lower():
                raise
        salts = _continues(db, pos, changes)
        if salts is not None:
            self.position = attrs.evolve(pos, restarted_to=salts)


def _continues(db: Database, pos: Position, changes: int | None) -> tuple[int, int] | None:
    """The salts of the WAL now in place if it was restarted after our checkpoint at
    ``pos`` and continues it from its first frame: if every commit since is in it.

    ``changes`` was the shared index's commit count (``iChange``: one per commit, none
    for a restart) when our checkpoint had copied the WAL; the count now, less the
    commits in the new WAL, is the number that landed elsewhere. A writer whose read
    began before our checkpoint ended appends to the old WAL instead of restarting it;
    the app's own checkpoint may then copy that commit and its next write restart the
    WAL, and the new WAL lacks it. (The WAL header's checkpoint sequence proves
    nothing here: each connection counts its own restarts.)
    """
    with db.wal() as (hdr, read):
        index = db.index_header()
        if hdr is None or index is None or changes is None or pos.wal is None:
            return None
        if index.salts != hdr.salts or hdr.salts == (pos.wal.salt1, pos.wal.salt2):
            return None
        scan = scan_wal(hdr, read, max_frames=index.frames, keep_pages=False, trust_published=True)
        if scan.frames != index.frames or scan.transactions != (index.changes - changes) & _U32:
            return None
        return hdr.salts
