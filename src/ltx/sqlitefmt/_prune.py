"""The pruned part of the row diff: which pages of each table can hold changed rows.

For a table on both sides, a row can differ only if it sits on a page that is changed,
or on an unchanged page that belongs to the table's tree on one side only, or if its
overflow chain changed. Changed pages are placed in their tree by key descent; pages
under changed (or one-sided) pages are then checked for membership on the other side.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Set as AbstractSet

from ltx.errors import DatabaseFormatError
from ltx.sqlitefmt._locate import Locator, Tree
from ltx.sqlitefmt.btree import iter_pages, open_page
from ltx.sqlitefmt.page import INTERIOR_INDEX, INTERIOR_TABLE, LEAF_INDEX, LEAF_TABLE, BTreePage
from ltx.sqlitefmt.pager import Pager
from ltx.sqlitefmt.schema import Schema, Table

__all__ = [
    "Owner",
    "Side",
    "classify",
    "expand",
    "explain",
    "find_owners",
    "owners_by_ptrmap",
    "owners_nearby",
    "prunable",
]

_TABLE_KINDS = (INTERIOR_TABLE, LEAF_TABLE)
_INDEX_KINDS = (INTERIOR_INDEX, LEAF_INDEX)
_PTRMAP_OVERFLOW1 = 3  # first page of an overflow chain; parent is its b-tree page
_PTRMAP_OVERFLOW2 = 4  # a later page; parent is the previous overflow page


class Side:
    """One database state in a diff and what the diff learned about its pages."""

    def __init__(self, pager: Pager, schema: Schema, changed: AbstractSet[int]) -> None:
        self.pager = pager
        self.schema = schema
        self.changed = changed
        self.loc = Locator(pager)
        #: tree name -> changed pages found in that tree
        self.located: dict[str, set[int]] = defaultdict(set)
        #: tree name -> children of pages known to be in that tree
        self.children: dict[str, set[int]] = defaultdict(set)
        #: changed pages that are not b-tree pages (overflow, freelist, garbage)
        self.loose: set[int] = set()
        #: changed index-kind pages that are in no WITHOUT ROWID table
        self.stray_index: set[int] = set()
        #: overflow pages of rows the diff compares, or of entries on changed index pages
        self.explained: set[int] = set()

    def exists(self, pgno: int) -> bool:
        """True for a page of this state's file that may hold b-tree or overflow content."""
        p = self.pager
        return 1 <= pgno <= p.limit and pgno != p.lock and not p.is_ptrmap(pgno)


def classify(side: Side, trees: list[Tree]) -> None:
    """Place every changed page of ``side`` in the tree (of ``trees``) holding it, if any."""
    roots = {t.root: t for t in trees}
    rowid = [t for t in trees if t.table]
    keyed = [t for t in trees if not t.table]
    hits: dict[str, int] = defaultdict(int)
    for pgno in sorted(side.changed):
        if not side.exists(pgno) or pgno in side.schema.pages:
            continue
        kind = side.pager.raw(pgno)[0]
        if kind not in _TABLE_KINDS and kind not in _INDEX_KINDS:
            side.loose.add(pgno)
            continue
        tree = _place(side, pgno, rowid if kind in _TABLE_KINDS else keyed, roots, hits)
        if tree is not None:
            side.located[tree.name].add(pgno)
            hits[tree.name] += 1
        elif kind in _INDEX_KINDS:
            side.stray_index.add(pgno)


def _place(
    side: Side, pgno: int, trees: list[Tree], roots: dict[int, Tree], hits: dict[str, int]
) -> Tree | None:
    try:
        page = side.pager.btree(pgno)
        key = side.loc.first_key(page, max((len(t.collations) for t in trees), default=1))
    except DatabaseFormatError:
        side.loose.add(pgno)  # not a well-formed b-tree page: cannot be in a live tree
        return None
    root_of = roots.get(pgno)
    if root_of is not None and root_of.table == page.is_table:
        return root_of
    if key is None:
        return None
    for tree in sorted(trees, key=lambda t: -hits[t.name]) if len(trees) > 1 else trees:
        if side.loc.locate(tree, pgno, key, page.is_leaf):
            return tree
    return None


def note_children(side: Side, tree: Tree) -> None:
    """Record the children of the changed pages located in ``tree``."""
    for pgno in side.located.get(tree.name, ()):
        side.children[tree.name].update(open_page(side.pager, pgno, tree.table).children())


def _shared(other: Side, tree: Tree, pgno: int) -> bool:
    """True when unchanged page ``pgno`` is also a page of ``tree`` in the ``other`` state."""
    if pgno in other.children.get(tree.name, ()):
        return True
    return other.loc.contains(tree, other.pager.btree(pgno))


def expand(
    side: Side, other: Side, tree: Tree, other_tree: Tree, roots_differ: bool
) -> list[BTreePage]:
    """Pages of ``tree`` on ``side`` whose rows may differ from the ``other`` side's.

    Starts from the located changed pages (and the root when the roots differ) and goes
    down into every child that is changed or not in the other side's tree.
    """
    start = set(side.located.get(tree.name, ()))
    root = tree.root
    if roots_differ and (root in side.changed or not _shared(other, other_tree, root)):
        start.add(root)
    out: list[BTreePage] = []
    seen: set[int] = set()
    work = sorted(start, reverse=True)
    while work:
        pgno = work.pop()
        if pgno in seen:
            continue
        seen.add(pgno)
        page = open_page(side.pager, pgno, tree.table)
        if not tree.table or page.is_leaf:
            out.append(page)
        kids = page.children()
        side.children[tree.name].update(kids)
        for c in kids:
            if c in side.changed or not _shared(other, other_tree, c):
                work.append(c)
        if len(seen) > side.pager.limit:
            raise DatabaseFormatError(f"b-tree {tree.name!r} loops", pgno=pgno)
    return out


def explain(side: Side, other: Side) -> set[int]:
    """Changed non-b-tree pages of ``side`` that no read so far accounts for.

    Accounted for: overflow pages of the rows compared, freelist pages, and overflow
    chains of the entries that are new on a changed index page that is not free (index
    entries are never rewritten in place). What is left may be overflow content
    rewritten in place under an unchanged page.
    """
    rest = side.loose - side.explained
    free: set[int] = set()
    if rest and side.pager.header.freelist_trunk:
        free = side.pager.freelist()
        rest -= free
    for pgno in sorted(side.stray_index - free):
        if not rest:
            break
        try:
            old = _cell_keys(other, pgno)
            for cell in side.pager.btree(pgno).payload_cells():
                if cell.overflow and (cell.size, cell.local, cell.overflow) not in old:
                    rest.difference_update(p for p, _ in side.pager.chain(cell, pgno))
        except DatabaseFormatError:
            continue  # not a well-formed page; whatever it points at stays unexplained
    return rest


def _cell_keys(side: Side, pgno: int) -> set[tuple[int, bytes, int]]:
    """(size, local part, first overflow page) of the cells of ``pgno`` on ``side``, if any."""
    if not side.exists(pgno):
        return set()
    try:
        return {(c.size, c.local, c.overflow) for c in side.pager.btree(pgno).payload_cells()}
    except DatabaseFormatError:
        return set()


Owner = tuple[Tree, int, int]


def find_owners(side: Side, trees: list[Tree], targets: set[int]) -> list[Owner]:
    """(tree, pgno, first overflow page) of the cells whose overflow chains reach ``targets``.

    The last resort: a walk of every tree, first matching only the cells' first overflow
    pages, then (if targets remain) following every chain; it stops once all are found.
    """
    pager = side.pager
    caching, pager.caching = pager.caching, False
    owners: list[Owner] = []
    try:
        for follow in (False, True):
            for tree in trees:
                if targets:
                    owners += _scan(pager, tree, targets, follow)
    finally:
        pager.caching = caching
    return owners


def _scan(pager: Pager, tree: Tree, targets: set[int], follow: bool) -> list[Owner]:
    owners = []
    for page in iter_pages(pager, tree.root, tree.table):
        if page.kind == INTERIOR_TABLE:
            continue
        for cell in page.payload_cells():
            if cell.overflow and (follow or cell.overflow in targets):
                chain = {p for p, _ in pager.chain(cell, page.pgno)}
                if chain & targets:
                    owners.append((tree, page.pgno, cell.overflow))
                    targets -= chain
        if not targets:
            break
    return owners


def owners_nearby(side: Side, trees: list[Tree], targets: set[int]) -> list[Owner]:
    """A cheap first guess: live b-tree pages just before (or after) a target whose cell
    starts its chain there, as when a row and its overflow were written together.

    Each candidate is confirmed by descent, so a wrong guess costs reads, never rows.
    """
    owners: list[Owner] = []
    roots = {t.root: t for t in trees}
    hits: dict[str, int] = defaultdict(int)
    tried: set[int] = set()
    for target in sorted(targets):
        for pgno in (*range(target - 1, target - 5, -1), target + 1, target + 2):
            if target not in targets:
                break
            if pgno in tried or pgno < 2 or not side.exists(pgno):
                continue
            tried.add(pgno)
            owners += _owned_here(side, pgno, trees, targets, roots, hits)
    return owners


def _owned_here(
    side: Side,
    pgno: int,
    trees: list[Tree],
    targets: set[int],
    roots: dict[int, Tree],
    hits: dict[str, int],
) -> list[Owner]:
    if side.pager.raw(pgno)[0] not in (LEAF_TABLE, LEAF_INDEX, INTERIOR_INDEX):
        return []
    try:
        page = side.pager.btree(pgno)
        cells = [c for c in page.payload_cells() if c.overflow in targets]
    except DatabaseFormatError:
        return []
    tree = (
        _place(side, pgno, [t for t in trees if t.table == page.is_table], roots, hits)
        if cells
        else None
    )
    if tree is None:
        return []
    for cell in cells:
        targets.difference_update(p for p, _ in side.pager.chain(cell, pgno))
    return [(tree, pgno, cell.overflow) for cell in cells]


def owners_by_ptrmap(side: Side, trees: list[Tree], targets: set[int]) -> list[Owner]:
    """Owners of overflow pages found through an auto-vacuum database's pointer map.

    Each overflow page names the previous page of its chain, the first names its
    b-tree page; that page is then placed in its tree by descent.
    """
    owners = []
    roots = {t.root: t for t in trees}
    hits: dict[str, int] = defaultdict(int)
    for pgno in sorted(targets):
        head = _chain_head(side.pager, pgno)
        if head is None:
            continue
        owner, first = head
        kind = side.pager.raw(owner)[100 if owner == 1 else 0]
        tree = _place(
            side, owner, [t for t in trees if t.table == (kind in _TABLE_KINDS)], roots, hits
        )
        if tree is not None:
            owners.append((tree, owner, first))
    return owners


def _chain_head(pager: Pager, pgno: int) -> tuple[int, int] | None:
    """(b-tree page, first overflow page) of the chain through ``pgno``, per the map."""
    seen = {pgno}
    while True:
        kind, parent = pager.ptrmap_entry(pgno)
        if kind == _PTRMAP_OVERFLOW1:
            return parent, pgno
        if kind != _PTRMAP_OVERFLOW2 or parent in seen:
            return None
        seen.add(parent)
        pgno = parent


def prunable(ta: Table | None, tb: Table | None) -> bool:
    """Whether a table's row diff may be pruned to the changed pages: it holds rows on
    both sides, with the same layout, and keys this reader can order (built-in collations)."""
    return (
        ta is not None
        and tb is not None
        and ta.has_rows
        and tb.has_rows
        and ta.layout == tb.layout
        and ta.decidable
    )
