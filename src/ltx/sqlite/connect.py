"""``connect``: a read-only SQL connection on a replica at a TXID, a time, or the latest point.

The connection is an apsw ``Connection`` (subclass) on the shared ``ltx`` VFS, with the
Litestream VFS's PRAGMAs and SQL functions, plus the DB-API pieces pandas and other
DB-API callers use (``commit``, ``rollback``, cursors with ``description`` and
``fetchmany``).
"""

from __future__ import annotations

import datetime as dt
import os
import weakref
from typing import Any

import apsw

from ltx.errors import UsageError
from ltx.replica import Replica, TimeLike
from ltx.replica import open as open_replica
from ltx.sqlite.session import LATEST, Session, Target, target_time
from ltx.sqlite.vfs import shared_vfs

__all__ = ["Connection", "Cursor", "connect"]


_DESCRIPTION: Any = vars(apsw.Cursor)["description"]  # apsw's own, which we override below


def _remember_description(cursor: Any, sql: str, bindings: Any) -> bool:
    # Runs before each statement steps: apsw forgets the columns once a statement is
    # done, so an empty result would have no description otherwise.
    try:
        cursor._ltx_description = _DESCRIPTION.__get__(cursor) or None
    except (apsw.Error, MemoryError):  # a PRAGMA the VFS answered has a nameless column
        cursor._ltx_description = None
    return True


class Cursor(apsw.Cursor):
    """An apsw Cursor with DB-API manners: ``description`` even for an empty result
    (None for statements without columns), ``fetchmany``, ``arraysize``, ``rowcount``."""

    arraysize = 1
    rowcount = -1

    def __init__(self, connection: apsw.Connection) -> None:
        super().__init__(connection)
        self._ltx_description: tuple[tuple[Any, ...], ...] | None = None
        self.exec_trace = _remember_description

    @property
    def description(self) -> tuple[tuple[Any, ...], ...] | None:  # type: ignore[override]
        """Column names (7-tuples) of the last statement run, as DB-API describes them."""
        return self._ltx_description

    def fetchmany(self, size: int | None = None) -> list[tuple[Any, ...]]:
        """Up to ``size`` (default ``arraysize``) more rows; [] when none are left."""
        n = self.arraysize if size is None else size
        rows: list[tuple[Any, ...]] = []
        while len(rows) < n:
            row = self.fetchone()
            if row is None:
                break
            rows.append(tuple(row))
        return rows


class Connection(apsw.Connection):
    """A read-only apsw Connection on a replica (see ``connect``); ``txid`` and
    ``timestamp`` tell where it reads, ``commit``/``rollback`` end a read transaction."""

    def __init__(self, filename: str, session: Session) -> None:
        super().__init__(filename, flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
        # Weak: once the connection closes, the VFS drops the session and it is freed.
        self._session = weakref.ref(session)
        self.cursor_factory = Cursor
        _register_functions(self, session)

    @property
    def session(self) -> Session:
        """This connection's Session (where it reads); ConnectionClosedError once closed."""
        session = self._session()
        if session is None or session.closed:
            raise apsw.ConnectionClosedError("the connection is closed")
        return session

    @property
    def txid(self) -> int:
        """The TXID the connection reads now (the next transaction may move on)."""
        return self.session.txid

    @property
    def timestamp(self) -> dt.datetime:
        """Creation time of the newest file behind ``txid``."""
        return self.session.timestamp

    def commit(self) -> None:
        """End the read transaction, if one is open (nothing is ever written)."""
        if self.in_transaction:
            self.execute("COMMIT")

    def rollback(self) -> None:
        """End the read transaction, if one is open."""
        if self.in_transaction:
            self.execute("ROLLBACK")


def _register_functions(con: apsw.Connection, session: Session) -> None:
    """``litestream_time()``, ``litestream_txid()``, ``litestream_lag()`` and
    ``litestream_set_time(value)``, as the Litestream VFS extension defines them."""

    def time_(*_: object) -> str | None:
        return session.pragma("litestream_time", None)

    def txid_(*_: object) -> str | None:
        return session.pragma("litestream_txid", None)

    def lag_(*_: object) -> int:
        session.poll()
        return session.lag()

    def set_time(*args: object) -> None:
        value = args[0] if args else None
        if not isinstance(value, (str, int, float)):
            raise UsageError(f"litestream_set_time needs a time or 'latest', got {value!r}")
        session.move(target_time(value, now=session.replica.clock()))

    con.create_scalar_function("litestream_time", time_, 0)
    con.create_scalar_function("litestream_txid", txid_, 0)
    con.create_scalar_function("litestream_lag", lag_, 0)
    con.create_scalar_function("litestream_set_time", set_time, 1)


def _target(replica: Replica, txid: int | None, timestamp: TimeLike | None) -> Target:
    if txid is not None and timestamp is not None:
        raise UsageError("give a txid or a timestamp, not both")
    if txid is not None:
        if isinstance(txid, bool) or not isinstance(txid, int) or not 0 < txid < 1 << 64:
            raise UsageError(f"txid must be an int in 1..2**64-1, got {txid!r}")
        return Target(txid=txid)
    if timestamp is None:
        return LATEST
    return target_time(timestamp, now=replica.clock())


def connect(
    url_or_replica: str | os.PathLike[str] | Replica,
    *,
    txid: int | None = None,
    timestamp: TimeLike | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    poll_interval: float = 1.0,
    verify_files: bool = False,
    **storage_options: Any,
) -> Connection:
    """A read-only SQL connection on the replica at ``txid``, at ``timestamp``, or following
    the latest TXID (listing the replica again at most every ``poll_interval`` seconds).

    ``timestamp`` takes what ``PRAGMA litestream_time`` takes (RFC 3339, ``'5 minutes
    ago'``, ``'latest'``) and a datetime or Unix milliseconds; a relative time is fixed
    when connecting. A URL opens its own Replica (with ``cache_dir`` and
    ``storage_options``); pass a Replica to share its page cache between connections.
    Each read transaction sees one TXID; the connection moves only between transactions.
    ``verify_files`` fails a read (SQLITE_IOERR, the FormatError chained) rather than
    serve a page of an LTX file whose whole checksum does not verify.
    """
    if isinstance(url_or_replica, Replica):
        if cache_dir is not None or storage_options:
            raise UsageError("cache_dir and storage options apply to a URL, not to a Replica")
        replica = url_or_replica
        if verify_files and not replica.reader.verify_files:
            raise UsageError("open the Replica with verify_files=True to verify its files")
    else:
        replica = open_replica(
            os.fspath(url_or_replica),
            cache_dir=cache_dir,
            verify_files=verify_files,
            **storage_options,
        )
    session = Session(replica, _target(replica, txid, timestamp), poll_interval=poll_interval)
    vfs = shared_vfs()
    key = vfs.add(session)
    try:
        return Connection(f"file:{key}?vfs={vfs.vfsname}", session)
    except BaseException:
        vfs.release(key)
        raise
