"""Page access through a caller's ``page(pgno) -> bytes`` callable (sans-I/O).

The :class:`Pager` checks page numbers and sizes, follows overflow chains with cycle
and length guards, and lists freelist and pointer-map pages.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet

import attrs

from ltx.errors import DatabaseFormatError
from ltx.sqlitefmt.header import DatabaseHeader, lock_pgno, read_header
from ltx.sqlitefmt.page import BTreePage, PayloadCell, parse_page

__all__ = ["PageFn", "Pager", "PageCounter"]

PageFn = Callable[[int], bytes]
_U32 = struct.Struct(">I")
_MAX_PGNO = 0xFFFFFFFE


@attrs.define
class PageCounter:
    """Wraps a page callable and counts calls (``reads``) and distinct pages (``pages``)."""

    page: PageFn
    reads: int = 0
    pages: set[int] = attrs.field(factory=set)

    def __call__(self, pgno: int) -> bytes:
        self.reads += 1
        self.pages.add(pgno)
        return self.page(pgno)


class Pager:
    """Validated page reads for one database image, with opt-in caching.

    :meth:`share` lets two pagers (two states of one database) keep one copy of every
    page that is identical on both sides, so such a page is read once for both.
    """

    def __init__(self, page: PageFn, header: DatabaseHeader | None = None) -> None:
        self._page = page
        self._own: dict[int, bytes] = {}
        self._shared = self._own
        self._changed: AbstractSet[int] = frozenset()
        self._parsed: dict[int, BTreePage] = {}  # b-tree pages parsed while caching
        self.caching = False
        self.overflow_seen: set[int] | None = None
        if header is None:
            first = self._page(1)
            header = read_header(first)
            if len(first) != header.page_size:
                raise DatabaseFormatError(f"page holds {len(first)} bytes", pgno=1)
            self._own[1] = first
        self.header = header
        self.page_size = header.page_size
        self.usable = header.usable_size
        self.encoding = header.encoding
        self.limit = header.page_count if header.page_count_valid else _MAX_PGNO
        self.lock = lock_pgno(header.page_size)

    def share(self, shared: dict[int, bytes], changed: AbstractSet[int]) -> None:
        """Cache pages from now on; pages not in ``changed`` go to the ``shared`` dict."""
        self.caching = True
        self._changed = changed
        self._shared = shared
        for pgno in [p for p in self._own if p not in changed]:
            shared.setdefault(pgno, self._own.pop(pgno))

    def raw(self, pgno: int) -> bytes:
        """The bytes of page ``pgno``; out-of-range numbers and short pages are errors."""
        store = self._own if pgno in self._changed else self._shared
        data = store.get(pgno)
        if data is not None:
            return data
        if not 1 <= pgno <= self.limit or pgno == self.lock:
            raise DatabaseFormatError(f"page number {pgno} out of range", pgno=pgno)
        data = self._page(pgno)
        if len(data) != self.page_size:
            raise DatabaseFormatError(
                f"page holds {len(data)} bytes, not {self.page_size}", pgno=pgno
            )
        if self.caching:
            store[pgno] = data
        return data

    def btree(self, pgno: int) -> BTreePage:
        """Page ``pgno`` parsed as a b-tree page (parsed once while caching: a diff places,
        expands and reads each changed page)."""
        page = self._parsed.get(pgno)
        if page is None:
            page = parse_page(self.raw(pgno), pgno, self.usable)
            if self.caching:
                self._parsed[pgno] = page
        return page

    def chain(self, cell: PayloadCell, pgno: int) -> Iterator[tuple[int, bytes]]:
        """(pgno, bytes) of each overflow page of ``cell`` (on page ``pgno``), with guards."""
        remaining = cell.size - len(cell.local)
        if remaining <= 0:
            return
        per = self.usable - 4
        if (remaining + per - 1) // per > self.limit:
            raise DatabaseFormatError(f"payload of {cell.size} bytes exceeds the file", pgno=pgno)
        seen: set[int] = set()
        ovfl = cell.overflow
        while remaining > 0:
            if ovfl == 0:
                raise DatabaseFormatError("overflow chain ends before the payload", pgno=pgno)
            if ovfl in seen:
                raise DatabaseFormatError(f"overflow chain loops at page {ovfl}", pgno=pgno)
            seen.add(ovfl)
            if self.overflow_seen is not None:
                self.overflow_seen.add(ovfl)
            data = self.raw(ovfl)
            yield ovfl, data
            remaining -= per
            ovfl = _U32.unpack_from(data, 0)[0]

    def payload(self, cell: PayloadCell, pgno: int) -> bytes:
        """The whole payload of ``cell`` (found on page ``pgno``), following its overflow chain."""
        if cell.size <= len(cell.local):
            return cell.local
        parts = [cell.local]
        parts.extend(data[4 : self.usable] for _, data in self.chain(cell, pgno))
        out = b"".join(parts)
        return out[: cell.size]

    def freelist(self) -> set[int]:
        """Every freelist page (trunks and leaves), walking the trunk chain with guards."""
        out: set[int] = set()
        trunk = self.header.freelist_trunk
        per_trunk = self.usable // 4 - 2
        while trunk:
            if trunk in out:
                raise DatabaseFormatError("freelist trunk chain loops", pgno=trunk)
            out.add(trunk)
            data = self.raw(trunk)
            nxt, count = struct.unpack_from(">II", data, 0)
            if count > per_trunk:
                raise DatabaseFormatError(f"freelist trunk lists {count} leaves", pgno=trunk)
            out.update(struct.unpack_from(f">{count}I", data, 8))
            if len(out) > self.header.freelist_count + 1 and self.header.page_count_valid:
                raise DatabaseFormatError("freelist longer than the header says", pgno=trunk)
            trunk = nxt
        return out

    def _ptrmap_page(self, pgno: int) -> int:
        per = self.usable // 5 + 1
        where = (pgno - 2) // per * per + 2
        return where + 1 if where == self.lock else where

    def ptrmap_entry(self, pgno: int) -> tuple[int, int]:
        """(type, parent) recorded for ``pgno`` in an auto-vacuum database's pointer map."""
        where = self._ptrmap_page(pgno)
        off = 5 * (pgno - where - 1)
        if not self.header.auto_vacuum or pgno < 3 or off < 0 or off + 5 > self.usable:
            raise DatabaseFormatError("page has no pointer-map entry", pgno=pgno)
        data = self.raw(where)
        return data[off], _U32.unpack_from(data, off + 1)[0]

    def is_ptrmap(self, pgno: int) -> bool:
        """True for the pointer-map pages of an auto-vacuum database."""
        return self.header.auto_vacuum and pgno >= 2 and self._ptrmap_page(pgno) == pgno
