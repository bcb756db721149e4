"""Finding whether a page belongs to a b-tree by descending the tree with one of its keys.

In a valid b-tree the path a key takes from the root is unique, so a page is in the
tree exactly when the descent by any key stored on it reaches it. Interior pages are
parsed once and cached; the tree height, once seen, stops descents a level early.
"""

from __future__ import annotations

from bisect import bisect_left

import attrs

from ltx.errors import DatabaseFormatError
from ltx.sqlitefmt.btree import MAX_DEPTH
from ltx.sqlitefmt.page import INTERIOR_TABLE, BTreePage, PayloadCell
from ltx.sqlitefmt.pager import Pager
from ltx.sqlitefmt.record import Value, compare_records, decode_record
from ltx.sqlitefmt.schema import Index, Table

__all__ = ["Tree", "Locator", "SearchKey"]

SearchKey = int | list[Value]


@attrs.frozen(slots=True)
class Tree:
    """A b-tree to search: a rowid (``table``) tree, or an index tree ordered by its fields."""

    name: str
    root: int
    table: bool
    collations: tuple[str, ...] = ()
    descending: tuple[bool, ...] = ()
    holds_rows: bool = True

    @classmethod
    def of_table(cls, t: Table) -> Tree:
        """The tree of a rowid or WITHOUT ROWID table (ordered by its primary key)."""
        return cls(
            t.name,
            t.root,
            not t.without_rowid,
            tuple(f.collation for f in t.key_fields),
            tuple(f.descending for f in t.key_fields),
        )

    @classmethod
    def of_index(cls, i: Index) -> Tree:
        """The tree of an index (ordered by all its fields)."""
        return cls(
            i.name,
            i.root,
            False,
            tuple(f.collation for f in i.fields),
            tuple(f.descending for f in i.fields),
            holds_rows=False,
        )


@attrs.define
class _Parsed:
    """An interior page's children (right-most last) and keys; index records may be
    prefixes of the cells' records until a comparison needs more."""

    children: list[int]
    keys: list[int]
    recs: list[list[Value]]
    cells: list[PayloadCell]
    table: bool


class Locator:
    """Descents through the trees of one database state, sharing parsed interior pages."""

    def __init__(self, pager: Pager) -> None:
        self.pager = pager
        self.heights: dict[int, int] = {}
        self._interior: dict[int, _Parsed] = {}

    def _record(self, cell: PayloadCell, pgno: int, need: int) -> list[Value]:
        """The record of an index cell, read past the cell only if ``need`` fields are not in it."""
        if cell.size > len(cell.local):
            values = decode_record(cell.local, self.pager.encoding, pgno, partial=True)
            if len(values) >= need:
                return values
        return decode_record(self.pager.payload(cell, pgno), self.pager.encoding, pgno)

    def first_key(self, page: BTreePage, need: int = 1 << 30) -> SearchKey | None:
        """A key stored on ``page`` (its first; ``need`` fields of a record), None if empty."""
        if not page.offsets:
            return None
        if page.kind == INTERIOR_TABLE:
            return page.table_interior()[1][0]
        cell = page.payload_cell(page.offsets[0])
        if cell.rowid is not None:
            return cell.rowid
        return self._record(cell, page.pgno, need)

    def _parsed(self, page: BTreePage) -> _Parsed:
        got = self._interior.get(page.pgno)
        if got is None:
            if page.kind == INTERIOR_TABLE:
                children, keys = page.table_interior()
                got = _Parsed([*children, page.right_child], keys, [], [], True)
            else:
                cells = page.payload_cells()
                recs = [self._record(c, page.pgno, 0) for c in cells]
                got = _Parsed([*(c.child for c in cells), page.right_child], [], recs, cells, False)
            self._interior[page.pgno] = got
        return got

    def _compare(self, key: list[Value], got: _Parsed, i: int, tree: Tree, pgno: int) -> int:
        colls, desc, enc = tree.collations, tree.descending, self.pager.encoding
        rec = got.recs[i]
        c = compare_records(key, rec, colls, desc, enc)
        cell = got.cells[i]
        if c or len(rec) >= min(len(key), len(colls)) or cell.size <= len(cell.local):
            return c
        rec = decode_record(self.pager.payload(cell, pgno), enc, pgno)
        got.recs[i] = rec
        return compare_records(key, rec, colls, desc, enc)

    def _child(self, got: _Parsed, pgno: int, tree: Tree, key: SearchKey) -> int | None:
        if tree.table:
            return got.children[bisect_left(got.keys, key)]
        assert isinstance(key, list)
        lo, hi = 0, len(got.recs)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._compare(key, got, mid, tree, pgno) > 0:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(got.recs) and self._compare(key, got, lo, tree, pgno) == 0:
            return None  # the key is an entry of this very page
        return got.children[lo]

    def locate(self, tree: Tree, target: int, key: SearchKey, target_is_leaf: bool) -> bool:
        """True when descending ``tree`` by ``key`` reaches page ``target``."""
        pgno = tree.root
        if pgno == target:
            return True
        height = self.heights.get(tree.root)
        seen = {pgno}
        depth = 0
        while True:
            got = self._interior.get(pgno)  # interior pages seen before: no parse
            if got is None:
                page = self.pager.btree(pgno)
                if page.is_table != tree.table:
                    raise DatabaseFormatError(f"page of the wrong kind in {tree.name!r}", pgno=pgno)
                if page.is_leaf:
                    self.heights[tree.root] = depth
                    return False
                got = self._parsed(page)
            elif got.table != tree.table:
                raise DatabaseFormatError(f"page of the wrong kind in {tree.name!r}", pgno=pgno)
            child = self._child(got, pgno, tree, key)
            depth += 1
            if child == target:
                if target_is_leaf:
                    self.heights[tree.root] = depth
                return True
            if child is None or (height is not None and depth >= height):
                return False
            if child in seen or depth > MAX_DEPTH:
                raise DatabaseFormatError(f"b-tree {tree.name!r} loops", pgno=pgno)
            seen.add(child)
            pgno = child

    def contains(self, tree: Tree, page: BTreePage) -> bool:
        """True when ``page`` (parsed from either state; same bytes) is a page of ``tree``."""
        if page.pgno == tree.root:
            return True
        if page.is_table != tree.table:
            return False
        key = self.first_key(page, len(tree.collations))
        return key is not None and self.locate(tree, page.pgno, key, page.is_leaf)
