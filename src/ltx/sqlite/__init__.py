"""A read-only SQLite VFS (apsw) serving a ``View``: query a replica at any point in time."""

from ltx.sqlite.vfs import ViewFile, register_vfs

__all__ = ["ViewFile", "register_vfs"]
