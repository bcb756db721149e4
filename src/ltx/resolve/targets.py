"""Plans per target for one listing: a TXID or a time resolves to a plan once.

A time target plans over the exact creation times (fetched once, lazily) and is refused
before the plain listing's earliest time or after the newest time either way, as
Litestream refuses it (except that S3's whole-second listing does not cut off the last
second: see docs/concepts.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from ltx.codec import FileInfo
from ltx.resolve.plan import Plan, plan_restore

__all__ = ["Targets"]

_MAX = 256  # relative times ("5 minutes ago") make new keys: keep the cache bounded


class Targets:
    """The plans of one listing, keyed by (txid, time)."""

    def __init__(
        self, files: Sequence[FileInfo], exact_times: Callable[[], Sequence[FileInfo]]
    ) -> None:
        self.files = files
        self._exact_times = exact_times
        self._plans: dict[tuple[int | None, dt.datetime | None], Plan] = {}

    def plan(self, txid: int | None, when: dt.datetime | None) -> Plan:
        """Litestream's restore plan for ``txid`` or ``when`` (latest if neither)."""
        key = (txid, when)
        got = self._plans.get(key)
        if got is not None:
            return got
        listed = self.files
        if when is None or not listed:
            plan = plan_restore(listed, txid=txid, timestamp=when)
        else:
            exact = self._exact_times()
            # Litestream's upper bound is the newest *listed* time (S3: whole seconds,
            # often before the newest file's own time); a time up to the newest exact
            # time still names a point by the rule, so it is not refused here.
            hi = max(f.created_at for f in (*listed, *exact))
            bounds = (min(f.created_at for f in listed), hi)
            plan = plan_restore(exact, timestamp=when, time_bounds=bounds)
        if len(self._plans) >= _MAX:
            self._plans.clear()
        self._plans[key] = plan
        return plan
