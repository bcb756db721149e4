"""Walking one b-tree: its pages, or its payload cells in key order, guarding against cycles."""

from __future__ import annotations

from collections.abc import Iterator

from ltx.errors import DatabaseFormatError
from ltx.sqlitefmt.page import BTreePage, PayloadCell
from ltx.sqlitefmt.pager import Pager

__all__ = ["MAX_DEPTH", "open_page", "iter_pages", "iter_cells"]

#: SQLite's own cursors stop at 20 levels; anything deeper is a malformed tree.
MAX_DEPTH = 40


def open_page(pager: Pager, pgno: int, table: bool) -> BTreePage:
    """Page ``pgno`` as a page of a table (``table``) or index b-tree, or an error."""
    page = pager.btree(pgno)
    if page.is_table != table:
        kind = "table" if table else "index"
        raise DatabaseFormatError(f"page of the wrong b-tree kind in a {kind} tree", pgno=pgno)
    return page


def iter_pages(pager: Pager, root: int, table: bool) -> Iterator[BTreePage]:
    """Every page of the tree at ``root``, parents before children (pre-order)."""
    seen = {root}
    stack = [(root, 0)]
    while stack:
        pgno, depth = stack.pop()
        page = open_page(pager, pgno, table)
        yield page
        if page.is_leaf:
            continue
        if depth >= MAX_DEPTH:
            raise DatabaseFormatError("b-tree deeper than any SQLite builds", pgno=pgno)
        children = page.children()
        for child in children:
            if child in seen:
                raise DatabaseFormatError(f"b-tree reaches page {child} twice", pgno=pgno)
            seen.add(child)
        stack.extend((c, depth + 1) for c in reversed(children))


def iter_cells(pager: Pager, root: int, table: bool) -> Iterator[tuple[int, PayloadCell]]:
    """(pgno, cell) for every payload cell of the tree in key order.

    Table trees keep rows in leaves only; index trees also in interior cells, which
    sort between the subtrees to their left and right.
    """
    seen = {root}
    first = open_page(pager, root, table)
    stack: list[tuple[BTreePage, list[int], list[PayloadCell], list[int]]] = []

    def push(page: BTreePage) -> None:
        if len(stack) >= MAX_DEPTH:
            raise DatabaseFormatError("b-tree deeper than any SQLite builds", pgno=page.pgno)
        cells = [] if page.kind == 5 else page.payload_cells()
        stack.append((page, page.children(), cells, [0]))

    push(first)
    while stack:
        page, children, cells, pos = stack[-1]
        if page.is_leaf:
            stack.pop()
            for cell in cells:
                yield page.pgno, cell
            continue
        i = pos[0]
        if i >= len(children):
            stack.pop()
            continue
        pos[0] = i + 1
        if i and cells:
            yield page.pgno, cells[i - 1]
        child = children[i]
        if child in seen:
            raise DatabaseFormatError(f"b-tree reaches page {child} twice", pgno=page.pgno)
        seen.add(child)
        push(open_page(pager, child, table))
