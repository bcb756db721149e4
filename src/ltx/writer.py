"""The write side of a replica: level-0 appends and level-9 snapshots.

The writer remembers its position (the max TXID it has seen or written), so an append
costs one conditional create where the backend has one (a competing writer's file
makes it fail) and one level-0 listing plus a write where it has not: never a listing
of the whole replica after the first.
"""

from __future__ import annotations

import builtins
import io
import os
from collections.abc import Callable, Iterable, Mapping

from ltx.codec import (
    HEADER_FLAG_NO_CHECKSUM,
    SNAPSHOT_LEVEL,
    FileInfo,
    Header,
    encode_pages,
    lock_pgno,
)
from ltx.dbfile import write_db_snapshot
from ltx.errors import ConflictError, UsageError
from ltx.storage import Store
from ltx.view import View

__all__ = ["Writer"]

Pages = Mapping[int, bytes] | Iterable[tuple[int, bytes]]


class Writer:
    """Appends and snapshots for one store; ``list_files`` lists the whole replica (once)
    and ``header_of`` reads one file's header (for the page size, once)."""

    def __init__(
        self,
        store: Store,
        *,
        list_files: Callable[[], list[FileInfo]],
        header_of: Callable[[FileInfo], Header],
    ) -> None:
        self.store = store
        self._list_files = list_files
        self._header_of = header_of
        self.position: int | None = None
        self.page_size: int | None = None

    def seen(self, files: list[FileInfo]) -> None:
        """Take the position from a fresh listing of the whole replica."""
        self.position = max((f.max_txid for f in files), default=0)
        if self.page_size is None and files:
            latest = max(files, key=lambda f: (f.max_txid, -f.level))
            self.page_size = self._header_of(latest).page_size

    def _position(self) -> int:
        if self.position is None:
            self.seen(self._list_files())
        assert self.position is not None
        return self.position

    def _check_level0(self, pos: int) -> None:
        """Backends without conditional create: one listing of level 0 finds a rival."""
        if self.store.conditional_create:
            return
        ahead = [f for f in self.store.list_level(0) if f.max_txid > pos]
        if ahead:
            self.position = None
            raise ConflictError(
                f"replica moved past TXID {pos:016x} (found {ahead[0].path}); "
                "another writer is active",
                url=self.store.url,
            )

    def prepare(
        self,
        pages: Pages,
        commit: int,
        timestamp_ms: int,
        *,
        page_size: int | None = None,
        txid: int | None = None,
        wal: tuple[int, int, int, int] = (0, 0, 0, 0),
    ) -> tuple[int, bytes]:
        """Encode the next level-0 file: (TXID, bytes). ``txid`` (default position + 1)
        may jump ahead; ``wal`` is (offset, size, salt1, salt2) as Litestream records
        the WAL range a file came from. A snapshot (pages 1..Commit) may change the
        page size, as a database rebuilt with another page size does."""
        items = sorted(pages.items() if isinstance(pages, Mapping) else pages)
        size = page_size or self.page_size or (len(items[0][1]) if items else 0)
        whole = len(items) >= commit - (commit >= lock_pgno(size))
        header = self.next_header(commit, timestamp_ms, size, txid=txid, wal=wal, whole=whole)
        return header.max_txid, encode_pages(header, items)

    def next_header(
        self,
        commit: int,
        timestamp_ms: int,
        page_size: int,
        *,
        txid: int | None = None,
        wal: tuple[int, int, int, int] = (0, 0, 0, 0),
        whole: bool = False,
    ) -> Header:
        """The header of the next level-0 file (see ``prepare``); ``whole`` says it holds
        every page, so it may change the page size. For callers that stream the pages."""
        pos = self._position()
        if self.page_size is not None and page_size != self.page_size and not whole:
            raise UsageError(f"page size {page_size} differs from the replica's {self.page_size}")
        txid = pos + 1 if txid is None else txid
        if txid <= pos:
            raise UsageError(f"TXID {txid:016x} is not past the replica's {pos:016x}")
        offset, wal_size, salt1, salt2 = wal
        return Header(
            flags=HEADER_FLAG_NO_CHECKSUM,
            page_size=page_size,
            commit=commit,
            min_txid=txid,
            max_txid=txid,
            timestamp=timestamp_ms,
            wal_offset=offset,
            wal_size=wal_size,
            wal_salt1=salt1,
            wal_salt2=salt2,
        )

    def put(
        self, txid: int, data: bytes | os.PathLike[str], timestamp_ms: int, page_size: int
    ) -> FileInfo:
        """Create level-0 file ``txid`` from ``prepare``'s bytes (or a local file holding
        such bytes), only if it is absent.

        Raises ConflictError, writing nothing, when another writer got there first.
        """
        self._check_level0(self._position())
        try:
            info = self.store.write(0, txid, txid, data, timestamp_ms=timestamp_ms, if_absent=True)
        except ConflictError:
            self.position = None  # someone else wrote this TXID: list again next time
            raise
        self.position, self.page_size = txid, page_size
        return info

    def append(
        self, pages: Pages, commit: int, timestamp_ms: int, *, page_size: int | None = None
    ) -> FileInfo:
        """Write the next level-0 file (TXID = position + 1) holding ``pages``.

        Raises ConflictError, writing nothing, when another writer got there first.
        """
        items = sorted(pages.items() if isinstance(pages, Mapping) else pages)
        size = page_size or self.page_size or (len(items[0][1]) if items else 0)
        if self.page_size is not None and size != self.page_size:
            raise UsageError(f"page size {size} differs from the replica's {self.page_size}")
        txid, data = self.prepare(items, commit, timestamp_ms, page_size=size)
        return self.put(txid, data, timestamp_ms, size)

    def write_snapshot(self, source: str | os.PathLike[str] | View, timestamp_ms: int) -> FileInfo:
        """Write a level-9 snapshot from a View, or from a SQLite file at the position (on an
        empty replica: TXID 1, seeding it, written only if nobody else has)."""
        seeding = False
        if isinstance(source, View):
            txid = source.txid
            header = Header(
                flags=HEADER_FLAG_NO_CHECKSUM,
                page_size=source.page_size,
                commit=source.page_count,
                min_txid=1,
                max_txid=txid,
                timestamp=timestamp_ms,
            )
            pages = ((p, source.page(p)) for p in range(1, source.page_count + 1))
            data = encode_pages(header, pages)
        else:
            self.seen(self._list_files())
            # An empty replica is seeded: the file becomes TXID 1, as Litestream starts.
            seeding = not self.position
            txid = self.position or 1
            buf = io.BytesIO()
            with builtins.open(source, "rb") as src:
                write_db_snapshot(
                    src,
                    buf,
                    max_txid=txid,
                    timestamp=timestamp_ms,
                    flags=HEADER_FLAG_NO_CHECKSUM,
                    name=os.fspath(source),
                )
            data = buf.getvalue()
        info = self.store.write(
            SNAPSHOT_LEVEL, 1, txid, data, timestamp_ms=timestamp_ms, if_absent=seeding
        )
        if seeding:
            self.position = None  # list again: the next append follows the seed
        return info
