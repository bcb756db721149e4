"""Reading the pages of both sides of a diff: compared in parallel batches, kept in a
memo for the row walk, and an empty database to diff against TXID 0."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from ltx.storage import ObjectStore, Workers
from ltx.view import PageMapLike

if TYPE_CHECKING:
    from ltx.changes._diff import DiffSource

_CHUNK = 256  # pages compared per batch of parallel reads (bounds bytes in flight)
_BATCH = 4096  # pages per side read at once through ``read_pages`` (16 MiB of 4 KiB pages)


class Memo:
    """Pages read while comparing, kept up to ``room`` bytes so the row walk reads none twice."""

    __slots__ = ("a", "b", "room", "same")

    def __init__(self, room: int) -> None:
        self.a: dict[int, bytes] = {}
        self.b: dict[int, bytes] = {}
        self.same: dict[int, bytes] = {}
        self.room = room

    def keep(self, pgno: int, x: bytes, y: bytes) -> None:
        if x == y and self.room >= len(x):
            self.same[pgno] = x
            self.room -= len(x)
        elif x != y and self.room >= len(x) + len(y):
            self.a[pgno], self.b[pgno] = x, y
            self.room -= len(x) + len(y)


def compare(
    source: DiffSource,
    a: PageMapLike,
    b: PageMapLike,
    pgnos: Sequence[int],
    memo: Memo,
    workers: int,
) -> list[int]:
    """The pages of ``pgnos`` whose bytes differ, read in parallel batches; keeps the bytes.

    A source with ``read_pages`` (a Replica) reads each batch at once, adjacent frames in
    one request; otherwise ``workers`` threads read page by page.
    """
    batch = getattr(source, "read_pages", None)
    pairs = _batched(batch, a, b, pgnos) if batch else _each(source, a, b, pgnos, workers)
    out: list[int] = []
    for pgno, x, y in pairs:
        memo.keep(pgno, x, y)
        if x != y:
            out.append(pgno)
    return out


def _batched(
    batch: Callable[[PageMapLike, Sequence[int]], list[bytes]],
    a: PageMapLike,
    b: PageMapLike,
    pgnos: Sequence[int],
) -> Iterator[tuple[int, bytes, bytes]]:
    for i in range(0, len(pgnos), _BATCH):
        chunk = pgnos[i : i + _BATCH]
        yield from zip(chunk, batch(a, chunk), batch(b, chunk), strict=True)


def _each(
    source: DiffSource, a: PageMapLike, b: PageMapLike, pgnos: Sequence[int], workers: int
) -> Iterator[tuple[int, bytes, bytes]]:
    def pair(pgno: int) -> tuple[int, bytes, bytes]:
        return pgno, source.read_page(a, pgno), source.read_page(b, pgno)

    store = getattr(source, "store", None)
    shared = store.workers if isinstance(store, ObjectStore) else None
    pool = shared or Workers(workers)
    try:
        for i in range(0, len(pgnos), _CHUNK):
            yield from pool.map(pair, pgnos[i : i + _CHUNK], workers)
    finally:
        if shared is None:
            pool.close()


def empty_database(page1: bytes) -> Callable[[int], bytes]:
    """``page(pgno)`` of an empty database shaped like the one whose page 1 is given
    (same page size, reserved bytes, encoding and auto-vacuum), so sqlitefmt can diff
    against "nothing": one page holding the header and an empty ``sqlite_schema``."""
    ps = len(page1)
    page = bytearray(ps)
    page[:100] = page1[:100]
    struct.pack_into(">IIII", page, 24, 1, 1, 0, 0)  # change counter, pages, freelist
    struct.pack_into(">I", page, 40, 0)  # schema cookie
    struct.pack_into(">I", page, 92, 1)  # version-valid-for = change counter
    if int.from_bytes(page1[52:56], "big"):
        struct.pack_into(">I", page, 52, 1)  # auto-vacuum: largest root page
    content = (ps - page1[20]) & 0xFFFF  # 65536 is written as 0
    struct.pack_into(">BHHHB", page, 100, 0x0D, 0, 0, content, 0)
    first = bytes(page)

    def empty(pgno: int) -> bytes:
        return first if pgno == 1 else b""

    return empty
