"""Surveying a root for LTX replicas: the replicas below a prefix, and what was found
where none was (for messages that say what was looked for).

Takes the objects under the root and a ``Layout``; it knows no ``Store``.
"""

from __future__ import annotations

from ltx.errors import StorageError
from ltx.storage._layout import Layout
from ltx.storage._objects import ObjectStore

__all__ = ["replica_roots", "explain_empty"]


def replica_roots(objects: ObjectStore, layout: Layout) -> list[str]:
    """Paths (relative to the root) of the LTX replicas found below it, for a prefix
    holding many databases; '' is the root itself."""
    base = objects.root.rstrip("/")
    roots = set()
    for f in objects.list_tree(""):
        rel = f.path[len(base) :].lstrip("/") if f.path.startswith(base) else f.path
        root = layout.replica_root_of(rel)
        if root is not None:
            roots.add(root)
    return sorted(roots)


def explain_empty(objects: ObjectStore, layout: Layout) -> str:
    """Why no replica was found: what was looked for, where, and what is there."""
    where = objects.root or "/"
    try:
        found = objects.root_entries()
    except StorageError as exc:
        return f"no replica at {objects.url}: cannot list {where}: {exc}"
    hint = ""
    if where.rstrip("/").endswith((".db", ".sqlite", ".sqlite3")) or objects.is_file(where):
        hint = " (the URL names a file: give the replica folder, not the database)"
    seen = ", ".join(found[:8]) + (" ..." if len(found) > 8 else "") if found else "nothing"
    return (
        f"no replica at {objects.url}: looked for {layout.describe_levels()} and "
        f"generations/ under {where}, found {seen}{hint}"
    )
