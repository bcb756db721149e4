"""One bounded pool of threads per store, shared by parallel maps, read-ahead and diffs.

Work submitted from inside the pool may wait on other work in the same pool (a map
task reading a file with read-ahead, a map inside a map). With a bounded pool that
deadlocks once every thread waits on work still queued behind it. So a pool thread
never waits on queued work: it takes the job back from the queue and runs it itself
(``Job.result``). A waiter outside the pool just waits: pool threads always progress.
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

__all__ = ["Job", "Workers"]

T = TypeVar("T")
R = TypeVar("R")

_here = threading.local()  # which pool (its token) the current thread belongs to, if any


def _enter(token: object) -> None:
    _here.token = token


class Job(Generic[R]):
    """One call submitted to a ``Workers`` pool; ``result()`` never deadlocks the pool."""

    __slots__ = ("_fn", "_future", "_workers")

    def __init__(self, workers: Workers, fn: Callable[[], R], future: Future[R]) -> None:
        self._workers, self._fn, self._future = workers, fn, future

    def result(self) -> R:
        """The call's result (or its exception), running it here if no thread took it yet
        and this thread is one of the pool's."""
        if self._workers.in_pool() and self._future.cancel():
            self._workers._done()  # runs here, inside a call the pool counts
            return self._fn()
        return self._future.result()

    def abandon(self) -> None:
        """Drop the call if it has not started, else wait for it to end (its outcome
        ignored): nothing runs on after its caller has given up on it."""
        if self._future.cancel():
            self._workers._done()
        else:
            concurrent.futures.wait([self._future])


class Workers:
    """Up to ``size`` threads, started on first use and stopped with ``close()`` (or when
    the pool is garbage collected)."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._token = object()
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._threads: set[int] = set()  # idents of this pool's threads
        self._busy = 0  # calls queued or running

    def _enter(self) -> None:
        _enter(self._token)
        with self._lock:
            self._threads.add(threading.get_ident())

    def _done(self) -> None:
        """A call ended (before its result is published) or was cancelled."""
        with self._lock:
            self._busy -= 1

    def _counted(self, fn: Callable[[], R]) -> Callable[[], R]:
        def call() -> R:
            try:
                return fn()
            finally:
                self._done()

        return call

    def idle_threads(self) -> frozenset[int] | None:
        """The idents of this pool's threads when none has a call queued or running (so
        none holds a lock a fork could copy), else None."""
        with self._lock:
            return frozenset(self._threads) if self._busy == 0 else None

    def in_pool(self) -> bool:
        """True on one of this pool's threads."""
        return getattr(_here, "token", None) is self._token

    def submit(self, fn: Callable[[], R]) -> Job[R]:
        """Queue ``fn()``; the pool runs at most ``size`` calls at once."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.size, "ltx-store", initializer=self._enter)
            self._busy += 1
            return Job(self, fn, self._pool.submit(self._counted(fn)))

    def imap(self, fn: Callable[[T], R], items: Iterable[T], limit: int) -> Iterator[R]:
        """``fn(x)`` for each item, in order, with at most ``limit`` calls queued or running."""
        window: collections.deque[Job[R]] = collections.deque()
        try:
            for x in items:
                if len(window) >= max(1, limit):
                    yield window.popleft().result()
                window.append(self.submit(functools.partial(fn, x)))
            while window:
                yield window.popleft().result()
        finally:  # on an error or an early stop: the rest is dropped or waited out
            for job in window:
                job.abandon()

    def map(self, fn: Callable[[T], R], items: Iterable[T], limit: int | None = None) -> list[R]:
        """``[fn(x) for x in items]`` with up to ``limit`` (default ``size``) in flight.

        One item, or a limit of one, runs here without the pool.
        """
        items = list(items)
        limit = self.size if limit is None else min(limit, self.size)
        if len(items) <= 1 or limit <= 1:
            return [fn(x) for x in items]
        return list(self.imap(fn, items, limit))

    def close(self) -> None:
        """Stop the threads after the work queued so far."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
