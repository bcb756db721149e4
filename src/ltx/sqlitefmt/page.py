"""B-tree pages: header, cell pointer array, cells and the local/overflow payload split.

Pure functions over page bytes; every bound is checked so malformed pages raise
:class:`~ltx.errors.DatabaseFormatError` rather than IndexError or struct.error.
"""

from __future__ import annotations

import struct

import attrs

from ltx.errors import DatabaseFormatError

__all__ = [
    "INTERIOR_INDEX",
    "INTERIOR_TABLE",
    "LEAF_INDEX",
    "LEAF_TABLE",
    "BTreePage",
    "PayloadCell",
    "parse_page",
    "read_varint",
    "local_payload_size",
]

INTERIOR_INDEX = 2
INTERIOR_TABLE = 5
LEAF_INDEX = 10
LEAF_TABLE = 13
_KINDS = (INTERIOR_INDEX, INTERIOR_TABLE, LEAF_INDEX, LEAF_TABLE)
_U32 = struct.Struct(">I")
_HDR = struct.Struct(">BHHHB")
_I64 = 1 << 63
_U64 = 1 << 64


def read_varint(buf: bytes, pos: int, end: int, pgno: int | None = None) -> tuple[int, int]:
    """Decode the 1-9 byte big-endian varint at ``pos`` (not reading at or past ``end``)."""
    if pos >= end:
        raise DatabaseFormatError(f"varint past the end at offset {pos}", pgno=pgno)
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    if pos + 1 < end and buf[pos + 1] < 0x80:
        return ((b & 0x7F) << 7) | buf[pos + 1], pos + 2
    value = b & 0x7F
    stop = min(pos + 9, end)
    for p in range(pos + 1, stop):
        b = buf[p]
        if p == pos + 8:
            return (value << 8) | b, p + 1
        value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return value, p + 1
    raise DatabaseFormatError(f"varint past the end at offset {pos}", pgno=pgno)


def _signed(value: int) -> int:
    return value - _U64 if value >= _I64 else value


def local_payload_size(payload: int, usable: int, table_leaf: bool) -> int:
    """Bytes of a payload stored in the cell itself; the rest spills to overflow pages.

    The spec's X (max local), M (min local) and K formulas; X differs for table leaves.
    """
    x = usable - 35 if table_leaf else (usable - 12) * 64 // 255 - 23
    if payload <= x:
        return payload
    m = (usable - 12) * 32 // 255 - 23
    k = m + (payload - m) % (usable - 4)
    return k if k <= x else m


@attrs.frozen(slots=True)
class PayloadCell:
    """A cell carrying payload: its key (rowid, or None in index trees) and where it lives.

    ``local`` is the in-page part; ``overflow`` the first overflow page (0 if none).
    """

    rowid: int | None
    size: int
    local: bytes
    overflow: int
    child: int = 0


@attrs.frozen(slots=True)
class BTreePage:
    """A parsed b-tree page: its type, cell offsets and (interior) right-most child."""

    pgno: int
    kind: int
    data: bytes
    offsets: tuple[int, ...]
    right_child: int
    usable: int

    @property
    def is_leaf(self) -> bool:
        """Leaf pages have no children."""
        return self.kind >= LEAF_INDEX

    @property
    def is_table(self) -> bool:
        """Table b-trees are keyed by rowid; index b-trees by their records."""
        return self.kind in (INTERIOR_TABLE, LEAF_TABLE)

    def _fail(self, what: str, off: int) -> DatabaseFormatError:
        return DatabaseFormatError(f"{what} (cell at offset {off})", pgno=self.pgno)

    def table_interior(self) -> tuple[list[int], list[int]]:
        """(left children, rowid keys) of a table interior page, in key order."""
        data, usable, pgno = self.data, self.usable, self.pgno
        children: list[int] = []
        keys: list[int] = []
        for off in self.offsets:
            if off + 5 > usable:
                raise self._fail("interior cell runs off the page", off)
            children.append(_U32.unpack_from(data, off)[0])
            key, _ = read_varint(data, off + 4, usable, pgno)
            keys.append(_signed(key))
        return children, keys

    def children(self) -> list[int]:
        """Every child page number (left children in order, then the right-most)."""
        if self.is_leaf:
            return []
        out = []
        for off in self.offsets:
            if off + 4 > self.usable:
                raise self._fail("interior cell runs off the page", off)
            out.append(_U32.unpack_from(self.data, off)[0])
        out.append(self.right_child)
        return out

    def payload_cells(self) -> list[PayloadCell]:
        """Cells with payload: table leaf cells or any index cell; not table interior cells."""
        if self.kind == INTERIOR_TABLE:
            raise DatabaseFormatError("table interior cells have no payload", pgno=self.pgno)
        if self.kind == LEAF_TABLE:
            return self._table_leaf_cells()
        return [self.payload_cell(off) for off in self.offsets]

    def _table_leaf_cells(self) -> list[PayloadCell]:
        """``payload_cells`` of a table leaf, with the cells that keep their whole payload
        decoded inline (the common case); any other cell, or any doubt, goes through
        ``payload_cell``, which checks and names problems. Same answers, less time."""
        data, usable, pgno = self.data, self.usable, self.pgno
        limit = usable - 35  # the largest payload a table leaf keeps in the cell
        out: list[PayloadCell] = []
        add = out.append
        for off in self.offsets:
            try:
                size, pos = data[off], off + 1
                if size >= 0x80:
                    size, pos = read_varint(data, off, usable, pgno)
                raw = data[pos]
                if raw < 0x80:
                    pos += 1
                elif pos + 2 < usable and data[pos + 1] < 0x80:
                    raw, pos = ((raw & 0x7F) << 7) | data[pos + 1], pos + 2
                elif pos + 2 < usable and data[pos + 2] < 0x80:
                    b1 = data[pos + 1] & 0x7F
                    raw, pos = ((raw & 0x7F) << 14) | (b1 << 7) | data[pos + 2], pos + 3
                else:
                    raw, pos = read_varint(data, pos, usable, pgno)
                end = pos + size
                if size <= limit and end <= usable and raw < _I64:
                    add(PayloadCell(raw, size, data[pos:end], 0))
                    continue
            except (IndexError, DatabaseFormatError):
                pass
            add(self.payload_cell(off))
        return out

    def payload_cell(self, off: int) -> PayloadCell:
        """The payload cell starting at offset ``off``, bounds-checked."""
        data, usable, pgno = self.data, self.usable, self.pgno
        child = 0
        pos = off
        if self.kind == INTERIOR_INDEX:
            if off + 4 > usable:
                raise self._fail("interior cell runs off the page", off)
            child = _U32.unpack_from(data, off)[0]
            pos += 4
        size = data[pos] if pos < usable else 0x100
        if size < 0x80:
            pos += 1
        else:
            size, pos = read_varint(data, pos, usable, pgno)
        rowid = None
        if self.kind == LEAF_TABLE:
            raw = data[pos] if pos < usable else 0x100
            if raw < 0x80:
                pos += 1
            else:
                raw, pos = read_varint(data, pos, usable, pgno)
            rowid = _signed(raw)
        if size > 0x7FFFFFFF:
            raise self._fail(f"payload of {size} bytes is absurd", off)
        n = local_payload_size(size, usable, self.kind == LEAF_TABLE)
        end = pos + n
        overflow = 0
        if n < size:
            if end + 4 > usable:
                raise self._fail("overflow pointer runs off the page", off)
            overflow = _U32.unpack_from(data, end)[0]
            if overflow == 0:
                raise self._fail("payload spills but the overflow pointer is 0", off)
        elif end > usable:
            raise self._fail("payload runs off the page", off)
        return PayloadCell(rowid, size, bytes(data[pos:end]), overflow, child)


def parse_page(data: bytes, pgno: int, usable: int) -> BTreePage:
    """Parse the b-tree page header and cell pointer array (page 1 starts at offset 100)."""
    start = 100 if pgno == 1 else 0
    if len(data) < usable or usable < start + 12:
        raise DatabaseFormatError(f"page holds {len(data)} bytes, need {usable}", pgno=pgno)
    kind, _free, ncells, _content, _frag = _HDR.unpack_from(data, start)
    if kind not in _KINDS:
        raise DatabaseFormatError(f"not a b-tree page (type byte {kind})", pgno=pgno)
    right = 0
    hdr = 8
    if kind < LEAF_INDEX:
        right = _U32.unpack_from(data, start + 8)[0]
        hdr = 12
    ptrs = start + hdr
    end = ptrs + 2 * ncells
    if end > usable:
        raise DatabaseFormatError(f"{ncells} cell pointers overflow the page", pgno=pgno)
    offsets = struct.unpack_from(f">{ncells}H", data, ptrs)
    if offsets and (min(offsets) < end or max(offsets) >= usable):
        raise DatabaseFormatError("cell pointer outside the cell content area", pgno=pgno)
    return BTreePage(pgno, kind, data, offsets, right, usable)
