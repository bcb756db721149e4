"""``replicate``: one replicator in the foreground, as the ``ltx replicate`` daemon runs it."""

from __future__ import annotations

import os
import threading
from typing import Any

from ._replicator import Replicator

__all__ = ["replicate"]


def replicate(
    db_path: str | os.PathLike[str],
    *urls: str,
    stop: threading.Event | None = None,
    **options: Any,
) -> None:
    """Replicate ``db_path`` to ``urls`` in the foreground until ``stop`` is set (or
    KeyboardInterrupt), then sync a last time."""
    stop = stop or threading.Event()
    with Replicator(db_path, *urls, **options):
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
