"""A read-only, immutable main-database file for apsw, over ``read(offset, n)``.

``ltx.sqlite`` serves a View's bytes to SQLite with it, and ``ltx.changes`` each side of
a wide diff: the one home of what such a file answers (no writes, no locks, zeros past
the end). Needs apsw (extra ``sqlite``).
"""

from __future__ import annotations

from collections.abc import Callable

import apsw

__all__ = ["ReadOnlyFile"]


class ReadOnlyFile:
    """An apsw VFS file: reads through ``read``, ``size()`` bytes long, never written."""

    def __init__(
        self, read: Callable[[int, int], bytes], size: Callable[[], int], what: str = "ltx VFS"
    ) -> None:
        self._read, self._size, self._what = read, size, what

    def xRead(self, amount: int, offset: int) -> bytes:
        data = self._read(offset, amount)
        if len(data) < amount:
            data += bytes(amount - len(data))  # SQLite expects zero fill past EOF
        return data

    def xFileSize(self) -> int:
        return self._size()

    def xWrite(self, data: bytes, offset: int) -> None:
        raise apsw.ReadOnlyError(f"{self._what} is read-only")

    def xTruncate(self, size: int) -> None:
        raise apsw.ReadOnlyError(f"{self._what} is read-only")

    def xSync(self, flags: int) -> None:
        return None

    def xLock(self, level: int) -> None:
        return None

    def xUnlock(self, level: int) -> None:
        return None

    def xCheckReservedLock(self) -> bool:
        return False

    def xFileControl(self, op: int, ptr: int) -> bool:
        return False

    def xSectorSize(self) -> int:
        return 4096

    def xDeviceCharacteristics(self) -> int:
        return int(apsw.SQLITE_IOCAP_IMMUTABLE)

    def xClose(self) -> None:
        return None
