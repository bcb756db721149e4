"""The replicator's checkpoints, on Litestream's thresholds (a mixin of ``Replicator``).

A PASSIVE checkpoint runs under SQLite's write lock, so every frame it copies was
captured first; once the lock is released one write restarts the WAL, and only then is
the file holding the last frames uploaded (the app's commits never wait for an upload).
The restart's write rides with the next sync. A sync that finds the thresholds passed
leaves the checkpoint to the next one, which captures under the lock and checkpoints
(``_checkpoint_ahead``; so does a sync that sees SQLite has published enough frames):
one level-0 file per sync, not three.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import attrs

from ltx.sqlitefmt.wal import WAL_HEADER_SIZE, frame_size

from ._capture import Position
from ._source import Database
from ._targets import Targets

__all__ = ["MIN_CHECKPOINT_PAGES", "TRUNCATE_PAGES", "Checkpoints"]

TRUNCATE_PAGES = 121359
"""Litestream's ``truncate-page-n``: past this many WAL pages, the WAL file is cut."""
MIN_CHECKPOINT_PAGES = 1000
"""Litestream's ``min-checkpoint-page-count``: a PASSIVE checkpoint past this many."""


class Checkpoints:
    """Checkpoint policy and mechanics; the state lives on the ``Replicator``."""

    position: Position | None
    min_checkpoint_pages: int
    checkpoint_interval: float
    clock: Callable[[], float]
    _lock: threading.RLock
    _last_checkpoint: float
    _synced_since_checkpoint: bool
    _checkpoint_next: bool

    def _opened(self) -> tuple[Database, Targets]:
        raise NotImplementedError

    def _sync_all(self, *, upload: bool = True) -> None:
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
        """``checkpoint``; None when the write lock was not had (nothing was done)."""
        with self._lock:
            db, _ = self._opened()
            with db.writes_held() as held:
                if not held:
                    return None
                self._checkpoint_next = False
                self._sync_all(upload=False)  # captured under the lock, uploaded after it
                busy, log, copied = db.checkpoint("PASSIVE")
                pos = self.position
                full = (
                    busy == 0
                    and log == copied
                    and pos is not None
                    and pos.wal is not None
                    and pos.wal.offset == WAL_HEADER_SIZE + log * frame_size(pos.page_size)
                )
            self._last_checkpoint = self.clock()
            self._synced_since_checkpoint = False
            try:
                if full and pos is not None:
                    self._restart_wal(db, pos)  # at once: the app may write meanwhile
            finally:
                self._flush()
            return full

    def _restart_wal(self, db: Database, pos: Position) -> None:
        """After our full checkpoint at ``pos``: the write that restarts the WAL. If the
        header then shows exactly one restart, the new WAL continues our position from
        its first frame; if not (a reader kept the old WAL, or more happened), the next
        sync decides as for any WAL it finds. When the app keeps the write lock past the
        busy timeout its own next write restarts the WAL: the same check then follows it."""
        try:
            db.bump()
        except Exception as exc:  # sqlite3's OperationalError or apsw's BusyError
            if "locked" not in str(exc).lower():
                raise
        with db.wal() as (hdr, _read):
            if hdr is None or pos.wal is None or hdr.checkpoint_seq != pos.seq + 1:
                return
            if hdr.salts != (pos.wal.salt1, pos.wal.salt2):
                self.position = attrs.evolve(pos, restarted_to=hdr.salts)
