"""Replicate a live SQLite database to Litestream 0.5 replicas, from Python.

``Replicator(db_path, *urls)`` captures committed transactions from the WAL into one
level-0 LTX file per sync (Litestream's TXIDs and header fields), creates each file on
every replica only if absent, and owns the checkpoints. ``replicate`` runs one in the
foreground.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from ltx.replicate._capture import Capture, Position, capture
from ltx.replicate._replicator import Replicator, Synced, replicate
from ltx.replicate._source import Database, stdlib_connect

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


class _CallableModule(types.ModuleType):
    """``ltx.replicate`` is both this package and the function: importing the package
    binds its name on ``ltx``, so calling the package runs ``replicate``."""

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        replicate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
