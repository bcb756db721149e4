"""SQL on a replica (apsw): ``connect(url, txid=|timestamp=)`` for read-only connections that
follow the replica or move in time with Litestream's PRAGMAs, and ``register_vfs`` for a
VFS serving one fixed ``View``."""

from ltx.sqlite.connect import Connection, Cursor, connect
from ltx.sqlite.session import Session, Target
from ltx.sqlite.vfs import ReplicaVFS, ViewFile, register_vfs

__all__ = [
    "Connection",
    "Cursor",
    "ReplicaVFS",
    "Session",
    "Target",
    "ViewFile",
    "connect",
    "register_vfs",
]
