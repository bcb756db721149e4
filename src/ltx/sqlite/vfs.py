"""Read-only apsw VFSes: ``ReplicaVFS`` behind ``connect`` and ``register_vfs`` over one View.

``ReplicaVFS`` is registered once per process (named ``ltx``); each connection opens
``file:ltx-<id>?vfs=ltx`` and the VFS maps that name to the connection's ``Session``
until the file closes. ``register_vfs`` serves one fixed View under a name of your own.
Journals and temp files go to the default VFS.
"""

from __future__ import annotations

import itertools
import re
import threading
from typing import Any

import apsw

from ltx.errors import UsageError
from ltx.sqlfile import ReadOnlyFile
from ltx.sqlite.session import PRAGMAS, Session
from ltx.view import View

__all__ = ["ReplicaVFS", "SessionFile", "ViewFile", "register_vfs", "shared_vfs"]

_OURS = re.compile(r"ltx-\d+(-journal|-wal|-shm)?")
_READ_ONLY = "ltx connections are read-only: write to the primary database instead"


class SessionFile:
    """The main database file of one ``connect`` connection: reads its Session's View.

    It tracks SQLite's lock level so the Session moves only between read transactions,
    and answers the Litestream PRAGMAs through SQLITE_FCNTL_PRAGMA. Never IMMUTABLE:
    SQLite must re-check the change counter at each read transaction.
    """

    def __init__(self, vfs: ReplicaVFS, key: str, session: Session) -> None:
        self.vfs = vfs
        self.key = key
        self.session = session
        self.level = apsw.SQLITE_LOCK_NONE

    def xRead(self, amount: int, offset: int) -> bytes:
        return self.session.read(offset, amount)

    def xFileSize(self) -> int:
        return self.session.size

    def xWrite(self, data: bytes, offset: int) -> None:
        raise apsw.ReadOnlyError(_READ_ONLY)

    def xTruncate(self, size: int) -> None:
        raise apsw.ReadOnlyError(_READ_ONLY)

    def xSync(self, flags: int) -> None:
        return None

    def xLock(self, level: int) -> None:
        if level >= apsw.SQLITE_LOCK_RESERVED:
            raise apsw.ReadOnlyError(_READ_ONLY)
        if self.level == apsw.SQLITE_LOCK_NONE and level >= apsw.SQLITE_LOCK_SHARED:
            self.session.begin()
        self.level = level

    def xUnlock(self, level: int) -> None:
        if level == apsw.SQLITE_LOCK_NONE and self.level != apsw.SQLITE_LOCK_NONE:
            self.session.end()
        self.level = level

    def xCheckReservedLock(self) -> bool:
        return False

    def xFileControl(self, op: int, ptr: int) -> bool:
        if op != apsw.SQLITE_FCNTL_PRAGMA:
            return False
        pragma = apsw.VFSFcntlPragma(ptr)
        name = pragma.name.lower()
        if name not in PRAGMAS:
            return False  # SQLite's own PRAGMAs (and unknown ones) carry on as usual
        result = self.session.pragma(name, pragma.value)
        if result is not None:
            pragma.result = result
        return True

    def xSectorSize(self) -> int:
        return 4096

    def xDeviceCharacteristics(self) -> int:
        return 0

    def xClose(self) -> None:
        self.session.close()
        self.vfs.release(self.key)


class ReplicaVFS(apsw.VFS):
    """One VFS for every ``connect`` connection; holds the Session of each open file."""

    def __init__(self, name: str = "ltx") -> None:
        self.vfsname = name
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._sessions: dict[str, Session] = {}
        super().__init__(name, "")

    def add(self, session: Session) -> str:
        """Register ``session``; returns the file name to open (``ltx-<id>``)."""
        with self._lock:
            key = f"ltx-{next(self._ids)}"
            self._sessions[key] = session
        return key

    def release(self, key: str) -> None:
        """Forget a file's Session (on close, or when opening the connection failed)."""
        with self._lock:
            self._sessions.pop(key, None)

    @property
    def open_sessions(self) -> int:
        """How many sessions are registered (0 once every connection has closed)."""
        return len(self._sessions)

    def xOpen(self, name: Any, flags: list[int]) -> Any:
        if not flags[0] & apsw.SQLITE_OPEN_MAIN_DB:
            return super().xOpen(name, flags)
        key = name.filename() if isinstance(name, apsw.URIFilename) else str(name)
        with self._lock:
            session = self._sessions.get(key)
            if session is None or session.opened:
                raise apsw.CantOpenError(f"{key} is not a pending ltx.sqlite.connect session")
            session.opened = True
        flags[1] = apsw.SQLITE_OPEN_READONLY
        return SessionFile(self, key, session)

    def xAccess(self, pathname: str, flags: int) -> bool:
        if _OURS.fullmatch(pathname):
            return False  # no journal, WAL or shm exists beside a replica connection
        return bool(super().xAccess(pathname, flags))

    def xFullPathname(self, name: str) -> str:
        return name if _OURS.fullmatch(name) else str(super().xFullPathname(name))


_shared: ReplicaVFS | None = None
_shared_lock = threading.Lock()


def shared_vfs() -> ReplicaVFS:
    """The process's ``ReplicaVFS`` named ``ltx``, registered on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            if "ltx" in apsw.vfs_names():
                raise UsageError("a VFS named 'ltx' is already registered by someone else")
            _shared = ReplicaVFS("ltx")
        return _shared


class ViewFile(ReadOnlyFile):
    """The main database file of a fixed View, as SQLite sees it (read-only, immutable)."""

    def __init__(self, view: View) -> None:
        super().__init__(view.read, lambda: view.size)
        self.view = view


class _ViewVFS(apsw.VFS):
    def __init__(self, name: str, view: View) -> None:
        self._view = view
        super().__init__(name, "")

    def xOpen(self, name: Any, flags: list[int]) -> Any:
        if flags[0] & apsw.SQLITE_OPEN_MAIN_DB:
            flags[1] = apsw.SQLITE_OPEN_READONLY
            return ViewFile(self._view)
        return super().xOpen(name, flags)


def register_vfs(view: View, name: str = "ltx-view") -> apsw.VFS:
    """Register a VFS named ``name`` serving one fixed ``view``; keep the returned object alive.

    For connections that follow the replica or move in time, use ``ltx.sqlite.connect``.
    """
    if name == "ltx":
        raise UsageError("the VFS name 'ltx' belongs to ltx.sqlite.connect: pick another")
    return _ViewVFS(name, view)
