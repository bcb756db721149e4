"""Read-only apsw VFS over a ``ltx.View``: every read is ``View.read`` (cached ranged reads).

Register once, then open ``file:<anything>?vfs=<name>`` read-only; journals and temp
files go to the default VFS. The View is fixed at registration; open another VFS name
for another point in time.
"""

from __future__ import annotations

from typing import Any

import apsw

from ltx.view import View

__all__ = ["ViewFile", "register_vfs"]


class ViewFile:
    """The main database file of a View, as SQLite sees it (read-only, never locked out)."""

    def __init__(self, view: View) -> None:
        self.view = view

    def xRead(self, amount: int, offset: int) -> bytes:
        data = self.view.read(offset, amount)
        if len(data) < amount:
            data += bytes(amount - len(data))  # SQLite expects zero fill past EOF
        return data

    def xFileSize(self) -> int:
        return self.view.size

    def xWrite(self, data: bytes, offset: int) -> None:
        raise apsw.ReadOnlyError("ltx VFS is read-only")

    def xTruncate(self, size: int) -> None:
        raise apsw.ReadOnlyError("ltx VFS is read-only")

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


class _ViewVFS(apsw.VFS):
    def __init__(self, name: str, view: View) -> None:
        self._view = view
        super().__init__(name, "")

    def xOpen(self, name: Any, flags: list[int]) -> Any:
        if flags[0] & apsw.SQLITE_OPEN_MAIN_DB:
            flags[1] = apsw.SQLITE_OPEN_READONLY
            return ViewFile(self._view)
        return super().xOpen(name, flags)


def register_vfs(view: View, name: str = "ltx") -> apsw.VFS:
    """Register a VFS named ``name`` serving ``view``; keep the returned object alive."""
    return _ViewVFS(name, view)
