"""Large files of a restore decoded in parts, so one big snapshot uses every core.

Each file's page index cuts it into parts (``codec.split_file``). Ranged reads run on
the store's one pool (``store.workers``: many requests in flight for object stores);
decoding runs on a pool of one thread per core: ``lz4.block.decompress``, fastcrc's CRC
and ``os.pwritev`` release the GIL (measured: benchmarks/bench_gil.py), and what holds
it is a few microseconds of Python per page (one decompress call per page; one CRC and
one write per 256 pages). Pages are written to their offsets in runs; at most
``budget`` bytes of read parts are held at once. The file checksum is verified from the
parts' CRCs (``codec.verify_parts``). A file that fails any check here is handed back
to the caller, which decodes it with the streaming ``Decoder``, so a corrupt file
raises exactly the error a serial restore raises.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import BaseContext

from ltx.codec import (
    FileIndex,
    FileInfo,
    FilePart,
    PartDecoder,
    PartSum,
    read_file_index,
    split_file,
    verify_parts,
)
from ltx.errors import FormatError
from ltx.resolve import PageMap
from ltx.restore._procs import PartDone, PartPool, PartTask
from ltx.restore._write import write_batch
from ltx.storage import Job, Store, Workers

__all__ = ["Progress", "decode_split"]


class Progress:
    """Pages written so far, reported to an optional callback; thread-safe."""

    def __init__(self, total: int, progress: Callable[[int, int], None] | None) -> None:
        self.total, self.done, self._cb = total, 0, progress
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.done += n
            if self._cb is not None and n:
                self._cb(self.done, self.total)


class _Job:
    __slots__ = ("fi", "ordinal", "part", "path", "seq")

    def __init__(self, ordinal: int, path: str, fi: FileIndex, part: FilePart, seq: int) -> None:
        self.ordinal, self.path, self.fi, self.part, self.seq = ordinal, path, fi, part, seq


def _index(
    store: Store, pm: PageMap, ordinal: int, known: Callable[[FileInfo], FileIndex] | None
) -> FileIndex | None:
    """The file's header, page index and trailer; None when they do not parse."""
    f = pm.files[ordinal]
    try:
        if known is not None:
            fi = known(f)
        else:
            fi = read_file_index(lambda s, e: store.read_range(f.path, s, e), f.size, name=f.path)
    except FormatError:
        return None
    if fi.header is None or fi.header.page_size != pm.page_size:
        return None
    return fi


def decode_split(
    store: Store,
    pm: PageMap,
    winners: dict[int, set[int]],
    fd: int,
    progress: Progress,
    *,
    part: int,
    budget: int,
    file_index: Callable[[FileInfo], FileIndex] | None = None,
    processes: tuple[BaseContext, int, str] | None = None,
) -> list[int]:
    """Decode the files ``winners`` names (ordinal -> pages it wins) in parts of about
    ``part`` bytes, writing the pages they win into ``fd``. Return the ordinals of the
    files that failed a check, for the caller to decode serially; other errors raise.

    ``processes`` (start method, workers, the output's path): decode in that many worker
    processes (local files are read there, others fetched here); None: on threads.
    """
    ordinals = sorted(winners)
    indexes = store.map(lambda o: _index(store, pm, o, file_index), ordinals)
    fis = {o: fi for o, fi in zip(ordinals, indexes, strict=True) if fi is not None}
    failed = set(ordinals) - set(fis)
    jobs: list[_Job] = []
    sums: dict[int, list[PartSum | None]] = {}
    for o, fi in fis.items():
        parts = split_file(fi, part)
        sums[o] = [None] * len(parts)
        jobs += [_Job(o, pm.files[o].path, fi, p, k) for k, p in enumerate(parts)]
    written = dict.fromkeys(ordinals, 0)
    lock = threading.Lock()

    def done(ordinal: int, seq: int, got: PartDone | None) -> None:
        with lock:
            if got is None:
                failed.add(ordinal)
            elif ordinal not in failed:
                sums[ordinal][seq] = got.sum
                written[ordinal] += got.written

    if processes is None:
        _on_threads(store, jobs, winners, fd, progress, done, failed, part=part, budget=budget)
    else:
        _in_processes(store, jobs, winners, progress, done, failed, processes, fis, part, budget)
    for o, got in sums.items():
        if o in failed:
            continue
        try:
            verify_parts(fis[o], [s for s in got if s is not None], name=pm.files[o].path)
        except FormatError:
            failed.add(o)
            continue
        if written[o] != len(winners[o]):
            failed.add(o)
    return sorted(failed)


def _in_processes(
    store: Store,
    jobs: list[_Job],
    winners: dict[int, set[int]],
    progress: Progress,
    done: Callable[[int, int, PartDone | None], None],
    failed: set[int],
    processes: tuple[BaseContext, int, str],
    fis: dict[int, FileIndex],
    part: int,
    budget: int,
) -> None:
    """Decode parts in worker processes; local files are read by the workers, others on
    the store's pool here and handed over."""
    context, workers, out = processes
    paths = {j.ordinal: j.path for j in jobs}
    local = {o: p for o, path in paths.items() if (p := store.local_path(path)) is not None}

    def fetch(job: _Job) -> bytes:
        if job.ordinal in local:
            return b""
        return store.read_range(job.path, job.part.start, job.part.end)

    with PartPool(context, workers, fis, out) as pool:

        def decode(job: _Job, blob: bytes) -> None:
            if job.ordinal in failed:
                return
            try:
                got = pool.decode(_task(job, winners[job.ordinal], local.get(job.ordinal, blob)))
            except BrokenProcessPool:  # a worker died (killed, out of memory): decode serially
                got = None
            done(job.ordinal, job.seq, got)
            if got is not None:
                progress.add(got.written)

        slots = max(2, budget // part)
        _pipeline(jobs, fetch, decode, slots=slots, workers=store.workers, threads=2 * workers)


def _task(job: _Job, wanted: set[int], source: str | bytes) -> PartTask:
    """The process task for ``job``: the pages it must write, None when all of them."""
    mine = None
    if len(wanted) != len(job.fi.index):  # the file does not supply every page it holds
        pgnos = job.fi.index.pgnos[job.part.lo : job.part.hi]
        mine = frozenset(p for p in pgnos if p in wanted)
        mine = None if len(mine) == len(pgnos) else mine
    return PartTask(job.ordinal, job.seq, job.path, job.part, source, mine)


def _on_threads(
    store: Store,
    jobs: list[_Job],
    winners: dict[int, set[int]],
    fd: int,
    progress: Progress,
    done: Callable[[int, int, PartDone | None], None],
    failed: set[int],
    *,
    part: int,
    budget: int,
) -> None:
    """Read parts on the store's pool and decode them on one thread per core."""

    def fetch(job: _Job) -> bytes:
        return store.read_range(job.path, job.part.start, job.part.end)

    def decode(job: _Job, blob: bytes) -> None:
        if job.ordinal in failed:
            return
        wanted = winners[job.ordinal]
        dec = PartDecoder(job.fi, job.part, blob, name=job.path)
        count = 0
        try:
            for batch in dec:
                n = write_batch(fd, batch, wanted)
                progress.add(n)
                count += n
        except FormatError:
            done(job.ordinal, job.seq, None)
            return
        done(job.ordinal, job.seq, PartDone(dec.summary(), count))

    threads = os.cpu_count() or 1
    _pipeline(
        jobs, fetch, decode, slots=max(2, budget // part), workers=store.workers, threads=threads
    )


def _pipeline(
    jobs: list[_Job],
    fetch: Callable[[_Job], bytes],
    decode: Callable[[_Job, bytes], None],
    *,
    slots: int,
    workers: Workers,
    threads: int,
) -> None:
    """Fetch jobs on the store's pool and decode them on one thread per core, holding at
    most ``slots`` fetched parts at once; the first error stops new work and is raised."""
    free = threading.Semaphore(slots)
    stop = threading.Event()
    pending: list[Future[None]] = []
    fetches: list[Job[None]] = []
    cpu = ThreadPoolExecutor(threads, thread_name_prefix="ltx-decode")

    def work(job: _Job, got: Future[bytes]) -> None:
        try:
            if not stop.is_set():
                decode(job, got.result())
        except BaseException:
            stop.set()
            raise
        finally:
            free.release()

    def fetch_then_decode(job: _Job) -> None:
        """On the store's pool: read the part, then queue its decode (never raises)."""
        got: Future[bytes] = Future()
        try:
            got.set_result(fetch(job))
        except BaseException as exc:
            got.set_exception(exc)
        pending.append(cpu.submit(work, job, got))

    try:
        for job in jobs:
            free.acquire()
            if stop.is_set():
                break
            if workers.in_pool():  # a pool thread blocked on ``free`` must not wait on it
                fetch_then_decode(job)
            else:
                fetches.append(workers.submit(functools.partial(fetch_then_decode, job)))
    except BaseException:
        stop.set()
        raise
    finally:
        for fetched in fetches:  # each has queued its decode once it returns
            fetched.result()
        cpu.shutdown(wait=True)
    for f in pending:
        f.result()
