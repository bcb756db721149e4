"""Discovery: every replica root under a prefix, from one paged listing walk of it.

The walk is one recursive listing of the prefix (on S3 a ListObjectsV2 without a
delimiter: one request per 1,000 keys), never a listing per candidate folder: a
prefix of 10,000 small replicas costs tens of requests, not tens of thousands.
Roots are told by their file names: LTX level folders in the scheme's layout
(``0000``-``0009`` on S3, ``ltx/0``-``ltx/9`` elsewhere) and Litestream 0.3
``generations/<id>/(snapshots|wal)/``; a root holding both is ``mixed``.
"""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import attrs

from ltx.legacy import parse_object_path
from ltx.storage import ListedFile, Store, open_store, redact
from ltx.times import EPOCH

__all__ = ["Discovery", "Root", "child_url", "discover", "group_of"]


@attrs.frozen
class Root:
    """One replica root: its URL (secrets as given: never print it; ``shown`` is safe),
    its path under the prefix, its kind and what the listing saw of it: its files
    (``listing``) and when that listing started (``listed_at``, epoch seconds), which
    verify and drill reuse instead of listing the root again (see ``Options.listing_max_age``)."""

    url: str = attrs.field(repr=False)
    rel: str
    kind: str  # "ltx", "generations" or "mixed"
    objects: int
    bytes: int
    listing: tuple[ListedFile, ...] = attrs.field(default=(), repr=False)
    listed_at: float | None = None

    @property
    def shown(self) -> str:
        """The URL with user info and secret query values masked."""
        return redact(self.url)


@attrs.frozen
class Discovery:
    """The roots found under ``prefix`` (redacted), and what finding them cost."""

    prefix: str
    roots: tuple[Root, ...]
    requests: int
    listed: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (root URLs redacted)."""
        return {
            "prefix": self.prefix,
            "roots": [{"url": r.shown, "kind": r.kind, "objects": r.objects} for r in self.roots],
            "requests": self.requests,
            "listed": self.listed,
            "seconds": round(self.seconds, 3),
        }


def child_url(prefix_url: str, rel: str) -> str:
    """The URL of ``rel`` below ``prefix_url`` (a URL or a folder), keeping its scheme,
    host and query."""
    if not rel:
        return prefix_url
    if "://" not in prefix_url:
        return f"{prefix_url.rstrip('/')}/{rel}"
    parts = urllib.parse.urlsplit(prefix_url)
    return urllib.parse.urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}/{rel}"))


class _Requests:
    """Counts the HTTP requests botocore sends for an S3 filesystem while active."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, **kwargs: Any) -> None:
        with self._lock:
            self.count += 1


@contextlib.contextmanager
def _counting(store: Store) -> Iterator[_Requests | None]:
    """Count real requests where the filesystem lets us (S3); None elsewhere."""
    client = None
    if store.scheme == "s3":
        with contextlib.suppress(Exception):
            store.fs.connect()
            client = store.fs.s3
    if client is None:
        yield None
        return
    counter = _Requests()
    client.meta.events.register("before-send.s3", counter)
    try:
        yield counter
    finally:
        client.meta.events.unregister("before-send.s3", counter)


def _root_of(store: Store, rel: str) -> tuple[str, str] | None:
    """(root, what) when ``rel`` (a file's path under the prefix) belongs to a replica:
    ``L0``..``L9`` for an LTX file of the store's layout, ``generations`` for 0.3."""
    root = store.layout.replica_root_of(rel)
    if root is not None:
        level = store.layout.parse_level_dir(rel.split("/")[-2])
        return root, f"L{level}"
    if parse_object_path(rel, size=0, created_at=EPOCH) is not None:
        return "/".join(rel.split("/")[:-4]), "generations"
    return None


def group_of(store: Store, rel: str) -> str:
    """What a file under a replica root is: ``L0``..``L9``, ``generations`` or ``other``."""
    found = _root_of(store, rel)
    return found[1] if found is not None and found[0] == "" else "other"


def discover(prefix_url: str, **storage_options: Any) -> Discovery:
    """Every replica root under ``prefix_url`` with one paged listing walk, and the
    number of requests it took (counted on the wire for S3, listing calls elsewhere)."""
    started, listed_at = time.perf_counter(), time.time()
    store = open_store(prefix_url, **storage_options)
    with _counting(store) as counter:
        listed = store.list_tree("")
    base = store.root.rstrip("/")
    kinds: dict[str, set[str]] = {}
    files: dict[str, list[ListedFile]] = {}
    for f in listed:
        rel = f.path[len(base) :].lstrip("/") if f.path.startswith(base) else f.path
        found = _root_of(store, rel)
        if found is None:
            continue
        kind = "generations" if found[1] == "generations" else "ltx"
        kinds.setdefault(found[0], set()).add(kind)
        files.setdefault(found[0], []).append(f)
    roots = tuple(
        Root(
            child_url(prefix_url, rel),
            rel,
            "mixed" if len(kinds[rel]) > 1 else next(iter(kinds[rel])),
            len(files[rel]),
            sum(f.size for f in files[rel]),
            tuple(files[rel]),
            listed_at,
        )
        for rel in sorted(kinds)
    )
    requests = counter.count if counter is not None else 1
    return Discovery(
        redact(prefix_url), roots, requests, len(listed), time.perf_counter() - started
    )
