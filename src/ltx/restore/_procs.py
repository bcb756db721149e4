"""Parts of large local files decoded in worker processes, so decoding uses every core.

Threads do not make decoding scale (``benchmarks/bench_gil.py``: the few microseconds of
Python per page hold the GIL), so a large restore from a local replica starts a pool of
processes for this one call and shuts it down after. Each worker gets the files' page
indexes once (the pool's initializer) and opens the output (the restore's temp file)
once; a task is only (file, part, pages wanted): the worker reads the part itself,
decodes it with ``PartDecoder`` and writes its pages at their offsets. The caller gets
each part's ``PartSum`` and joins the checksums (``verify_parts``), as on threads. A part
that fails a check returns None: the caller decodes that file serially, so errors stay
those of a serial restore. The pool works with every start method (fork, forkserver,
spawn): nothing reaches a worker but picklable values and this module's functions.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing.context import BaseContext

import attrs

from ltx.codec import FileIndex, FilePart, PartDecoder, PartSum
from ltx.errors import FormatError
from ltx.restore._write import write_batch

__all__ = ["PartTask", "decode_in_processes", "default_context"]


@attrs.frozen
class PartTask:
    """One part for a worker: the file (its local path and ordinal in the plan), the part,
    and the pages it must write (None: every page of the part)."""

    ordinal: int
    seq: int
    path: str
    part: FilePart
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


def _run(task: PartTask) -> PartDone | None:
    """In a worker: read, decode and write one part; None when the part fails a check."""
    if _worker is None:  # pragma: no cover - only a broken pool gets here
        raise RuntimeError("part task outside a restore worker")
    fi, part = _worker.indexes[task.ordinal], task.part
    with open(task.path, "rb", buffering=0) as f:
        blob = os.pread(f.fileno(), part.end - part.start, part.start)
    wanted = task.wanted
    if wanted is None:
        wanted = frozenset(fi.index.pgnos[part.lo : part.hi])
    dec = PartDecoder(fi, part, blob, name=task.path)
    del blob
    written = 0
    try:
        for batch in dec:
            written += write_batch(_worker.fd, batch, wanted)
    except FormatError:
        return None
    return PartDone(dec.summary(), written)


def default_context() -> BaseContext:
    """Fork where it is the platform's safe default (Linux: a worker starts in
    milliseconds, the decoders need no import); spawn elsewhere (macOS, Windows)."""
    linux = sys.platform.startswith("linux")
    return multiprocessing.get_context("fork" if linux else "spawn")


def decode_in_processes(
    tasks: list[PartTask],
    indexes: dict[int, FileIndex],
    out: str,
    *,
    done: Callable[[PartTask, PartDone | None], None],
    workers: int,
    context: BaseContext,
) -> None:
    """Run ``tasks`` on a pool of ``workers`` processes made for this call, calling
    ``done`` in this thread as each ends; at most two tasks per worker are queued, and
    the first error cancels the rest and is raised."""
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start, initargs=(indexes, out)
    )
    pending: dict[Future[PartDone | None], PartTask] = {}
    try:
        queue = iter(tasks)
        for task in queue:
            pending[pool.submit(_run, task)] = task
            if len(pending) >= 2 * workers:
                _collect(pending, done, FIRST_COMPLETED)
        _collect(pending, done, "ALL_COMPLETED")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _collect(
    pending: dict[Future[PartDone | None], PartTask],
    done: Callable[[PartTask, PartDone | None], None],
    when: str,
) -> None:
    finished, _ = wait(list(pending), return_when=when)
    for fut in finished:
        task = pending.pop(fut)
        done(task, fut.result())
