"""The replicator's write leases: one per target, renewed ahead of expiry, checked
before every upload; once one is lost nothing more is written anywhere."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence

from ltx.errors import LeaseLostError, LTXError
from ltx.storage import Store
from ltx.storage._lease import DEFAULT_TTL, Lease, Leaser, leaser_for
from ltx.times import UTC

__all__ = ["DEFAULT_TTL", "Leases"]


class Leases:
    """The leases a replicator holds on its targets."""

    def __init__(self, owner: str, ttl: float) -> None:
        self.owner, self.ttl = owner, ttl
        self.held: list[tuple[Leaser, Lease]] = []
        self.lost = False

    def acquire(self, stores: Sequence[Store]) -> None:
        """Take every target's lease (LeaseHeldError, having taken none, if one is held)."""
        try:
            for store in stores:
                leaser = leaser_for(store, self.owner, ttl=self.ttl)
                self.held.append((leaser, leaser.acquire()))
        except BaseException:
            self.release()
            raise

    def keep(self, *, margin: float) -> None:
        """Renew each lease with less than ``margin`` seconds left; LeaseLostError when
        another writer took one (then ``lost`` stays set)."""
        now = dt.datetime.now(UTC)
        try:
            for i, (leaser, lease) in enumerate(self.held):
                if (lease.expires_at - now).total_seconds() < margin:
                    self.held[i] = (leaser, leaser.renew(lease))
        except LeaseLostError:
            self.lost = True
            raise

    def release(self) -> None:
        """Hand every lease back (best effort: an expired one frees itself)."""
        for leaser, lease in self.held:
            with contextlib.suppress(LTXError, OSError):
                leaser.release(lease)
        self.held = []
