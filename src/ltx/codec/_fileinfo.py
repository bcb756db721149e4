"""FileInfo: one LTX file of a replica as a listing sees it (Go's ``ltx.FileInfo``)."""

from __future__ import annotations

import datetime as dt

import attrs

__all__ = ["FileInfo"]


@attrs.frozen
class FileInfo:
    """Level, TXID range, size, creation time and path of one LTX file in a replica."""

    level: int
    min_txid: int
    max_txid: int
    size: int
    created_at: dt.datetime
    path: str = attrs.field(eq=False, repr=False, default="")

    @property
    def sort_key(self) -> tuple[int, int]:
        """(min, max): the order files take within a level, whatever the store returned."""
        return (self.min_txid, self.max_txid)
