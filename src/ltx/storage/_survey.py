"""Surveying a store beyond the LTX levels: any file under the root, the replicas below a
prefix, and what was found where none was (for messages that say what was looked for)."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

import attrs

from ltx.errors import StorageError
from ltx.times import EPOCH

if TYPE_CHECKING:
    from ltx.storage._store import Store

__all__ = ["ListedFile", "list_tree", "replica_roots", "explain_empty"]


@attrs.frozen
class ListedFile:
    """Any file under the root as a listing sees it (used for layouts other than LTX's)."""

    path: str
    size: int
    created_at: dt.datetime
    created_ns: int | None = None  # exact nanoseconds where the backend has them


def list_tree(store: Store, rel: str) -> list[ListedFile]:
    """Every file below ``root/rel`` (recursive), sorted by path; [] when it is absent."""
    base = store._join(rel)

    def go() -> dict[str, dict[str, Any]]:
        try:
            found = store.fs.find(base, detail=True, withdirs=False)
        except FileNotFoundError:
            return {}
        return dict(found) if isinstance(found, dict) else {p: {"name": p} for p in found}

    out = []
    for path, entry in store.call(go, f"list {base} recursively").items():
        if entry.get("type") not in (None, "file") or not store.backend.inside_root(path):
            continue
        created = store.backend.listed_time(entry) or EPOCH
        size = int(entry.get("size") or entry.get("Size") or 0)
        out.append(ListedFile(path, size, created, store.backend.listed_ns(path, entry)))
    return sorted(out, key=lambda f: f.path)


def replica_roots(store: Store) -> list[str]:
    """Paths (relative to the root) of the LTX replicas found below it, for a prefix
    holding many databases; '' is the root itstore."""
    level = r"ltx/[0-9]" if store.layout.name == "decimal" else r"000[0-9]"
    found = re.compile(rf"^(?:(.*)/)?{level}/[0-9a-f]{{16}}-[0-9a-f]{{16}}\.ltx$")
    base = store.root.rstrip("/")
    roots = set()
    for f in store.list_tree(""):
        rel = f.path[len(base) :].lstrip("/") if f.path.startswith(base) else f.path
        m = found.match(rel)
        if m is not None:
            roots.add(m.group(1) or "")
    return sorted(roots)


def explain_empty(store: Store) -> str:
    """Why no replica was found: what was looked for, where, and what is there."""
    levels = "ltx/0..ltx/9" if store.layout.name == "decimal" else "0000..0009"
    where = store.root or "/"
    try:
        found = store.root_entries()
    except StorageError as exc:
        return f"no replica at {store.url}: cannot list {where}: {exc}"
    hint = ""
    if where.rstrip("/").endswith((".db", ".sqlite", ".sqlite3")) or store.is_file(where):
        hint = " (the URL names a file: give the replica folder, not the database)"
    seen = ", ".join(found[:8]) + (" ..." if len(found) > 8 else "") if found else "nothing"
    return (
        f"no replica at {store.url}: looked for {levels} and generations/ under {where}, "
        f"found {seen}{hint}"
    )
