"""Compaction levels as a value: Litestream's defaults or a custom list, validated as it does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import attrs

from ltx.errors import UsageError

__all__ = ["LevelsConfig"]

MAX_LEVELS = 8  # L1..L8; level 9 holds snapshots


def _validate_intervals(_: object, __: object, value: tuple[dt.timedelta, ...]) -> None:
    if len(value) > MAX_LEVELS:
        raise UsageError(f"at most {MAX_LEVELS} compaction levels (L1..L8), got {len(value)}")
    for i, iv in enumerate(value, start=1):
        if iv <= dt.timedelta(0):
            raise UsageError(f"level {i} interval must be positive, got {iv}")


def _to_tuple(value: Iterable[dt.timedelta]) -> tuple[dt.timedelta, ...]:
    return tuple(value)


def _positive(_: object, attr: attrs.Attribute[dt.timedelta], value: dt.timedelta) -> None:
    if value <= dt.timedelta(0):
        raise UsageError(f"{attr.name} must be positive, got {value}")


@attrs.frozen
class LevelsConfig:
    """Intervals of levels 1..n, the snapshot interval and retention, and level-0 retention."""

    intervals: tuple[dt.timedelta, ...] = attrs.field(
        converter=_to_tuple, validator=_validate_intervals
    )
    snapshot_interval: dt.timedelta = attrs.field(
        default=dt.timedelta(hours=24), validator=_positive
    )
    snapshot_retention: dt.timedelta = attrs.field(
        default=dt.timedelta(hours=24), validator=_positive
    )
    l0_retention: dt.timedelta = attrs.field(default=dt.timedelta(minutes=5), validator=_positive)

    @classmethod
    def default(cls) -> LevelsConfig:
        """Litestream's defaults: L1 30 s, L2 5 min, L3 1 h; snapshots 24 h kept 24 h; L0 5 min."""
        return cls((dt.timedelta(seconds=30), dt.timedelta(minutes=5), dt.timedelta(hours=1)))

    @property
    def max_level(self) -> int:
        """The highest compaction level (0 when only level 0 exists)."""
        return len(self.intervals)
