"""Decoded pages written to their offsets in the restore's output, a run at a time."""

from __future__ import annotations

import os
from collections.abc import Container

from ltx.codec import PageBatch

__all__ = ["write_batch"]

_PWRITEV = getattr(os, "pwritev", None)


def _write_views(fd: int, views: list[memoryview], offset: int) -> None:
    """Write ``views`` back to back at ``offset`` (one ``pwritev`` where there is one)."""
    if _PWRITEV is not None:
        n = _PWRITEV(fd, views, offset)
        total = sum(len(v) for v in views)
        if n == total:
            return
        data = memoryview(b"".join(views))[n:]  # a short write: finish it by hand
        offset += n
    else:
        data = memoryview(b"".join(views))
    while data:
        n = os.pwrite(fd, data, offset)
        data, offset = data[n:], offset + n


def write_batch(fd: int, batch: PageBatch, wanted: Container[int]) -> int:
    """Write the batch's pages that are ``wanted``, each run of consecutive ones at once."""
    ps = batch.page_size
    views: list[memoryview] = []
    first = written = 0
    for k, pgno in enumerate(batch.pgnos):
        if pgno not in wanted:
            continue
        if views and pgno != first + len(views):
            _write_views(fd, views, (first - 1) * ps)
            written += len(views)
            views = []
        if not views:
            first = pgno
        views.append(batch.page(k))
    if views:
        _write_views(fd, views, (first - 1) * ps)
        written += len(views)
    return written
