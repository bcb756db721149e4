"""A fleet of small replicas written by our own writer, some broken in known ways."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import ltx
from ltx.fleet._discover import child_url
from ltx.storage import open_store
from tests.helpers import image_pages, sqlite_history

PS = 4096
# replica index % 10 -> the damage done and the verdict it must get
DAMAGE = {3: ("flip", "corrupt"), 5: ("gap", "incomplete"), 7: ("ltx2", "unsupported")}


def _images() -> list[dict[int, bytes]]:
    with tempfile.TemporaryDirectory() as tmp:
        images = sqlite_history(Path(tmp) / "db.sqlite", page_size=PS, steps=3)
    return [image_pages(i, PS) for i in images]


def write_replica(url: str, images: list[dict[int, bytes]], **opts: Any) -> None:
    """Four level-0 files: the history of a small SQLite database."""
    r = ltx.open(url, **opts)
    prev: dict[int, bytes] = {}
    for cur in images:
        r.append({p: d for p, d in cur.items() if prev.get(p) != d}, len(cur))
        prev = cur


def damage(url: str, how: str, **opts: Any) -> str:
    """Break one replica: ``flip`` a byte, leave a ``gap`` in the chain, or rewrite a
    file as ``ltx2`` (a newer version); return the path of the file touched."""
    store = open_store(url, **opts)
    files = store.list_files()
    f = files[1]
    if how == "gap":
        store.delete([f])
        return f.path
    data = bytearray(store.read(f.path))
    if how == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        data[:4] = b"LTX2"
    store.fs.pipe_file(f.path, bytes(data))
    return f.path


def make_fleet(prefix: str, n: int, **opts: Any) -> dict[str, str]:
    """``n`` replicas under ``prefix`` (tenants/tNNNN); redacted URL -> expected verdict."""
    images = _images()
    expected = {}
    for i in range(n):
        url = child_url(prefix, f"tenants/t{i:04d}")
        write_replica(url, images, **opts)
        how, verdict = DAMAGE.get(i % 10, (None, "healthy"))
        if how is not None:
            damage(url, how, **opts)
        expected[ltx.storage.redact(url)] = verdict
    return expected
