"""The replicator's compactor thread (a mixin of ``Replicator``): Litestream's levels,
snapshots and retention on every target, beside the syncs and never in their way."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

from ltx.compaction import LevelsConfig, Step
from ltx.errors import LeaseLostError, LTXError
from ltx.replica import Replica
from ltx.times import UTC

from ._lease import Leases
from ._levels import Schedule
from ._source import Database
from ._targets import Targets

__all__ = ["Compacting"]


class _Abandoned(LTXError):
    """A compaction cut short by ``stop``; never leaves ``Replicator.compact``."""


class Compacting:
    """Compaction policy and thread; the state lives on the ``Replicator``."""

    levels: LevelsConfig | None
    sync_interval: float
    clock: Callable[[], float]
    last_error: BaseException | None
    on_error: Callable[[BaseException], None] | None
    leases: Leases
    _schedule: Schedule | None
    _lock: threading.RLock
    _compact_lock: threading.Lock
    _compacting: list[Replica]
    _stopping: threading.Event

    def _opened(self) -> tuple[Database, Targets]:
        raise NotImplementedError

    def _flush(self) -> None:
        raise NotImplementedError

    def _keep_lease(self, *, force: bool = False) -> None:
        raise NotImplementedError

    def compact_if_due(self) -> list[Step]:
        """``compact`` once per window of the shortest interval (see ``_levels``)."""
        when = self._schedule.due() if self._schedule is not None else None
        return self.compact(when) if when is not None else []

    def compact(self, now: dt.datetime | None = None) -> list[Step]:
        """Litestream's compaction, snapshots and retention on every target through
        ``Replica.compact``; the steps planned for the first. Nothing when levels are off.

        Runs outside the sync lock (syncs go on meanwhile) on replica objects of its own;
        before each step and input read it checks the lease (renewing it when due).
        ``stop`` abandons a run at its next step, input read or page (this returns ``[]``):
        each output is merged into a local temp file and only then created on the target,
        so an abandoned run leaves nothing half-visible; the next run redoes what is left."""
        if self.levels is None:
            return []
        when = now or dt.datetime.fromtimestamp(self.clock(), UTC)
        with self._compact_lock:
            with self._lock:
                _, targets = self._opened()
                self._check_compaction()
                self._flush()  # the pending level-0 file first: it may be an input
                if not self._compacting:
                    self._compacting = [
                        Replica(r.store, clock=r.clock, age_identity=r.age_identity)
                        for r in targets.replicas
                    ]
                replicas = self._compacting
            try:
                steps = [
                    r.compact(
                        self.levels, now=when, progress=self._on_page, check=self._check_compaction
                    )
                    for r in replicas
                ]
            except _Abandoned:
                return []
        return steps[0]

    def _compact_loop(self) -> None:
        """The compactor thread: ``compact_if_due`` every ``sync_interval`` until stopped
        or the lease is lost (then the sync thread stops too, at its next write)."""
        while not self._stopping.wait(self.sync_interval):
            try:
                self.compact_if_due()
            except LeaseLostError as exc:
                self.last_error = exc
                return
            except Exception as exc:
                self.last_error = exc
                if self.on_error is not None:
                    self.on_error(exc)

    def _on_page(self, _done: int, _total: int) -> None:
        if self._stopping.is_set() or self.leases.lost:
            raise _Abandoned("the replicator is stopping")

    def _check_compaction(self) -> None:
        """Abandon when stopping; LeaseLostError when the lease is gone; renew when due."""
        if self._stopping.is_set():
            raise _Abandoned("the replicator is stopping")
        with self._lock:
            if self.leases.lost:
                raise LeaseLostError("the write lease was lost; this replicator writes no more")
            self._keep_lease(force=True)
