"""The writing side of a Replica: level-0 appends, level-9 snapshots and compaction, all
acting on the LTX files through ``ltx.writer`` and ``ltx.compaction``."""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ltx.codec import FileInfo
from ltx.compaction import LevelsConfig, Step, plan_compaction, run_steps
from ltx.resolve import Plan
from ltx.sources import LTXSource, Source
from ltx.storage import Store
from ltx.view import View
from ltx.writer import Pages, Writer

TimeLike = dt.datetime | str | int | float


class Writing:
    """Replica's write and compaction methods (a mixin: ``Replica`` sets the state)."""

    store: Store
    writer: Writer
    clock: Callable[[], dt.datetime]
    _ltx: LTXSource
    _lock: threading.Lock
    _source: Source[Any] | None

    if TYPE_CHECKING:

        def _target(self, timestamp: TimeLike | None) -> dt.datetime | None: ...

        def refresh(self) -> list[FileInfo]: ...

        def plan(self, txid: int | None = None, *, timestamp: TimeLike | None = None) -> Plan: ...

    def _stamp(self, timestamp: TimeLike | None) -> int:
        when = self._target(timestamp) or self.clock()
        return int(when.timestamp() * 1000)

    def append(
        self,
        pages: Pages,
        commit: int,
        timestamp: TimeLike | None = None,
        *,
        page_size: int | None = None,
    ) -> FileInfo:
        """Write the next level-0 file (TXID = position + 1) holding ``pages``.

        ``commit`` is the database size in pages after the transaction. Raises
        ConflictError, writing nothing, when another writer took that TXID (see
        ``Store.conditional_create`` for where that check is atomic).
        """
        info = self.writer.append(pages, commit, self._stamp(timestamp), page_size=page_size)
        self._added(info)
        return info

    def write_snapshot(
        self, source: str | os.PathLike[str] | View, *, timestamp: TimeLike | None = None
    ) -> FileInfo:
        """Write a level-9 snapshot from a SQLite file (at the replica's position) or a View."""
        info = self.writer.write_snapshot(source, self._stamp(timestamp))
        self._added(info)
        return info

    def _added(self, written: FileInfo) -> None:
        """A file we wrote joins the kept listing (no new LIST); the kind is chosen again."""
        self._ltx.add(written)
        with self._lock:
            self._source = None

    def compact(
        self,
        config: LevelsConfig | None = None,
        *,
        now: TimeLike | None = None,
        dry_run: bool = False,
        progress: Callable[[int, int], None] | None = None,
        check: Callable[[], None] | None = None,
    ) -> list[Step]:
        """Plan Litestream's compaction and retention at ``now`` and run it (unless dry_run);
        ``check()``, between steps and input reads, raises to abandon the run."""
        when = self._target(now) or self.clock()
        steps = plan_compaction(config or LevelsConfig.default(), self.refresh(), when)
        if not dry_run and steps:

            def snapshot_inputs(txid: int) -> Iterable[FileInfo]:
                self.refresh()
                return self.plan(txid).files

            run_steps(
                self.store,
                steps,
                snapshot_inputs=snapshot_inputs,
                now_ms=self._stamp(None),
                progress=progress,
                check=check,
            )
            self.refresh()
        return steps
