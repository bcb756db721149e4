"""``memory://``: fsspec's in-process memory filesystem, for tests and examples."""

from __future__ import annotations

import threading
from typing import Any

from ltx.storage._backend import Backend, Payload, SchemeSpec, UrlParts, clean_path

__all__ = ["SPEC", "MemoryBackend"]

# fsspec's memory filesystem is one store per process, so its writer lock is too.
_PROCESS_LOCK = threading.Lock()


class MemoryBackend(Backend):
    """Create-if-absent made atomic by the process-wide lock around check-and-write."""

    conditional_create = True
    read_around = 0

    def write(self, path: str, data: Payload, timestamp_ms: int, if_absent: bool) -> None:
        with _PROCESS_LOCK:
            super().write(path, data, timestamp_ms, if_absent)


def _parse(u: UrlParts) -> tuple[str, dict[str, Any]]:
    return "/" + clean_path(u.parts.netloc + u.parts.path), {}


SPEC = SchemeSpec(
    schemes=("memory",),
    protocol="memory",
    backend=MemoryBackend,
    parse=_parse,
    tested="always (in process)",
)
