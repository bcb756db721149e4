"""A View: the database at one point in time, read page by page from a replica.

The view asks its source (``ltx.Replica``) for page maps and pages through the small
``ViewSource`` protocol, so any object that can plan and read pages can back a view.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol

from ltx.errors import NotFoundError, UsageError

__all__ = ["PageMapLike", "View", "ViewSource"]


class PageMapLike(Protocol):
    """What a View reads of a page map (an LTX ``resolve.PageMap`` or a 0.3 one); ``kind``
    names the kind of source that made it ("ltx" or "0.3")."""

    @property
    def kind(self) -> str: ...

    @property
    def txid(self) -> int: ...

    @property
    def timestamp(self) -> dt.datetime: ...

    @property
    def page_size(self) -> int: ...

    @property
    def commit(self) -> int: ...


class ViewSource(Protocol):
    """What a View needs: page maps for a TXID (or the latest) and single pages."""

    @property
    def follow(self) -> float | None: ...

    def page_map(self, txid: int | None = None, *, refresh: bool = False) -> PageMapLike: ...

    def read_page(self, page_map: PageMapLike, pgno: int) -> bytes: ...


class View:
    """The database at one point in time: ``page(pgno)``, ``read(offset, n)``, its size.

    Pages come from the replica with one ranged read each (none when cached). If
    compaction deletes a file under the view, it re-plans the same TXID and retries;
    a TXID no longer restorable raises TxidNotAvailableError, never a wrong page.
    """

    def __init__(
        self, source: ViewSource, page_map: PageMapLike, *, following: bool = False
    ) -> None:
        self.source = source
        self.page_map = page_map
        self.following = following
        self._checked = time.monotonic()

    def __repr__(self) -> str:
        return f"<View txid={self.txid:016x} pages={self.page_count}>"

    @property
    def txid(self) -> int:
        """The TXID this view shows."""
        return self.page_map.txid

    @property
    def timestamp(self) -> dt.datetime:
        """Creation time of the newest file behind this view."""
        return self.page_map.timestamp

    @property
    def page_size(self) -> int:
        """Database page size in bytes."""
        return self.page_map.page_size

    @property
    def page_count(self) -> int:
        """Database size in pages (the Commit of the last file)."""
        return self.page_map.commit

    @property
    def size(self) -> int:
        """Database size in bytes."""
        return self.page_count * self.page_size

    def _maybe_follow(self) -> None:
        follow = self.source.follow
        if not self.following or follow is None:
            return
        now = time.monotonic()
        if now - self._checked < follow:
            return
        self._checked = now
        self.page_map = self.source.page_map(refresh=True)

    def page(self, pgno: int) -> bytes:
        """One page, decompressed; PageNotFoundError outside 1..page_count."""
        if self.following:
            self._maybe_follow()
        try:
            return self.source.read_page(self.page_map, pgno)
        except NotFoundError:
            # A compaction removed a file under us: plan the same TXID again (or raise
            # TxidNotAvailableError if that point no longer exists).
            self.page_map = self.source.page_map(self.txid, refresh=True)
            return self.source.read_page(self.page_map, pgno)

    def read(self, offset: int, n: int) -> bytes:
        """Bytes ``[offset, offset+n)`` of the database file at this point (short at EOF)."""
        if offset < 0 or n < 0:
            raise UsageError(f"offset and n must be non-negative, got {offset} and {n}")
        ps = self.page_size
        end = min(offset + n, self.size)
        out = bytearray()
        pos = offset
        while pos < end:
            pgno = pos // ps + 1
            page = self.page(pgno)
            start = pos - (pgno - 1) * ps
            take = min(ps - start, end - pos)
            out += page[start : start + take]
            pos += take
        return bytes(out)
