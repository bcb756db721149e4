"""When the replicator's thread syncs.

``sync_interval`` is the least time between two syncs (so at most one level-0 file,
and its uploads, per interval: Litestream's budget at the same setting). Between syncs
a cheap change hint (the -wal file's size, time and inode and the -shm index header:
a ``stat`` and one small read, no SQLite call) is polled every ``poll`` seconds, and a
change is synced as soon as it is seen once the last sync is an interval old: a commit
after a quiet spell waits for one poll, not for the next tick. With no change seen the
thread still syncs every ``idle`` seconds (the hint is only a hint; checkpoints and the
lease keep their timers). A wake (``notify``, an attached connection's commit) syncs
at once, but at most once per poll (commits faster than that share a sync); after an
error the interval backs off.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable

__all__ = ["Pacer"]

IDLE_SYNC = 1.0
"""Seconds between syncs when no change is seen (at least the interval)."""


class Pacer:
    """Decides when the next sync starts; ``wait`` blocks until then."""

    def __init__(
        self,
        interval: float,
        hint: Callable[[], Hashable],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.hint = hint
        self.clock = clock
        self.poll = max(0.002, min(0.01, interval / 10))
        self.backoff = 0.0
        self.last = self.last_any = clock()
        """Starts of the last sync for a change seen, and of the last sync of any kind."""
        self.seen: Hashable = self._safe_hint()  # the caller has just synced
        self.woken = False
        self.started = -math.inf
        """A wake not yet served; the start of the last sync of any kind (or never)."""

    def wait(self, wake: threading.Event, stopping: threading.Event) -> bool:
        """Block until a sync is due; False when ``stopping`` was set first. Wakes start
        a sync at once, but at most one per ``poll``: commits faster than that (an
        attached connection to a local target) share a sync."""
        while not stopping.is_set():
            now = self.clock()
            gap = max(self.interval, self.backoff)
            ready = now - self.last >= gap
            if wake.is_set():
                wake.clear()
                self.woken = self.woken or not self.backoff or ready
            early = self.started + self.poll - now
            if self.woken and early <= 0:
                self.woken = False
                return self._start(changed=True)
            if ready and self._safe_hint() != self.seen:  # before idle: they may fall due at once
                return self._start(changed=True)
            idle_left = max(gap, IDLE_SYNC) - (now - self.last_any)
            if idle_left <= 0:
                return self._start(changed=False)
            pause = self.poll if ready else self.last + gap - now
            wake.wait(min(pause, idle_left, early if self.woken else pause))
        return False

    def _safe_hint(self) -> Hashable:
        try:
            return self.hint()
        except OSError:
            return object()  # unreadable: treat as changed; the sync will say what is wrong

    def _start(self, *, changed: bool) -> bool:
        """A sync starts now: what changes after this moment is seen next time. A sync
        for a change opens a new interval; an idle one (nothing seen) does not."""
        self.seen = self._safe_hint()
        self.last_any = self.started = self.clock()
        if changed:
            self.last = self.last_any
        return True

    def done(self, ok: bool) -> None:
        """After a sync: an error doubles the gap (up to 5 minutes); success resets it."""
        if ok:
            self.backoff = 0.0
        else:
            self.backoff = min(max(self.backoff * 2, self.interval * 2), 300.0)
