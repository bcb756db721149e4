"""When the replicator compacts: Litestream's levels on a clock aligned as its tickers are.

The planner and executor are ``ltx.compaction``'s (driven by ``Replica.compact``); this
only decides the windows, so a replica is listed once per window and not on every sync.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from ltx.compaction import LevelsConfig, truncate
from ltx.errors import UsageError
from ltx.times import UTC

__all__ = ["L0_RETENTION_CHECK", "Schedule", "levels_option"]

L0_RETENTION_CHECK = dt.timedelta(seconds=15)
"""Litestream's ``l0-retention-check-interval``: level-0 retention runs at least this often."""


def levels_option(value: LevelsConfig | bool | None) -> LevelsConfig | None:
    """``levels=``: None or True is Litestream's defaults, False turns compaction off."""
    if value is None or value is True:
        return LevelsConfig.default()
    if value is False:
        return None
    if not isinstance(value, LevelsConfig):
        raise UsageError(f"levels must be a LevelsConfig, None or False, got {value!r}")
    return value


class Schedule:
    """The next compaction window: ``now`` truncated to the shortest interval (level,
    snapshot or the level-0 retention check), plus it; the first run is at once."""

    def __init__(self, levels: LevelsConfig, clock: Callable[[], float]) -> None:
        self.levels = levels
        self.clock = clock
        self.step = min((*levels.intervals, levels.snapshot_interval, L0_RETENTION_CHECK))
        self.next: float | None = None

    def due(self) -> dt.datetime | None:
        """The time to compact at when a new window has begun (None otherwise)."""
        now = self.clock()
        if self.next is not None and now < self.next:
            return None
        when = dt.datetime.fromtimestamp(now, UTC)
        self.next = (truncate(when, self.step) + self.step).timestamp()
        return when
