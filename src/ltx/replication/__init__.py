"""Replicate a live SQLite database to Litestream 0.5 replicas, from Python.

``Replicator(db_path, *urls)`` captures committed transactions from the WAL into one
level-0 LTX file per sync (Litestream's TXIDs and header fields), creates each file on
every replica only if absent, and owns the checkpoints. ``replicate`` runs one in the
foreground.
"""

from __future__ import annotations

from ltx.replication._capture import Capture, Position, capture
from ltx.replication._foreground import replicate
from ltx.replication._replicator import Replicator, Synced
from ltx.replication._source import Database, stdlib_connect

__all__ = [
    "Capture",
    "Database",
    "Position",
    "Replicator",
    "Synced",
    "capture",
    "replicate",
    "stdlib_connect",
]
