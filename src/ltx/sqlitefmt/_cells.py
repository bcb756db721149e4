"""Skipping the cells a changed table leaf shares with its other state, byte for byte.

When a few rows of a leaf change, most of its cells keep their bytes. A cell is the
bytes from its offset to the next cell's (or the end of the usable area): a cell whose
record fits in the page, stored with the same bytes on the same page number in both
states, holds the same row on both sides, so a diff need not decode it. Anything in
doubt (overflow, long varints, repeated bytes) is left to be read.
"""

from __future__ import annotations

from collections.abc import Sequence

from ltx.sqlitefmt.page import LEAF_TABLE, BTreePage

__all__ = ["cells_to_read", "narrow"]


def cells_to_read(x: BTreePage, y: BTreePage) -> tuple[list[int], list[int]] | None:
    """Offsets of the cells of ``x`` and of ``y`` (one page number in two states of one
    rowid table) that may hold a changed row; None to read every cell of both."""
    if x.kind != LEAF_TABLE or y.kind != LEAF_TABLE or x.usable != y.usable:
        return None
    sx, sy = _slices(x), _slices(y)
    if sx is None or sy is None:
        return None
    limit = x.usable - 35  # the largest payload a table leaf keeps in the cell
    same = {s for s in sx.keys() & sy.keys() if _fits(s, limit)}
    return [o for s, o in sx.items() if s not in same], [o for s, o in sy.items() if s not in same]


def _slices(page: BTreePage) -> dict[bytes, int] | None:
    """Each cell's bytes up to the next cell (by offset) -> its offset; None when two
    cells have the same bytes or offset (not a sound page: its cells are all read)."""
    offsets: Sequence[int] = sorted(page.offsets)
    data = page.data
    ends = [*offsets[1:], page.usable] if offsets else []
    out = {data[o:e]: o for o, e in zip(offsets, ends, strict=True)}
    return out if len(out) == len(offsets) and b"" not in out else None


def _fits(cell: bytes, limit: int) -> bool:
    """True when ``cell`` starts a table-leaf cell whose whole payload lies within it."""
    n = len(cell)
    if n < 3:
        return False
    size, pos = cell[0], 1
    if size >= 0x80:
        if cell[1] >= 0x80:
            return False
        size, pos = ((size & 0x7F) << 7) | cell[1], 2
    stop = min(pos + 8, n)  # a rowid of up to 8 varint bytes (9-byte ones are read)
    while pos < stop and cell[pos] >= 0x80:
        pos += 1
    return pos < stop and size <= limit and pos + 1 + size <= n


def narrow(
    pages_a: Sequence[BTreePage], pages_b: Sequence[BTreePage]
) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """Per page number read on both sides, the offsets of the cells each side must read
    (``cells_to_read``: cells the same on both are skipped)."""
    on_b = {p.pgno: p for p in pages_b}
    skip_a: dict[int, list[int]] = {}
    skip_b: dict[int, list[int]] = {}
    for x in pages_a:
        y = on_b.get(x.pgno)
        got = None if y is None else cells_to_read(x, y)
        if got is not None:
            skip_a[x.pgno], skip_b[x.pgno] = got
    return skip_a, skip_b
