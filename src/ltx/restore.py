"""Restore: stream the plan's files through the verifying decoder into a local file.

Each page is written where it belongs in a temp file beside the target that becomes the
target only when every file verified (``dbfile.database_output``). Memory is bounded by
the page map plus the read-ahead budget, not the database size.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from ltx.codec import Decoder, lock_pgno
from ltx.dbfile import database_output
from ltx.errors import FormatError
from ltx.resolve import PageMap
from ltx.storage import Store

__all__ = ["restore_file", "READ_AHEAD_BUDGET"]

READ_AHEAD_BUDGET = 64 << 20
"""Bytes of ranged reads in flight at once across all files of one restore."""
_PART = 8 << 20


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
    total = pm.commit - (1 if lock_pgno(pm.page_size) <= pm.commit else 0)
    with database_output(path, overwrite=overwrite) as fd:
        os.ftruncate(fd, pm.commit * pm.page_size)
        count = _copy_pages(store, pm, fd, _Progress(total, progress))
        if count != total:
            raise FormatError(f"plan covers {count} of {total} pages")
    return Path(path)
