"""The live database a replicator reads: its own connections, the db file and the WAL.

Reading never trusts sizes or times: every sync takes a short read transaction (so no
checkpoint can restart the WAL or copy past our snapshot while we read), reads the WAL
with plain file reads and checks it frame by frame (``ltx.sqlitefmt.wal``). The db file
descriptor is kept for the replicator's life: closing any descriptor of the db file
drops every POSIX lock this process holds on it (sqlite.org/howtocorrupt.html §2.2),
so it is closed only after our own connections. The -wal file holds no SQLite locks
and is opened per read.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from ltx.errors import (
    AccessDeniedError,
    DatabaseFormatError,
    NotFoundError,
    StorageError,
    UsageError,
)
from ltx.sqlitefmt.header import MAGIC, decode_page_size
from ltx.sqlitefmt.wal import WAL_HEADER_SIZE, WALHeader

__all__ = ["Connect", "Database", "IndexHeader", "stdlib_connect"]

BUSY_WAIT = 5.0
"""Seconds our connections wait for a lock the app holds."""

Connect = Callable[[str], Any]
"""Opens a connection to the database (stdlib ``sqlite3`` or apsw); used for our own."""


@attrs.frozen
class IndexHeader:
    """What SQLite's shared index header says of the WAL: ``changes`` (``iChange``) is
    one more after each commit and unchanged by a WAL restart; ``frames`` (``mxFrame``)
    are committed in the WAL whose header has ``salts``."""

    changes: int
    frames: int
    salts: tuple[int, int]


def stdlib_connect(path: str) -> Any:
    """Our connection through the stdlib ``sqlite3`` module: autocommit, any thread."""
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)


def _query(conn: Any, sql: str) -> Any:
    """One statement on either library; the first row."""
    return conn.execute(sql).fetchone()


class Database:
    """One live WAL database: two connections of ours (reads and checkpoints; the write
    barrier), the db file descriptor kept for life, and WAL reads."""

    def __init__(self, path: str | os.PathLike[str], connect: Connect = stdlib_connect) -> None:
        self.path = os.fspath(path)
        self.wal_path = self.path + "-wal"
        try:
            with open(self.path, "rb") as f:  # before any connection of ours exists
                head = f.read(100)
        except FileNotFoundError:
            raise NotFoundError(f"{self.path}: no such database", url=self.path) from None
        except IsADirectoryError:
            raise UsageError(f"{self.path}: a folder, not a SQLite database file") from None
        except PermissionError as exc:
            raise AccessDeniedError(
                f"cannot read the database ({exc.strerror})", url=self.path
            ) from None
        if not head.startswith(MAGIC):
            raise DatabaseFormatError("not a SQLite database", path=self.path, offset=0)
        if head[18:20] != b"\x02\x02":
            raise UsageError(
                f"{self.path}: not in WAL mode; run PRAGMA journal_mode=wal in the app first"
            )
        self._fd = os.open(self.path, os.O_RDONLY)
        self._shm = -1
        self._reading = False
        try:
            self._open_connections(connect)
        except Exception as exc:  # sqlite3 or apsw: SQLite could not open it for us
            self.close()
            raise StorageError(
                f"SQLite cannot open it ({exc}); a replicator needs to read and write it "
                "and to create its -wal and -shm files in its folder",
                url=self.path,
            ) from exc
        if str(_query(self.reader, "PRAGMA journal_mode")[0]).lower() != "wal":
            self.close()
            raise UsageError(f"{self.path}: not in WAL mode")

    def _open_connections(self, connect: Connect) -> None:
        """Our two connections, the -shm made and kept open, no autocheckpoint."""
        self.reader = connect(self.path)
        self.barrier = connect(self.path)
        for conn in (self.reader, self.barrier):
            _query(conn, f"PRAGMA busy_timeout={round(BUSY_WAIT * 1000)}")
            _query(conn, "PRAGMA synchronous=NORMAL")  # our one commit restarts the WAL
        _query(self.reader, "SELECT count(*) FROM sqlite_master")  # makes the -shm
        with contextlib.suppress(FileNotFoundError):  # kept for life, as the db fd
            self._shm = os.open(self.path + "-shm", os.O_RDONLY)
        _query(self.barrier, "PRAGMA wal_autocheckpoint=0")

    def close(self) -> None:
        """Connections first, then the db descriptor (see the module docstring)."""
        for conn in (getattr(self, "reader", None), getattr(self, "barrier", None)):
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
        for fd in (self._fd, self._shm):
            if fd >= 0:
                os.close(fd)
        self._fd = self._shm = -1

    @contextlib.contextmanager
    def reading(self) -> Iterator[Callable[[], None]]:
        """A short read transaction: the WAL cannot restart and no checkpoint can copy
        frames past our snapshot into the db file while we read. Nested: one transaction.
        Yields ``release``, which ends it early (the outer one only)."""
        if self._reading:  # nested: the outer transaction already holds the snapshot
            yield lambda: None
            return

        def release() -> None:
            if self._reading:
                self._reading = False
                self.reader.execute("COMMIT")

        self.reader.execute("BEGIN")
        self._reading = True
        try:
            _query(self.reader, "SELECT count(*) FROM sqlite_master")
            yield release
        finally:
            release()

    def db_size(self) -> int:
        """Bytes in the db file."""
        return os.fstat(self._fd).st_size

    def read_db(self, offset: int, n: int) -> bytes:
        """Bytes of the db file (pread on the kept descriptor)."""
        return os.pread(self._fd, n, offset)

    def db_page_size(self) -> int:
        """The page size in the db file's header (1 means 65536)."""
        return decode_page_size(int.from_bytes(self.read_db(16, 2), "big"))

    @contextlib.contextmanager
    def wal(self) -> Iterator[tuple[WALHeader | None, Callable[[int, int], bytes]]]:
        """The WAL's header (None when the WAL is missing, empty or its header is not
        valid: nothing in it counts) and a ``read_at`` over it."""
        try:
            fd = os.open(self.wal_path, os.O_RDONLY)
        except FileNotFoundError:
            yield None, lambda offset, n: b""
            return
        try:

            def read_at(offset: int, n: int) -> bytes:
                return os.pread(fd, n, offset)

            raw = read_at(0, WAL_HEADER_SIZE)
            header: WALHeader | None = None
            if len(raw) == WAL_HEADER_SIZE:
                with contextlib.suppress(DatabaseFormatError):
                    header = WALHeader.parse(raw, path=self.wal_path)
            yield header, read_at
        finally:
            os.close(fd)

    def index_header(self) -> IndexHeader | None:
        """SQLite's shared index header (the -shm file), read once; None without one.

        The header is two 48-byte copies in native byte order (copies that differ are
        being written: read again); its salts are the WAL header's bytes.
        """
        if self._shm < 0:
            return None
        for _ in range(100):
            raw = os.pread(self._shm, 96, 0)
            if len(raw) < 96:
                return None
            if raw[:48] == raw[48:]:
                break
        else:
            return None
        order = sys.byteorder
        salts = (int.from_bytes(raw[32:36], "big"), int.from_bytes(raw[36:40], "big"))
        return IndexHeader(
            int.from_bytes(raw[8:12], order), int.from_bytes(raw[16:20], order), salts
        )

    def published_frames(self, header: WALHeader) -> int | None:
        """How many frames of ``header``'s WAL SQLite's shared index calls committed
        (``mxFrame``; 0 while a restart is not yet written), None without a -shm file."""
        index = self.index_header()
        if index is None:
            return None
        return index.frames if index.salts == header.salts else 0

    def change_hint(self) -> tuple[object, ...]:
        """Cheap to read, and different after any commit or WAL restart: the -wal file's
        size, time and inode, and the -shm index header (``Pacer`` polls it between
        syncs; a hint to sync sooner, never proof of what changed)."""
        try:
            st = os.stat(self.wal_path)
            wal: tuple[int, ...] = (st.st_size, st.st_mtime_ns, st.st_ino)
        except FileNotFoundError:
            wal = ()
        index = os.pread(self._shm, 48, 0) if self._shm >= 0 else b""
        return wal, index

    def wal_missing(self) -> bool:
        """True when the WAL has no valid header (absent, empty or cut)."""
        with self.wal() as (header, _read):
            return header is None

    def checkpoint(self, mode: str) -> tuple[int, int, int]:
        """``PRAGMA wal_checkpoint(mode)`` on our reader: (busy, WAL frames, copied)."""
        row = _query(self.reader, f"PRAGMA wal_checkpoint({mode})")
        return int(row[0]), int(row[1]), int(row[2])

    def precopy(self) -> None:
        """A PASSIVE checkpoint on the barrier connection while ``reading`` pins our
        snapshot: it copies and syncs no frame past that snapshot, and the app keeps
        writing meanwhile. Best effort: another checkpoint may be running."""
        try:
            _query(self.barrier, "PRAGMA wal_checkpoint(PASSIVE)")
        except Exception as exc:  # sqlite3's OperationalError or apsw's BusyError
            if "lock" not in str(exc).lower() and "busy" not in str(exc).lower():
                raise

    def bump(self, *, truncate: bool = False) -> None:
        """One write transaction that changes nothing visible (``user_version`` set to
        itself): it makes a WAL exist, and right after a full checkpoint of ours it is
        the write that restarts the WAL, which ``truncate`` cuts back to that write."""
        _query(self.barrier, f"PRAGMA journal_size_limit={0 if truncate else -1}")
        self.barrier.execute("BEGIN IMMEDIATE")
        try:
            version = int(_query(self.barrier, "PRAGMA user_version")[0])
            self.barrier.execute(f"PRAGMA user_version={version}")
        except BaseException:
            self.barrier.execute("ROLLBACK")
            raise
        self.barrier.execute("COMMIT")

    @contextlib.contextmanager
    def writes_held(self, wait: float = BUSY_WAIT) -> Iterator[bool]:
        """Hold SQLite's write lock (``BEGIN IMMEDIATE``, writing nothing) so the WAL
        cannot grow; yields False when the app kept it past ``wait`` seconds."""
        if not self._begin_immediate(wait):
            yield False
            return
        try:
            yield True
        finally:
            self.barrier.execute("ROLLBACK")

    def _begin_immediate(self, wait: float) -> bool:
        _query(self.barrier, f"PRAGMA busy_timeout={round(wait * 1000)}")
        try:
            self.barrier.execute("BEGIN IMMEDIATE")
        except Exception:  # sqlite3's OperationalError or apsw's BusyError
            return False
        finally:
            _query(self.barrier, f"PRAGMA busy_timeout={round(BUSY_WAIT * 1000)}")
        return True
