"""Per-connection state of ``ltx.sqlite.connect``: the point a connection reads, and moving it.

A Session serves one View at a time. It moves only between read transactions (the VFS
file calls ``begin``/``end`` at its SHARED lock), so a transaction reads one TXID from
start to end. At the latest point it lists the replica again at most once per poll
interval, lazily: when a read transaction starts or a Litestream PRAGMA is read.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Callable

import attrs

from ltx.errors import LTXError, TxidNotAvailableError, UsageError
from ltx.replica import Replica, TimeLike
from ltx.times import UTC, parse_time
from ltx.view import View

__all__ = ["LATEST", "PRAGMAS", "Session", "Target", "format_time", "target_time", "target_txid"]

PRAGMAS = frozenset({"litestream_time", "litestream_txid", "litestream_lag"})
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)")
_HEX16 = re.compile(r"[0-9a-fA-F]{16}")


@attrs.frozen
class Target:
    """Where a connection points: the latest TXID (followed), one TXID, or one moment."""

    txid: int | None = None
    time: dt.datetime | None = None

    @property
    def following(self) -> bool:
        """True for the latest point, which moves forward as new TXIDs land."""
        return self.txid is None and self.time is None


LATEST = Target()


def target_time(value: TimeLike, *, now: dt.datetime) -> Target:
    """``'latest'`` or a time (RFC 3339 keeps its UTC offset, as Go's time.Parse does)."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "latest":
            return LATEST
        m = _RFC3339.fullmatch(text)
        if m:
            frac = (m.group(2) or ".")[1:7].ljust(6, "0")
            offset = "+00:00" if m.group(3) in ("Z", "z") else m.group(3)
            try:
                when = dt.datetime.fromisoformat(f"{m.group(1)}.{frac}{offset}")
            except ValueError:
                raise UsageError(f"not an RFC 3339 time: {value!r}") from None
            return Target(time=when)
    return Target(time=parse_time(value, now=now))


def target_txid(value: object) -> Target:
    """``'latest'`` or a TXID written as 16 hex digits (as ``PRAGMA litestream_txid`` shows)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 1 << 64:
        return Target(txid=value)
    text = str(value).strip() if isinstance(value, str) else ""
    if text.lower() == "latest":
        return LATEST
    if not _HEX16.fullmatch(text) or int(text, 16) == 0:
        raise UsageError(f"a TXID is 16 hex digits (e.g. 000000000000002a), got {value!r}")
    return Target(txid=int(text, 16))


def format_time(when: dt.datetime) -> str:
    """RFC 3339 as Go's RFC3339Nano prints it: trailing fraction zeros trimmed, Z for UTC."""
    out = when.strftime("%Y-%m-%dT%H:%M:%S")
    if when.microsecond:
        out += "." + f"{when.microsecond:06d}".rstrip("0")
    offset = when.utcoffset() or dt.timedelta(0)
    if not offset:
        return out + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{out}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _patch_header(data: bytes, offset: int, counter: int) -> bytes:
    """Bytes 18-19 say rollback journal (no WAL to look for); 24-27 carry ``counter``, the
    file change counter SQLite compares at each read transaction to keep or drop its cache."""
    if offset >= 28 or offset + len(data) <= 18:
        return data
    out = bytearray(data)
    patch = {18: 1, 19: 1, **dict(zip(range(24, 28), counter.to_bytes(4, "big"), strict=True))}
    for pos, byte in patch.items():
        if 0 <= pos - offset < len(out):
            out[pos - offset] = byte
    return bytes(out)


class Session:
    """The point one connection reads: a View, how it got there, and when it last polled."""

    def __init__(
        self,
        replica: Replica,
        target: Target = LATEST,
        *,
        poll_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (math.isfinite(poll_interval) and poll_interval >= 0):
            raise UsageError(f"poll_interval must be a number of seconds >= 0, got {poll_interval}")
        self.replica = replica
        self.poll_interval = poll_interval
        self.clock = clock
        self.generation = 1
        self.in_read = False
        self.opened = False
        self.closed = False
        self.poll_error: LTXError | None = None
        self.last_poll = self._attempted = clock()
        self.view = self._resolve(target)
        self.target = target

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"txid={self.view.txid:016x}"
        return f"<Session {state} target={self.target}>"

    # -- where we are ---------------------------------------------------------------

    @property
    def txid(self) -> int:
        """The TXID this connection reads now."""
        return self.view.txid

    @property
    def timestamp(self) -> dt.datetime:
        """Creation time of the newest file behind the current TXID."""
        return self.view.timestamp

    @property
    def size(self) -> int:
        """The database file size in bytes at the current TXID."""
        return self.view.size

    def lag(self) -> int:
        """Whole seconds since the last successful listing of the replica."""
        return int(self.clock() - self.last_poll)

    def time_text(self) -> str:
        """``PRAGMA litestream_time``: the target time if one was set, else the TXID's time."""
        return format_time(self.target.time or self.view.timestamp)

    # -- moving ---------------------------------------------------------------------

    def _resolve(self, target: Target) -> View:
        """A View of ``target`` from a fresh listing (as the Litestream VFS plans on a move)."""
        r = self.replica
        if target.txid is not None:
            pm = r.page_map(target.txid, refresh=True)
        elif target.time is None:
            pm = r.page_map(refresh=True)
        else:
            when = target.time.astimezone(UTC)
            newest = max((f.created_at for f in r.refresh()), default=None)
            # The VFS takes every file created before the time, so a time past the newest
            # file is the latest point (where `litestream restore -timestamp` refuses).
            pm = (
                r.page_map() if newest is not None and when > newest else r.page_map(timestamp=when)
            )
        self.last_poll = self.clock()
        return View(r, pm)

    def _swap(self, view: View) -> None:
        old = self.view
        # Another map (another TXID, or the same one re-planned over other files): drop
        # SQLite's page cache; the same map object means the same bytes.
        if view.page_map is not old.page_map:
            self.generation = (self.generation + 1) & 0xFFFFFFFF or 1
        self.view = view

    def move(self, target: Target) -> None:
        """Point the connection at ``target`` now; UsageError inside a read transaction."""
        if self.in_read:
            raise UsageError(
                "cannot move in time inside a read transaction: finish it (COMMIT, or "
                "exhaust or reset open cursors) first"
            )
        view = self._resolve(target)
        self.target = target
        self._swap(view)

    def poll(self) -> None:
        """At the latest point, between transactions, list again if the interval passed.

        A failed listing keeps the current TXID and is kept in ``poll_error``; the lag
        then grows, as the Litestream VFS reports it.
        """
        if self.in_read or self.closed or not self.target.following:
            return
        now = self.clock()
        if now - self._attempted < self.poll_interval:
            return
        self._attempted = now
        try:
            view = self._resolve(LATEST)
        except LTXError as exc:
            self.poll_error = exc
            return
        self.poll_error = None
        self._swap(view)

    # -- what the VFS file calls ----------------------------------------------------

    def begin(self) -> None:
        """A read transaction starts (SHARED lock): the last chance to move."""
        self.poll()
        self.in_read = True

    def end(self) -> None:
        """The read transaction ended (lock back to NONE)."""
        self.in_read = False

    def read(self, offset: int, amount: int) -> bytes:
        """``amount`` bytes of the database file at ``offset`` (zeros past the end)."""
        try:
            data = self.view.read(offset, amount)
        except TxidNotAvailableError:
            self._attempted = -math.inf  # compacted away: at latest, move on next transaction
            raise
        if len(data) < amount:
            data += bytes(amount - len(data))
        return _patch_header(data, offset, self.generation) if offset < 28 else data

    def pragma(self, name: str, value: str | None) -> str | None:
        """Answer one of ``PRAGMAS`` (read when ``value`` is None, else set)."""
        if value is None:
            self.poll()
            if name == "litestream_txid":
                return f"{self.txid:016x}"
            if name == "litestream_time":
                return self.time_text()
            return str(self.lag())
        if name == "litestream_txid":
            self.move(target_txid(value))
        elif name == "litestream_time":
            self.move(target_time(value, now=self.replica.clock()))
        else:
            raise UsageError(f"{name} is read-only")
        return None

    def close(self) -> None:
        """The connection closed its file: nothing more will be read."""
        self.closed = True
        self.in_read = False
