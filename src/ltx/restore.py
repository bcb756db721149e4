"""Restore: stream the plan's files through the verifying decoder into a local file.

Each page is written where it belongs in a temp file beside the target, which is
fsynced and renamed into place; the old ``-wal``/``-shm`` are removed first (as
``litestream restore -force``), so SQLite never replays a stale WAL onto the result.
Memory is bounded by the page map plus the read-ahead budget, not the database size.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from ltx.codec import Decoder, lock_pgno
from ltx.errors import FormatError, OutputExistsError
from ltx.resolve import PageMap
from ltx.storage import Store

__all__ = ["restore_file", "READ_AHEAD_BUDGET"]

READ_AHEAD_BUDGET = 64 << 20
"""Bytes of ranged reads in flight at once across all files of one restore."""
_PART = 8 << 20
_SIDECARS = ("-wal", "-shm", "-journal")


def _tmp_name(out: Path) -> Path:
    return out.with_name(f".{out.name}.ltx-restore-{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")


def clean_leftovers(out: Path) -> list[Path]:
    """Remove temp files of restores to ``out`` whose process is gone (e.g. SIGKILLed)."""
    pattern = re.compile(rf"^\.{re.escape(out.name)}\.ltx-restore-(\d+)-[0-9a-f]+\.tmp$")
    removed = []
    for entry in out.parent.iterdir() if out.parent.is_dir() else ():
        m = pattern.match(entry.name)
        if m is None or _alive(int(m.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # ours: a temp file of an earlier, finished call in this process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Progress:
    def __init__(self, total: int, progress: Callable[[int, int], None] | None) -> None:
        self.total, self.done, self._cb = total, 0, progress
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.done += n
            if self._cb is not None and n:
                self._cb(self.done, self.total)


def _copy_pages(store: Store, pm: PageMap, fd: int, progress: _Progress) -> int:
    """Decode every file of the plan in parallel, writing the pages it wins; return count."""
    ps = pm.page_size
    winners = pm.winners()
    workers = max(1, min(store.max_concurrency, len(winners)))
    ahead = max(0, min(4, READ_AHEAD_BUDGET // (_PART * workers) - 1))

    def one(ordinal: int) -> int:
        wanted, f = winners[ordinal], pm.files[ordinal]
        written = 0
        with store.open_reader(f, chunk=_PART, ahead=ahead) as fp:
            for ph, data in Decoder(fp, name=f.path):  # verifies the file checksum
                if ph.pgno in wanted:
                    os.pwrite(fd, data, (ph.pgno - 1) * ps)
                    written += 1
                    if written % 1024 == 0:
                        progress.add(1024)
        progress.add(written % 1024)
        if written != len(wanted):
            raise FormatError(f"file holds {written} of {len(wanted)} pages", path=f.path)
        return written

    return sum(store.map(one, sorted(winners)))


def restore_file(
    store: Store,
    pm: PageMap,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write the database of ``pm`` to ``path`` atomically; byte-identical to Litestream's."""
    out = Path(path)
    if out.exists() and not overwrite:
        raise OutputExistsError(
            f"{out} exists; pass overwrite=True (CLI: --overwrite) to replace it"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(out)
    tmp = _tmp_name(out)
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
    total = pm.commit - (1 if lock_pgno(pm.page_size) <= pm.commit else 0)
    try:
        os.ftruncate(fd, pm.commit * pm.page_size)
        count = _copy_pages(store, pm, fd, _Progress(total, progress))
        if count != total:
            raise FormatError(f"plan covers {count} of {total} pages")
        os.fsync(fd)
        os.close(fd)
        fd = -1
        for suffix in _SIDECARS:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{out}{suffix}")
        os.replace(tmp, out)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return out
