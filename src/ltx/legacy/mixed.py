"""A replica root holding both ``generations/`` (0.3) and LTX files: 0.5.17's upgrade path.

Litestream 0.5.17 writes LTX next to an old 0.3 backup at the same URL and reads both
(file and S3 clients; ``Replica.Restore``, ``shouldUseV3Restore``, ``TimeBoundsV3``).
Which half answers (``choose_side``), as the binary does:

* ``-txid``: always LTX (here: LTX when it has that TXID, else the 0.3 point of it).
* ``-timestamp T``: T must lie within the bounds of both halves together (earliest to
  latest object of either, inclusive), else "timestamp does not exist". Then 0.3 if
  its newest snapshot created at or before T (any generation) is strictly newer than
  the newest LTX snapshot (level 9) created strictly before T (by the time LTX
  restores use: S3 metadata, the header time), or if there is no LTX snapshot before
  T, so the LTX period before 0.5's first snapshot restores the end of the 0.3 period.
* latest: 0.3 if its newest object is strictly newer than the newest LTX file (plain
  listing times), else LTX.

The 0.3 half then plans by 0.5.17's own rules (``LegacySource(rules="0.5.17")``).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from typing import ClassVar, Literal, Protocol

import attrs

from ltx.codec import SNAPSHOT_LEVEL, FileInfo
from ltx.errors import TxidNotAvailableError, UsageError
from ltx.resolve import PageMap, RestorePoint

from ._names import LegacyObject, datetime_to_ns, ns_to_datetime
from ._plan05 import best_snapshot_v05, time_bounds_v05
from .source import LegacyPageMap, LegacySource

__all__ = ["LTXSide", "MixedPoint", "MixedSource", "Side", "choose_side", "mixed_time_bounds"]

Side = Literal["legacy", "ltx"]


class LTXSide(Protocol):
    """The LTX half: what ``ltx.sources.LTXSource`` offers."""

    @property
    def follow(self) -> float | None: ...

    def files(self, *, exact_times: bool = False) -> list[FileInfo]: ...

    def refresh(self) -> object: ...

    def history(self) -> list[RestorePoint]: ...

    def time_bounds(self) -> tuple[dt.datetime, dt.datetime] | None: ...

    def page_map(
        self,
        txid: int | None = None,
        *,
        timestamp: dt.datetime | None = None,
        refresh: bool = False,
    ) -> PageMap: ...

    def read_page(self, page_map: PageMap, pgno: int) -> bytes: ...

    def restore(
        self,
        page_map: PageMap,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> object: ...


def _ns(when: dt.datetime) -> int:
    return datetime_to_ns(when)


def mixed_time_bounds(
    legacy: Sequence[LegacyObject], ltx_files: Sequence[FileInfo]
) -> tuple[int, int] | None:
    """0.5.17's ``CalcRestoreTarget`` bounds in ns: both halves together (None if empty)."""
    ends = [b for b in [time_bounds_v05(legacy)] if b is not None]
    if ltx_files:
        times = [_ns(f.created_at) for f in ltx_files]
        ends.append((min(times), max(times)))
    if not ends:
        return None
    return min(b[0] for b in ends), max(b[1] for b in ends)


def choose_side(
    legacy: Sequence[LegacyObject],
    ltx_files: Sequence[FileInfo],
    *,
    timestamp: dt.datetime | int | None = None,
    ltx_exact: Sequence[FileInfo] | None = None,
) -> Side:
    """Which half 0.5.17's restore reads for a time (or the latest); see the module doc.

    ``ltx_files`` come from a plain listing; ``ltx_exact`` (default: the same) carry the
    times LTX timestamp restores use (``Store.exact_times``: S3 metadata).
    """
    v3 = time_bounds_v05(legacy)
    if v3 is None:
        return "ltx"
    if not ltx_files:
        return "legacy"
    if timestamp is None:
        newest = max(_ns(f.created_at) for f in ltx_files)
        return "legacy" if v3[1] > newest else "ltx"
    t = timestamp if isinstance(timestamp, int) else _ns(timestamp)
    snap = best_snapshot_v05(legacy, t)
    if snap is None:
        return "ltx"
    exact = ltx_files if ltx_exact is None else ltx_exact
    before = [
        _ns(f.created_at) for f in exact if f.level == SNAPSHOT_LEVEL and _ns(f.created_at) < t
    ]
    return "legacy" if not before or snap.time_ns > max(before) else "ltx"


@attrs.frozen
class MixedPoint(RestorePoint):
    """A point of either half, in time order; ``generation`` is None for LTX points."""

    side: Side
    generation: str | None = None


class MixedSource:
    """Reads a mixed root as 0.5.17 restores it: each target from the half it would use.

    ``legacy`` must use ``rules="0.5.17"``; ``ltx`` is the LTX half alone (an
    ``ltx.sources.LTXSource`` on the same store). Page maps are routed back to the half
    that made them by their ``kind``.
    """

    kind: ClassVar[Literal["mixed"]] = "mixed"

    def __init__(self, legacy: LegacySource, ltx: LTXSide) -> None:
        if legacy.rules != "0.5.17":
            raise UsageError("a MixedSource reads its 0.3 half by 0.5.17's rules")
        self.legacy = legacy
        self.ltx = ltx

    @property
    def follow(self) -> float | None:
        """Follow interval of the LTX half."""
        return self.ltx.follow

    def refresh(self) -> None:
        """List both halves again."""
        self.legacy.refresh()
        self.ltx.refresh()

    def time_bounds_ns(self) -> tuple[int, int] | None:
        """Earliest and latest object time of both halves, in ns."""
        return mixed_time_bounds(self.legacy.listing(), self.ltx.files())

    def time_bounds(self) -> tuple[dt.datetime, dt.datetime] | None:
        """Earliest and latest object time of both halves (None when both are empty)."""
        b = self.time_bounds_ns()
        return None if b is None else (ns_to_datetime(b[0]), ns_to_datetime(b[1]))

    def legacy_objects(self) -> list[LegacyObject]:
        """The 0.3 half's objects."""
        return self.legacy.listing()

    def side(self, txid: int | None = None, *, timestamp: dt.datetime | int | None = None) -> Side:
        """The half that answers this target."""
        if txid is not None:
            have = {p.txid for p in self.ltx.history()}
            return "ltx" if txid in have or txid not in self._legacy_txids() else "legacy"
        if timestamp is not None:
            t = timestamp if isinstance(timestamp, int) else _ns(timestamp)
            b = self.time_bounds_ns()
            if b is None or not b[0] <= t <= b[1]:
                raise TxidNotAvailableError(
                    "time is outside the replica's time bounds, 0.3 and LTX together "
                    "(0.5.17: timestamp does not exist)"
                )
        exact = self.ltx.files(exact_times=True) if timestamp is not None else None
        return choose_side(
            self.legacy.listing(), self.ltx.files(), timestamp=timestamp, ltx_exact=exact
        )

    def _legacy_txids(self) -> set[int]:
        return {p.txid for p in self.legacy.history()}

    def history(self) -> list[MixedPoint]:
        """Every point of both halves, oldest first (0.3 TXIDs as ``legacy_txid``)."""
        pts = [
            MixedPoint(p.txid, p.created_at, "legacy", p.generation) for p in self.legacy.history()
        ]
        pts += [MixedPoint(p.txid, p.created_at, "ltx") for p in self.ltx.history()]
        return sorted(pts, key=lambda p: (p.created_at, p.side != "legacy", p.txid))

    def page_map(
        self,
        txid: int | None = None,
        *,
        timestamp: dt.datetime | int | None = None,
        refresh: bool = False,
        generation: str | None = None,
    ) -> PageMap | LegacyPageMap:
        """The page map of a target from the half 0.5.17 would read."""
        if refresh:
            self.refresh()
        if generation is not None or self.side(txid, timestamp=timestamp) == "legacy":
            return self.legacy.page_map(
                txid, timestamp=timestamp, generation=generation, check_bounds=False
            )
        # LTX times are whole milliseconds: "created before T" holds for T in ns exactly
        # when it holds for T rounded up to the microsecond.
        when = (
            ns_to_datetime(-(-timestamp // 1000) * 1000)
            if isinstance(timestamp, int)
            else timestamp
        )
        return self.ltx.page_map(txid, timestamp=when)

    def read_page(self, page_map: PageMap | LegacyPageMap, pgno: int) -> bytes:
        """One page from the half the page map belongs to."""
        if page_map.kind == "0.3":
            return self.legacy.read_page(page_map, pgno)
        return self.ltx.read_page(page_map, pgno)

    def restore(
        self,
        page_map: PageMap | LegacyPageMap,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Write the database of ``page_map`` to ``path`` (through its half's restore)."""
        if page_map.kind == "0.3":
            self.legacy.restore(page_map, path, overwrite=overwrite, progress=progress)
        else:
            self.ltx.restore(page_map, path, overwrite=overwrite, progress=progress)
