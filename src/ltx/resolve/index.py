"""The page-resolution index: for a plan, which file holds each page, at which offset.

Built from the files' page indexes (ranged tail reads, all files in parallel). For
each page the file with the higher max TXID wins, whatever level it sits at; pages
past the plan's Commit do not exist.
"""

from __future__ import annotations

import datetime as dt
from array import array
from collections.abc import Callable, Sequence

import attrs

from ltx.codec import FileIndex, FileInfo, Header, lock_pgno
from ltx.errors import FormatError, PageNotFoundError
from ltx.resolve.plan import Plan

__all__ = ["PageMap", "build_page_map", "PageLocation"]


@attrs.frozen
class PageLocation:
    """Where one page lives: the file, and the frame's offset and size in it."""

    file: FileInfo
    offset: int
    size: int


class PageMap:
    """pgno -> (file, offset, size) for one point in time; three arrays, one slot per page."""

    __slots__ = ("_file", "_off", "_size", "commit", "files", "page_size", "timestamp", "txid")

    def __init__(
        self, files: Sequence[FileInfo], txid: int, header: Header, timestamp: dt.datetime
    ) -> None:
        self.files = tuple(files)
        self.txid = txid
        self.commit = header.commit
        self.page_size = header.page_size
        self.timestamp = timestamp
        self._file = array("i", [-1]) * (self.commit + 1)
        self._off = array("Q", [0]) * (self.commit + 1)
        self._size = array("I", [0]) * (self.commit + 1)

    def locate(self, pgno: int) -> PageLocation | None:
        """The page's location, or None for the lock page (which reads as zeros)."""
        if not 1 <= pgno <= self.commit:
            raise PageNotFoundError(
                f"page {pgno} is past the end of the database ({self.commit} pages) "
                f"at TXID {self.txid:016x}",
                pgno=pgno,
                txid=self.txid,
            )
        i = self._file[pgno]
        if i < 0:
            if pgno == lock_pgno(self.page_size):
                return None
            raise FormatError(f"no file in the plan for TXID {self.txid:016x} holds page {pgno}")
        return PageLocation(self.files[i], self._off[pgno], self._size[pgno])

    def winners(self) -> dict[int, set[int]]:
        """For each file ordinal, the pages it supplies (one pass over the map)."""
        out: dict[int, set[int]] = {}
        for pgno in range(1, self.commit + 1):
            i = self._file[pgno]
            if i >= 0:
                out.setdefault(i, set()).add(pgno)
        return out


def build_page_map(
    plan: Plan,
    fetch_index: Callable[[FileInfo], FileIndex],
    fetch_header: Callable[[FileInfo], Header],
    map_fn: Callable[[Callable[[FileInfo], FileIndex], Sequence[FileInfo]], list[FileIndex]],
) -> PageMap:
    """Fetch every plan file's index (``map_fn`` runs them in parallel) and merge them."""
    files = plan.files
    indexes = map_fn(fetch_index, files)
    last = max(range(len(files)), key=lambda i: files[i].max_txid)
    header = indexes[last].header or fetch_header(files[last])
    pm = PageMap(files, plan.txid, header, plan.created_at)
    commit = pm.commit
    # Oldest first, so the file with the higher max TXID overwrites.
    for i in sorted(range(len(files)), key=lambda i: (files[i].max_txid, files[i].level)):
        fi = indexes[i]
        ps = fi.header.page_size if fi.header is not None else None
        if ps is not None and ps != pm.page_size:
            raise FormatError(
                f"page size {ps} differs from the plan's {pm.page_size}", path=files[i].path
            )
        idx = fi.index
        for pgno, off, size in zip(idx.pgnos, idx.offsets, idx.sizes, strict=True):
            if pgno > commit:
                break
            pm._file[pgno] = i
            pm._off[pgno] = off
            pm._size[pgno] = size
    return pm
