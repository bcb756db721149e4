"""FileInfo: one LTX file of a replica as a listing sees it (Go's ``ltx.FileInfo``)."""

from __future__ import annotations

import bisect
import datetime as dt
import json

import attrs

from ltx.errors import FormatError

__all__ = ["SNAPSHOT_LEVEL", "FileInfo", "encode_listing", "decode_listing", "with_file"]

SNAPSHOT_LEVEL = 9
"""The level that holds full snapshots (MinTXID 1); levels 0..8 hold increments."""


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


def encode_listing(files: list[FileInfo]) -> bytes:
    """A listing as JSON bytes, for the offline listing cache."""
    rows = [
        [f.level, f.min_txid, f.max_txid, f.size, f.created_at.isoformat(), f.path] for f in files
    ]
    return json.dumps(rows).encode()


def decode_listing(raw: bytes) -> list[FileInfo]:
    """The inverse of ``encode_listing``; FormatError for anything else."""
    try:
        return [
            FileInfo(int(lv), int(lo), int(hi), int(size), dt.datetime.fromisoformat(ts), str(path))
            for lv, lo, hi, size, ts, path in json.loads(raw)
        ]
    except (ValueError, TypeError) as exc:
        raise FormatError(f"cached listing does not parse: {exc}") from None


def with_file(files: list[FileInfo], f: FileInfo) -> list[FileInfo]:
    """A new listing: ``files`` (by level, then TXIDs) with ``f`` in its place."""
    out = list(files)
    bisect.insort(out, f, key=lambda x: (x.level, x.min_txid, x.max_txid))
    return out
