"""The page-resolution index: for a plan, which file holds each page, at which offset.

Built from the files' page indexes. For each page the file with the higher max TXID
wins, whatever level it sits at; pages past the plan's Commit do not exist. Every
file's header must agree with its name and the replica's page size, and the plan's
files must hold every page up to the final Commit, checked before anything is served
and before the map is sized, so a hostile Commit cannot drive memory.
"""

from __future__ import annotations

import datetime as dt
from array import array
from collections.abc import Sequence
from typing import ClassVar, Literal, cast

import attrs

from ltx.codec import SNAPSHOT_LEVEL, FileIndex, FileInfo, Header, lock_pgno
from ltx.errors import FormatError, HeaderFieldError, PageNotFoundError, UsageError
from ltx.resolve.plan import Plan

__all__ = ["PageMap", "build_page_map", "PageLocation", "check_header"]


@attrs.frozen
class PageLocation:
    """Where one page lives: the file, and the frame's offset and size in it."""

    file: FileInfo
    offset: int
    size: int


class PageMap:
    """pgno -> (file, offset, size) for one point in time; three arrays, 16 bytes per page."""

    kind: ClassVar[Literal["ltx"]] = "ltx"  # the kind of source that reads it
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
                f"page {pgno} does not exist: pages are numbered 1..{self.commit} "
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

    def same_source(self, other: object, pgno: int) -> bool:
        """True when both maps are known to hold the same bytes for ``pgno``: the same file
        and frame, or both the lock page. A page map of another kind names no frames."""
        if getattr(other, "kind", None) != self.kind:
            return pgno == lock_pgno(self.page_size)
        them = cast(PageMap, other)
        a, b = self._file[pgno], them._file[pgno]
        if a < 0 or b < 0:
            return a == b
        return self.files[a].path == them.files[b].path and self._off[pgno] == them._off[pgno]

    def winners(self) -> dict[int, set[int]]:
        """For each file ordinal, the pages it supplies (one pass over the map)."""
        out: dict[int, set[int]] = {}
        for pgno in range(1, self.commit + 1):
            i = self._file[pgno]
            if i >= 0:
                out.setdefault(i, set()).add(pgno)
        return out


def check_header(info: FileInfo, header: Header, page_size: int | None = None) -> None:
    """Raise HeaderFieldError naming the file when its header disagrees with its name
    (TXIDs; a snapshot-level file must start at TXID 1) or with the replica's page size."""

    def bad(field: str, message: str) -> HeaderFieldError:
        return HeaderFieldError(message, field=field, path=info.path)

    if (header.min_txid, header.max_txid) != (info.min_txid, info.max_txid):
        raise bad(
            "min_txid",
            f"header TXIDs {header.min_txid:016x}-{header.max_txid:016x} disagree with the "
            f"file name {info.min_txid:016x}-{info.max_txid:016x}",
        )
    if info.level == SNAPSHOT_LEVEL and header.min_txid != 1:
        raise bad("min_txid", "a level-9 file must be a snapshot (MinTXID 1)")
    if page_size is not None and header.page_size != page_size:
        raise bad(
            "page_size", f"page size {header.page_size} differs from the replica's {page_size}"
        )


def _coverage(
    files: Sequence[FileInfo], indexes: Sequence[FileIndex], header: Header, last: int
) -> None:
    """The final Commit must be reachable by pages that exist (checked before allocating)."""
    top = max((fi.index.pgnos[-1] for fi in indexes if len(fi.index)), default=0)
    reach = top + 1 if top + 1 == header.lock_pgno else top
    if header.commit > reach:
        raise FormatError(
            f"Commit {header.commit} claims pages past the last page any file of the plan "
            f"holds ({top})",
            path=files[last].path,
        )


def _headers(plan: Plan, indexes: Sequence[FileIndex]) -> list[Header]:
    """Each plan file's header, from its index; UsageError for input this cannot use."""
    if not plan.files:
        raise UsageError(f"a plan without files has no page map (TXID {plan.txid:016x})")
    if len(indexes) != len(plan.files):
        raise UsageError(f"{len(plan.files)} files in the plan but {len(indexes)} indexes")
    headers = []
    for f, fi in zip(plan.files, indexes, strict=True):
        if fi.header is None:
            raise UsageError(f"the index of {f.path} has no header (read_file_index reads it)")
        headers.append(fi.header)
    return headers


def build_page_map(plan: Plan, indexes: Sequence[FileIndex]) -> PageMap:
    """Merge the plan files' indexes (each with its header) into one page map."""
    files = plan.files
    headers = _headers(plan, indexes)
    last = max(range(len(files)), key=lambda i: (files[i].max_txid, -files[i].level))
    header = headers[last]
    for f, h in zip(files, headers, strict=True):
        check_header(f, h, header.page_size)
    _coverage(files, indexes, header, last)
    pm = PageMap(files, plan.txid, header, plan.created_at)
    commit = pm.commit
    # Oldest first, so the file with the higher max TXID overwrites.
    for i in sorted(range(len(files)), key=lambda i: (files[i].max_txid, files[i].level)):
        idx = indexes[i].index
        for pgno, off, size in zip(idx.pgnos, idx.offsets, idx.sizes, strict=True):
            if pgno > commit:
                break
            pm._file[pgno] = i
            pm._off[pgno] = off
            pm._size[pgno] = size
    return pm
