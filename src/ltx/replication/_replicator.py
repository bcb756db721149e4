"""``Replicator``: a live SQLite database streamed to replicas as Litestream 0.5 does.

Each ``sync`` captures what committed since the last one into one level-0 file at the
next TXID and creates it on every target; then the checkpoint policy runs. ``start``
runs syncs in a thread: as soon as a change is seen once the last sync is
``sync_interval`` seconds old (``_pace``), right after each commit of an attached apsw
connection; the compaction levels (``levels=``) run on a second thread, so a sync
never waits for a compaction. Every step is a plain method so tests can drive it.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

import attrs

from ltx.compaction import LevelsConfig
from ltx.errors import LeaseLostError, LTXError
from ltx.replica import Replica
from ltx.replica import open as open_replica

from ._capture import Capture, Position, capture, joined
from ._checkpoint import MIN_CHECKPOINT_PAGES, TRUNCATE_PAGES, Checkpoints
from ._compactor import Compacting
from ._lease import DEFAULT_TTL, Leases
from ._levels import Schedule, levels_option
from ._pace import Pacer
from ._source import Connect, Database, stdlib_connect
from ._stage import remove_stale
from ._targets import Targets

__all__ = ["Replicator", "Synced"]

RECENT_BYTES = 32 << 20
"""Bytes of uploaded files a remote target keeps for the compactor (files over a
quarter of it are read back from the store)."""

MAX_SYNC_BYTES = 64 << 20
"""Litestream's ``max-sync-wal-bytes``: one level-0 file covers at most about this much."""


@attrs.frozen
class Synced:
    """One level-0 file written by a sync."""

    txid: int
    snapshot: bool
    reason: str
    pages: int
    commit: int
    transactions: int


class Replicator(Checkpoints, Compacting):
    """Replicates the WAL database at ``db_path`` to every URL (or ``Replica``) given."""

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        *targets: str | Replica,
        sync_interval: float = 1.0,
        checkpoint_interval: float = 60.0,
        min_checkpoint_pages: int = MIN_CHECKPOINT_PAGES,
        truncate_pages: int = TRUNCATE_PAGES,
        max_sync_bytes: int = MAX_SYNC_BYTES,
        connect: Connect = stdlib_connect,
        clock: Callable[[], float] = time.time,
        on_error: Callable[[BaseException], None] | None = None,
        replica_options: dict[str, Any] | None = None,
        lease: bool = True,
        lease_ttl: float = DEFAULT_TTL,
        owner: str | None = None,
        on_lease_lost: Callable[[LeaseLostError], None] | None = None,
        on_sync: Callable[[Synced], None] | None = None,
        levels: LevelsConfig | bool | None = None,
    ) -> None:
        if not targets:
            raise LTXError("a Replicator needs at least one replica URL")
        self.db_path = os.fspath(db_path)
        self._target_specs = targets
        self._replica_options = replica_options or {}
        self.sync_interval = sync_interval
        self.checkpoint_interval = checkpoint_interval
        self.min_checkpoint_pages = min_checkpoint_pages
        self.truncate_pages = truncate_pages
        self.max_sync_bytes = max_sync_bytes
        self._connect = connect
        self.clock = clock
        self.on_error = on_error
        self.db: Database | None = None
        self.targets: Targets | None = None
        self.position: Position | None = None
        self.last: Synced | None = None
        self.files_written = 0
        self._batch: list[Synced] = []
        self._unflushed: Capture | None = None
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._compactor: threading.Thread | None = None
        self._compact_lock = threading.Lock()
        self._compacting: list[Replica] = []
        self._last_checkpoint = clock()
        self._synced_since_checkpoint = False
        self._checkpoint_next = False
        self.last_error: BaseException | None = None
        self.use_lease = lease
        self.lease_ttl = lease_ttl
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.on_lease_lost = on_lease_lost
        self.on_sync = on_sync
        self.leases = Leases(self.owner, lease_ttl)
        self.levels = levels_option(levels)
        self._schedule = Schedule(self.levels, clock) if self.levels else None

    def __repr__(self) -> str:
        pos = self.position.txid if self.position else None
        return f"<Replicator {self.db_path} txid={pos}>"

    # -- life -------------------------------------------------------------------

    def open(self) -> Replicator:
        """Open the database and the replicas and find the replica's position (no thread)."""
        with self._lock:
            if self.db is not None:
                return self
            replicas = [
                t if isinstance(t, Replica) else self._open_target(t) for t in self._target_specs
            ]
            self.db = Database(self.db_path, self._connect)
            try:
                if self.use_lease:
                    self.leases.acquire([r.store for r in replicas])
                levels = self.levels.max_level if self.levels else 0
                self.targets = Targets(replicas, self.db_path, levels)
                remove_stale(self.db_path)
                self.position = self.targets.align()
            except BaseException:
                self.leases.release()
                self.db.close()
                self.db = None
                raise
        return self

    def _open_target(self, url: str) -> Replica:
        """A replica opened from a URL; its store keeps what we upload until the
        compactor has read it back (no GET per level-0 file on a remote store)."""
        replica = open_replica(url, **self._replica_options)
        replica.store.keep_recent(RECENT_BYTES)
        return replica

    def start(self) -> Replicator:
        """Open, sync once, and keep syncing in a background thread; when the first sync
        fails, hand back what ``open`` took (connections, leases) and re-raise."""
        self.open()
        try:
            self.sync()
        except BaseException:
            with self._lock:
                self._close()
            raise
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="ltx-replicator", daemon=True)
            self._thread.start()
        if self._compactor is None and self.levels is not None:
            self._compactor = threading.Thread(
                target=self._compact_loop, name="ltx-compactor", daemon=True
            )
            self._compactor.start()
        return self

    def stop(self) -> None:
        """Stop the thread (a running compaction is abandoned at its next page), run a
        final sync, close the database connections."""
        self._stopping.set()
        self._wake.set()
        for t in (self._thread, self._compactor):
            if t is not None:
                t.join()
        self._thread = self._compactor = None
        with self._lock:
            if self.db is None:
                return
            try:
                if not self.leases.lost:
                    self.sync()
                    if self.position is not None and self.position.restarted_to:
                        self._sync_all()  # our restart's write: a restart goes on from it
            finally:
                self._close()

    def _close(self) -> None:
        """Drop the pending upload, release the leases, close the database (lock held)."""
        if self.targets is not None:
            self.targets.discard()
        self._unflushed = None
        self.leases.release()
        self._compacting = []
        if self.db is not None:
            self.db.close()
            self.db = None

    def __enter__(self) -> Replicator:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def attach(self, conn: Any) -> None:
        """Sync right after each commit of an apsw connection (through its WAL hook,
        which also turns off that connection's own autocheckpoint: we checkpoint)."""

        def hook(_conn: Any, _name: str, _frames: int) -> int:
            self._wake.set()
            return 0

        conn.set_wal_hook(hook)

    def notify(self) -> None:
        """Ask the background thread to sync now (after a commit, say)."""
        self._wake.set()

    def _run(self) -> None:
        """Sync when the pacer says (see ``_pace``), then compact when due."""
        pacer = Pacer(self.sync_interval, self._change_hint)
        while pacer.wait(self._wake, self._stopping):
            synced = False
            try:
                self._keep_lease()
                self.sync()
                synced = True
            except LeaseLostError as exc:
                self.last_error = exc
                return  # never write again; the app was told
            except Exception as exc:
                self.last_error = exc
                if self.on_error is not None:
                    self.on_error(exc)
            pacer.done(synced)

    def _change_hint(self) -> object:
        db = self.db
        return db.change_hint() if db is not None else None

    # -- steps ------------------------------------------------------------------

    def sync(self) -> list[Synced]:
        """Finish any pending upload, then write what the WAL holds as level-0 files (one
        per ``max_sync_bytes``); when the checkpoint policy said so at the last sync, this
        one captures under SQLite's write lock and checkpoints (``_checkpoint``)."""
        with self._lock:
            self._batch = []
            if self._checkpoint_ahead():
                self._flush()  # a failed upload first, outside SQLite's write lock
                if self._checkpoint() is not None:
                    return self._batch
            self._sync_all()
            self._checkpoint_next = self._checkpoint_wanted()  # with the next sync's capture
            return self._batch

    def _sync_all(self, *, upload: bool = True, ahead: Capture | None = None) -> None:
        """Capture and upload until the WAL is read; ``upload=False`` leaves the last
        file pending (``_flush`` uploads it), for a caller holding the write lock, and
        ``ahead`` (captured from our position before the lock) starts its first file."""
        db, targets = self._opened()
        if self.leases.lost:
            raise LeaseLostError("the write lease was lost; this replicator writes no more")
        if db.wal_missing():
            db.bump()  # a WAL to hold a position in (the app's next write would make one)
        while True:
            self._flush()  # the previous file first: TXIDs land in order
            self._keep_lease(force=True)
            with db.reading():  # a snapshot's pages are read while it is encoded
                cap = self._capture(db, ahead)
                ahead = None
                if cap is None:
                    return
                targets.write(cap, int(self.clock() * 1000))
            self.position = cap.end  # the file is ours now: a failed upload is retried as is
            self._unflushed = cap
            if upload:
                self._flush()
            if cap.end.wal is None:
                return  # the WAL vanished under us: the next sync starts over
            if cap.wal[1] < self.max_sync_bytes:
                return  # all it held when read; chasing a busy writer would never end

    def _capture(self, db: Database, ahead: Capture | None) -> Capture | None:
        """The next file from our position: ``ahead`` and what committed after it as
        one file when they join, else captured again from the position."""
        if ahead is not None:
            cap = joined(ahead, capture(db, ahead.end, max_bytes=self.max_sync_bytes))
            if cap is not None:
                return cap
        return capture(db, self.position, max_bytes=self.max_sync_bytes)

    def _flush(self) -> None:
        """Upload the pending file to every target; then it counts as synced."""
        _, targets = self._opened()
        targets.flush()
        cap, self._unflushed = self._unflushed, None
        if cap is None:
            return
        self._synced_since_checkpoint = True
        s = Synced(cap.txid, cap.snapshot, cap.reason, len(cap.pages), cap.commit, cap.transactions)
        self._batch.append(s)
        self.last, self.files_written = s, self.files_written + 1
        if self.on_sync is not None:
            self.on_sync(s)

    def _keep_lease(self, *, force: bool = False) -> None:
        """Renew the leases when a third of the TTL is left (or before any write when it
        is already gone); on loss, stop writing and tell the app."""
        if not self.use_lease:
            return
        try:
            self.leases.keep(margin=self.lease_ttl * (2 / 3 if not force else 1 / 3))
        except LeaseLostError as exc:
            if self.on_lease_lost is not None:
                self.on_lease_lost(exc)
            raise

    def _opened(self) -> tuple[Database, Targets]:
        if self.db is None or self.targets is None:
            self.open()
        assert self.db is not None and self.targets is not None
        return self.db, self.targets
