"""``stats``: what a replica stores and what it will cost.

Objects and bytes per level come from one recursive listing of the root, so they add
up to what a raw listing shows. Byte-identical copies across levels (Litestream
#1407: a compaction of one file rewrites the same bytes one level up) are found by
equal TXID range and size, then confirmed by the file checksum in each trailer (one
16-byte ranged read per candidate). The projection runs the pure planner forward
(see ``_project``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from ltx.codec import SNAPSHOT_LEVEL, TRAILER_SIZE, FileInfo
from ltx.fleet._discover import Root, group_of
from ltx.fleet._ops import Found, Options, run_op
from ltx.fleet._project import project
from ltx.fleet._verdict import Verdict
from ltx.replica import Replica
from ltx.storage import Store

__all__ = ["identical_copies", "stats"]


def identical_copies(store: Store, files: Sequence[FileInfo]) -> list[list[str]]:
    """Groups of LTX files at different levels holding the same bytes (same TXID range,
    size and trailer file checksum)."""
    by_shape: dict[tuple[int, int, int], list[FileInfo]] = {}
    for f in files:
        by_shape.setdefault((f.min_txid, f.max_txid, f.size), []).append(f)
    candidates = [fs for fs in by_shape.values() if len({f.level for f in fs}) > 1]
    flat = [f for fs in candidates for f in fs if f.size >= TRAILER_SIZE]
    trailers = store.read_ranges([(f.path, f.size - TRAILER_SIZE, f.size) for f in flat])
    checksum = {f.path: t[8:] for f, t in zip(flat, trailers, strict=True)}
    groups = []
    for fs in candidates:
        by_sum: dict[bytes, list[str]] = {}
        for f in fs:
            if f.path in checksum:
                by_sum.setdefault(checksum[f.path], []).append(f.path)
        groups += [sorted(g) for g in by_sum.values() if len(g) > 1]
    return groups


def _per_group(store: Store) -> tuple[dict[str, dict[str, int]], int, int]:
    base = store.root.rstrip("/")
    per: dict[str, dict[str, int]] = {}
    listed = store.list_tree("")
    for f in listed:
        rel = f.path[len(base) :].lstrip("/") if f.path.startswith(base) else f.path
        g = per.setdefault(group_of(store, rel), {"objects": 0, "bytes": 0})
        g["objects"] += 1
        g["bytes"] += f.size
    return dict(sorted(per.items())), len(listed), sum(f.size for f in listed)


def _projection(replica: Replica, options: Options, files: Sequence[FileInfo]) -> dict[str, Any]:
    rate = float(options.writes_per_second or 0)
    l0 = [f.size for f in files if f.level == 0]
    snaps = [f for f in files if f.level == SNAPSHOT_LEVEL]
    per_write = options.bytes_per_write or (sum(l0) // len(l0) if l0 else 4096)
    db_bytes = max(snaps, key=lambda f: f.max_txid).size if snaps else max(per_write, 4096)
    proj = project(
        options.config(),
        files,
        options.clock(),
        writes_per_second=rate,
        bytes_per_write=per_write,
        db_bytes=db_bytes,
        days=options.days,
    )
    out = attrs.asdict(proj)
    out["per_level"] = {f"L{k}": {"objects": n, "bytes": b} for k, (n, b) in proj.per_level.items()}
    out.update(writes_per_second=rate, bytes_per_write=per_write, db_bytes=db_bytes)
    return out


def _stats(replica: Replica, options: Options, found: Found) -> None:
    store = replica.store
    per, objects, total = _per_group(store)
    found.files, found.bytes = objects, total
    files = replica.files()
    groups = identical_copies(store, files)
    size = {f.path: f.size for f in files}
    found.detail.update(
        levels=per,
        identical_groups=len(groups),
        identical_bytes=sum(size[p] for g in groups for p in g[1:]),
        identical_examples=groups[:5],
    )
    if options.writes_per_second:
        found.detail["projection"] = _projection(replica, options, files)


def stats(replica: str | Root, options: Options | None = None, **storage_options: Any) -> Verdict:
    """Objects and bytes per level, identical copies across levels, the oldest and
    newest restorable points and, with ``options.writes_per_second``, a projection
    (from a fresh listing of the root, always)."""
    return run_op("stats", _stats, replica, options or Options(), storage_options)
