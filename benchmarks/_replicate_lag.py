"""Lag from commit to restorable, from three records: the app's (last row id, wall time)
per commit, the observer's (TXID, time first listed) and the replica's level-0 files.

Every commit inserts rows with growing ids, so the table's right-most leaf page is in
the level-0 file of the TXID that holds the commit, and the largest rowid on any table
leaf page of files 1..N is the last row restorable at TXID N. A commit's lag is the
time the observer first listed a TXID at or past the first one holding it, minus the
time the app saw its commit return.
"""

from __future__ import annotations

import bisect
import statistics
import struct
from collections.abc import Callable

from ltx.codec import decode, format_filename
from ltx.errors import LTXError
from ltx.sqlitefmt.page import read_varint

LEAF_TABLE = 13


def leaf_max_rowid(pgno: int, data: bytes) -> int:
    """The largest rowid on a table leaf page (0 for any other page, and for page 1:
    the schema's rows, which Litestream's own tables add to, are not the app's)."""
    start = 0
    if pgno == 1 or data[start] != LEAF_TABLE:
        return 0
    n = struct.unpack_from(">H", data, start + 3)[0]
    if n == 0:
        return 0
    off = struct.unpack_from(">H", data, start + 8 + 2 * (n - 1))[0]
    try:
        _, pos = read_varint(data, off, len(data))
        rowid, _ = read_varint(data, pos, len(data))
    except LTXError:
        return 0
    return rowid


class Rows:
    """The last row restorable at each TXID, read file by file as the replica grows."""

    def __init__(self, read: Callable[[str], bytes | None]) -> None:
        self.read = read
        self.txids: list[int] = []
        self.rows: list[int] = []
        self.top = 0

    def advance(self, upto: int) -> None:
        """Read level-0 files past the last one read, up to TXID ``upto`` (a missing one
        is skipped: the next file still holds the right-most leaf of later commits)."""
        for txid in range((self.txids[-1] if self.txids else 0) + 1, upto + 1):
            raw = self.read(format_filename(txid, txid))
            if raw is None:
                continue
            best = max((leaf_max_rowid(p, d) for p, d in decode(raw).pages.items()), default=0)
            self.top = max(self.top, best)
            self.txids.append(txid)
            self.rows.append(self.top)

    def first_txid_with(self, row: int) -> int | None:
        i = bisect.bisect_left(self.rows, row)
        return self.txids[i] if i < len(self.rows) else None


def lags(
    commits: list[tuple[int, float]], seen: list[tuple[int, float]], rows: Rows
) -> list[float]:
    """Seconds from each commit to the first listing of a TXID that holds it (commits
    never seen are left out; the caller compares counts)."""
    seen_txids = [t for t, _ in seen]
    out: list[float] = []
    for row, at in commits:
        txid = rows.first_txid_with(row)
        if txid is None:
            continue
        i = bisect.bisect_left(seen_txids, txid)
        if i < len(seen):
            out.append(max(0.0, seen[i][1] - at))
    return out


def pct(xs: list[float], p: float) -> float:
    """The ``p``-th percentile (0..100) by nearest rank; NaN when empty."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def p50(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")
