"""Skipping cells a changed table leaf shares with its other state (sqlitefmt._cells)."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from ltx.errors import DatabaseFormatError
from ltx.sqlitefmt._cells import cells_to_read
from ltx.sqlitefmt.page import parse_page
from tests.sqlitefmt.test_sqlitefmt_util import _encode_varint

PS = 1024

# a cell: rowid, payload, bytes claimed beyond the payload (overlap or overflow), garbage after it
cells_st = st.lists(
    st.tuples(
        st.integers(-(2**63), 2**63 - 1),
        st.binary(max_size=30),
        st.sampled_from([0, 0, 0, 1, 30, 2000]),
        st.binary(max_size=6),
    ),
    max_size=8,
)


def leaf(cells: list[tuple[int, bytes, int, bytes]], order: list[int]) -> bytes:
    """A table leaf holding ``cells`` from the end of the page, pointers in ``order``."""
    page = bytearray(PS)
    end = PS
    offsets = []
    for rowid, payload, extra, garbage in cells:
        body = _encode_varint(len(payload) + extra) + _encode_varint(rowid % 2**64) + payload
        end -= len(body) + len(garbage)
        page[end : end + len(body) + len(garbage)] = body + garbage
        offsets.append(end)
    ptrs = [offsets[i % len(offsets)] for i in order] if offsets else []
    struct.pack_into(f">BHHHB{len(ptrs)}H", page, 0, 13, 0, len(ptrs), end, 0, *ptrs)
    return bytes(page)


def parsed(cells: list[tuple[int, bytes, int, bytes]], order: list[int]):
    return parse_page(leaf(cells, order or list(range(len(cells)))), 2, PS)


@given(cells_st, cells_st, st.lists(st.integers(0, 15), max_size=16), st.randoms())
def test_skipped_cells_are_whole_and_alike_on_both_sides(shared, own, order, rnd):
    """A skipped cell parses on both pages to the same row, keeps its whole payload,
    and every cell is either skipped or read."""
    x_cells = shared + own
    y_cells = list(shared)
    rnd.shuffle(y_cells)
    x, y = parsed(x_cells, order), parsed(y_cells, [])
    got = cells_to_read(x, y)
    if got is None:
        return
    read_x, read_y = got
    assert set(read_x) <= set(x.offsets) and set(read_y) <= set(y.offsets)
    skipped = []
    for page, read in ((x, read_x), (y, read_y)):
        rows = []
        for off in sorted(set(page.offsets) - set(read)):
            try:
                cell = page.payload_cell(off)
            except DatabaseFormatError as exc:  # pragma: no cover - the property fails
                raise AssertionError(f"skipped a cell that does not parse at {off}") from exc
            assert cell.overflow == 0 and cell.size == len(cell.local)
            rows.append((cell.rowid, cell.local))
        skipped.append(sorted(rows, key=repr))
    assert skipped[0] == skipped[1]


def test_same_cells_elsewhere_on_the_page_are_skipped():
    rows = [(i, bytes([i]) * 20, 0, b"") for i in range(1, 6)]
    x = parsed(rows, [])
    y = parsed([rows[4], (9, b"new", 0, b""), *rows[:3]], [])
    read_x, read_y = cells_to_read(x, y) or ([], [])
    assert [x.payload_cell(o).rowid for o in read_x] == [4]
    assert [y.payload_cell(o).rowid for o in read_y] == [9]


def test_cells_in_doubt_are_read():
    spills = (1, b"a" * 10, 2000, b"")  # claims more than the page holds: overflow
    overlaps = (2, b"b" * 10, 1, b"")  # claims one byte of the next cell
    x, y = parsed([spills, overlaps], []), parsed([spills, overlaps], [])
    assert cells_to_read(x, y) == (sorted(x.offsets), sorted(y.offsets))
    twice = parse_page(leaf([(1, b"c", 0, b"")], [0, 0]), 2, PS)  # one cell, two pointers
    assert cells_to_read(twice, twice) is None
