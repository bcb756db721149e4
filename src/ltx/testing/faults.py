"""Fault and latency injection around any fsspec filesystem, for testing stores and replicas.

``FaultyFileSystem(fs, rate=0.2)`` makes a share of calls fail with a transient error
(connection reset) before they reach ``fs``; ``crash_after`` stops a run after N calls
(before or after the call takes effect) to test crash safety; ``calls`` counts requests.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

__all__ = ["FaultyFileSystem", "Crash", "CountingFileSystem"]

_METHODS = frozenset(
    {
        "ls",
        "cat_file",
        "pipe_file",
        "rm_file",
        "info",
        "exists",
        "metadata",
        "makedirs",
        "mv",
        "open",
    }
)


class Crash(BaseException):
    """Raised by ``crash_after`` to simulate the process dying mid-run (not an Exception)."""


class CountingFileSystem:
    """Delegates to ``fs`` and counts calls per method in ``calls``."""

    def __init__(self, fs: Any) -> None:
        self._fs = fs
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._fs, name)
        if name not in _METHODS or not callable(attr):
            return attr

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self._before(name, args)
            result = attr(*args, **kwargs)
            self._after(name, args)
            return result

        return wrapped

    def _before(self, name: str, args: tuple[Any, ...]) -> None:
        with self._lock:
            self.calls[name] += 1

    def _after(self, name: str, args: tuple[Any, ...]) -> None:
        pass

    @property
    def total(self) -> int:
        """All calls counted so far."""
        return sum(self.calls.values())


class FaultyFileSystem(CountingFileSystem):
    """Injects transient faults at ``rate``, permanent ones for ``deny`` methods, latency,
    and a crash after ``crash_after`` calls (``crash_when``: "before" or "after" the call)."""

    def __init__(
        self,
        fs: Any,
        *,
        rate: float = 0.0,
        seed: int = 0,
        deny: frozenset[str] = frozenset(),
        latency: float = 0.0,
        crash_after: int | None = None,
        crash_when: str = "before",
    ) -> None:
        super().__init__(fs)
        self.rate = rate
        self.deny = deny
        self.latency = latency
        self.crash_after = crash_after
        self.crash_when = crash_when
        self.faults = 0
        self._rng = random.Random(seed)

    def _before(self, name: str, args: tuple[Any, ...]) -> None:
        super()._before(name, args)
        with self._lock:
            n = self.total
            roll = self._rng.random()
        if self.latency:
            time.sleep(self.latency)
        if self.crash_after is not None and self.crash_when == "before" and n > self.crash_after:
            raise Crash(f"crash before call {n} ({name})")
        if name in self.deny:
            raise PermissionError(f"AccessDenied: injected for {name}")
        if roll < self.rate:
            with self._lock:
                self.faults += 1
            raise ConnectionResetError(f"injected transient fault in {name}")

    def _after(self, name: str, args: tuple[Any, ...]) -> None:
        if (
            self.crash_after is not None
            and self.crash_when == "after"
            and self.total > self.crash_after
        ):
            raise Crash(f"crash after call {self.total} ({name})")
