"""Restore: stream the plan's files through the verifying decoder into a local file.

Each page is written where it belongs in a temp file beside the target that becomes the
target only when every file verified (``dbfile.database_output``). Memory is bounded by
the page map plus the read-ahead budget, not the database size.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from multiprocessing.context import BaseContext
from pathlib import Path

from ltx.codec import Decoder, FileIndex, FileInfo, lock_pgno
from ltx.dbfile import database_output_at
from ltx.errors import FormatError, UsageError
from ltx.resolve import PageMap
from ltx.restore._procs import default_context
from ltx.restore._split import Progress, decode_split
from ltx.storage import Store

__all__ = [
    "PROCESSES_ABOVE",
    "READ_AHEAD_BUDGET",
    "REMOTE_BUDGET",
    "REMOTE_PART",
    "REMOTE_PROCESSES",
    "restore_file",
]

READ_AHEAD_BUDGET = 24 << 20
"""Bytes of read parts held at once across all files of one restore (local stores and,
by default, remote ones: bench_replica.py)."""
_PART = 4 << 20
REMOTE_PART = 8 << 20
"""Default part size (one ranged GET each) for files not on this machine: 8 MiB parts
beat 4 MiB on a server that reads the whole object per range (moto) and matched them on
one that serves ranges (s3rver); 16 MiB gained nothing (docs/performance.md)."""
REMOTE_BUDGET = 24 << 20
"""Default bytes of fetched parts held at once for files not on this machine (three 8
MiB parts: 32 MiB was no faster and peaked 15 MiB higher)."""
REMOTE_PROCESSES = False
"""Parts fetched from a remote store decode on threads by default: a pool (forkserver)
was no faster there and each part's bytes cross a pipe; s3fs's event-loop thread rules
out fork anyway (docs/performance.md). A ``processes`` context still asks for a pool."""
SPLIT_ABOVE = 2 * _PART
"""Files larger than this are decoded in parts of about ``_PART`` bytes on every core."""
PROCESSES_ABOVE = 64 << 20
"""Local files in parts totalling more than this are decoded in worker processes (a
pool made for the call): below it the pool's start costs more than it saves."""


def _serial_file(
    store: Store,
    pm: PageMap,
    ordinal: int,
    wanted: set[int],
    fd: int,
    progress: Progress,
    ahead: int,
    chunk: int,
) -> int:
    """Decode one whole file with the streaming decoder, writing the pages it wins."""
    f, ps = pm.files[ordinal], pm.page_size
    written = 0
    with store.open_reader(f, chunk=chunk, ahead=ahead) as fp:
        for ph, data in Decoder(fp, name=f.path):  # verifies the file checksum
            if ph.pgno in wanted:
                os.pwrite(fd, data, (ph.pgno - 1) * ps)
                written += 1
                if written % 1024 == 0:
                    progress.add(1024)
    progress.add(written % 1024)
    return written


def _copy_pages(
    store: Store,
    pm: PageMap,
    fd: int,
    progress: Progress,
    file_index: Callable[[FileInfo], FileIndex] | None,
    processes: tuple[BaseContext, int, str] | None,
    part: int,
    budget: int,
) -> int:
    """Decode every file of the plan, large ones in parts on every core; return the count."""
    winners = pm.winners()
    large = [o for o in sorted(winners) if pm.files[o].size > SPLIT_ABOVE]
    small = [o for o in sorted(winners) if pm.files[o].size <= SPLIT_ABOVE]
    failed = (
        decode_split(
            store,
            pm,
            {o: winners[o] for o in large},
            fd,
            progress,
            file_index=file_index,
            part=part,
            budget=budget,
            processes=processes if sum(pm.files[o].size for o in large) > PROCESSES_ABOVE else None,
        )
        if large
        else []
    )
    workers = max(1, min(store.max_concurrency, len(small) + len(failed)))
    ahead = max(0, min(4, budget // (part * workers) - 1))
    counts = {o: len(winners[o]) for o in large if o not in failed}

    def one(ordinal: int) -> int:
        wanted = winners[ordinal]
        written = _serial_file(store, pm, ordinal, wanted, fd, progress, ahead, part)
        if written != len(wanted):
            raise FormatError(
                f"file holds {written} of {len(wanted)} pages", path=pm.files[ordinal].path
            )
        return written

    # Files that failed in parts go through the streaming decoder: it raises the same
    # error a serial restore would, or (if the file is fine after all) rewrites its pages.
    return sum(counts.values()) + sum(store.map(one, sorted(small + failed)))


def restore_file(
    store: Store,
    pm: PageMap,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    file_index: Callable[[FileInfo], FileIndex] | None = None,
    processes: BaseContext | bool | None = None,
    part: int | None = None,
    budget: int | None = None,
) -> Path:
    """Write the database of ``pm`` to ``path`` atomically; byte-identical to Litestream's.

    ``file_index`` returns a file's (cached) index, so large files are split without
    reading their index again; without it the index is read from the store.
    ``processes``: files split in parts totalling over ``PROCESSES_ABOVE`` bytes are
    decoded in a pool of worker processes made for this call, started with this
    ``multiprocessing`` context (default: fork on Linux; spawn elsewhere when the main
    module cannot run again in a worker, ``spawn_is_safe``); False keeps decoding on
    threads, as do one core and a daemonic process (which may not start children, e.g.
    a ``multiprocessing.Pool`` worker). For a remote store None means
    ``REMOTE_PROCESSES``. ``part`` (bytes per part, one ranged read each) and ``budget``
    (bytes of read parts held at once) default to ``_PART`` and ``READ_AHEAD_BUDGET`` for
    local files, ``REMOTE_PART`` and ``REMOTE_BUDGET`` for remote ones.
    """
    if (part is not None and part <= 0) or (budget is not None and budget <= 0):
        raise UsageError(f"restore needs a positive part size and budget, not {part}, {budget}")
    total = pm.commit - (1 if lock_pgno(pm.page_size) <= pm.commit else 0)
    cores = os.cpu_count() or 1
    remote = any(store.local_path(f.path) is None for f in pm.files)
    if processes is None and remote and not REMOTE_PROCESSES:
        processes = False
    part = part if part is not None else (REMOTE_PART if remote else _PART)
    budget = budget if budget is not None else (REMOTE_BUDGET if remote else READ_AHEAD_BUDGET)
    with database_output_at(path, overwrite=overwrite) as (fd, tmp):
        os.ftruncate(fd, pm.commit * pm.page_size)
        pool = None
        if processes is not False and cores > 1 and not multiprocessing.current_process().daemon:
            context = processes if isinstance(processes, BaseContext) else default_context()
            pool = None if context is None else (context, cores, str(tmp))
        count = _copy_pages(
            store, pm, fd, Progress(total, progress), file_index, pool, part, budget
        )
        if count != total:
            raise FormatError(f"plan covers {count} of {total} pages")
    return Path(path)
