"""Parts of large files decoded in worker processes, so decoding uses every core.

Threads do not make decoding scale (``benchmarks/bench_gil.py``: the few microseconds
of Python per page hold the GIL), so a large restore starts a pool of processes for
this one call and shuts it down after. Each worker gets the files' page indexes once
(the pool's initializer) and opens the output (the restore's temp file) once. A task
is (file, part, pages wanted) and the part's bytes, fetched by the caller on the
store's pool, or for a local file its path: the worker reads the part itself. It
decodes the part with ``PartDecoder`` and writes its pages at their offsets. The
caller gets each part's ``PartSum`` and joins the checksums (``verify_parts``), as on
threads. A part that fails a check returns None: the caller decodes that file
serially, so errors stay those of a serial restore. The pool works with every start
method (fork, forkserver, spawn): nothing reaches a worker but picklable values and
this module's functions.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import BaseContext

import attrs

from ltx.codec import FileIndex, FilePart, PartDecoder, PartSum
from ltx.errors import FormatError
from ltx.restore._write import write_batch

__all__ = ["PartDone", "PartPool", "PartTask", "default_context", "spawn_is_safe"]


@attrs.frozen
class PartTask:
    """One part for a worker: the file's ordinal in the plan and name, the part, its bytes
    or the local path to read them from, and the pages it must write (None: all)."""

    ordinal: int
    seq: int
    name: str
    part: FilePart
    source: str | bytes
    wanted: frozenset[int] | None


@attrs.frozen
class PartDone:
    """A decoded part: its sum for ``verify_parts`` and the pages it wrote."""

    sum: PartSum
    written: int


class _Worker:
    """What one worker process holds for the whole restore: the files' indexes and the
    output descriptor (closed when the worker exits)."""

    def __init__(self, indexes: dict[int, FileIndex], out: str) -> None:
        self.indexes = indexes
        self.fd = os.open(out, os.O_WRONLY)


_worker: _Worker | None = None  # set by _start in a worker process only; the caller's stays None


def _start(indexes: dict[int, FileIndex], out: str) -> None:
    global _worker
    _worker = _Worker(indexes, out)


def _read(task: PartTask) -> bytes:
    if isinstance(task.source, bytes):
        return task.source
    with open(task.source, "rb", buffering=0) as f:
        return os.pread(f.fileno(), task.part.end - task.part.start, task.part.start)


def _run(task: PartTask) -> PartDone | None:
    """In a worker: decode and write one part; None when the part fails a check."""
    if _worker is None:  # pragma: no cover - only a broken pool gets here
        raise RuntimeError("part task outside a restore worker")
    fi, part = _worker.indexes[task.ordinal], task.part
    wanted = task.wanted
    if wanted is None:
        wanted = frozenset(fi.index.pgnos[part.lo : part.hi])
    dec = PartDecoder(fi, part, _read(task), name=task.name)
    written = 0
    try:
        for batch in dec:
            written += write_batch(_worker.fd, batch, wanted)
    except FormatError:
        return None
    return PartDone(dec.summary(), written)


def default_context(idle: frozenset[int] = frozenset()) -> BaseContext | None:
    """Fork on Linux (a worker starts in milliseconds with the decoders imported), but
    only while no other thread runs, bar the ``idle`` ones (the store's pool with no
    call in flight): a fork beside a busy thread may copy a lock it holds (Python 3.12
    warns of it). Spawn elsewhere (macOS, Windows), only where a spawned worker cannot
    rerun the caller's script (``spawn_is_safe``). Else None: threads; the caller can
    still pass a context (forkserver, spawn)."""
    if sys.platform.startswith("linux"):
        me = threading.get_ident()
        alone = all(t.ident == me or t.ident in idle for t in threading.enumerate())
        method = "fork" if alone else None
    else:
        method = "spawn" if spawn_is_safe() else None
    return None if method is None else multiprocessing.get_context(method)


def spawn_is_safe() -> bool:
    """True when a spawned worker will not run the main module's top level again.

    A spawned child imports the parent's main module (as ``__mp_main__``); a script that
    restores at its top level, without the ``if __name__ == "__main__"`` guard, would
    restore again in every worker. Safe: no main file (interactive, ``-c``) or a
    package's ``__main__`` run with ``-m`` (which multiprocessing does not import).
    Any other script may lack the guard; its caller can still pass a context.
    """
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None:
        return bool(spec.name == "__main__" or spec.name.endswith(".__main__"))
    return getattr(main, "__file__", None) is None


class PartPool:
    """``workers`` processes made for one restore, each holding ``indexes`` and the
    output ``out`` open; ``decode`` runs one task there. Shut down on exit, queued tasks
    cancelled."""

    def __init__(
        self, context: BaseContext, workers: int, indexes: dict[int, FileIndex], out: str
    ) -> None:
        self._pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start, initargs=(indexes, out)
        )
        # Start the workers now, from this thread: with fork, before the decode threads
        # exist; with spawn, their start overlaps the first reads.
        self._pool.submit(int)

    def decode(self, task: PartTask) -> PartDone | None:
        """Decode and write ``task``'s part in a worker; None when it failed a check."""
        return self._pool.submit(_run, task).result()

    def __enter__(self) -> PartPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
