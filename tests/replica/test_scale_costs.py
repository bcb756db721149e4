"""Building blocks cost what their work costs: requests per append, plans per page_at loop."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

import ltx
from ltx.replica import Replica
from ltx.resolve import PageCache
from ltx.storage import open_store
from ltx.testing.faults import CountingFileSystem
from tests.helpers import image_pages, sqlite_history

PS = 4096


class _HTTPCounter:
    """Counts the HTTP requests botocore sends, by operation (real requests, not calls)."""

    def __init__(self, fs) -> None:
        self.ops: list[str] = []
        self._lock = threading.Lock()
        fs.connect()
        fs.s3.meta.events.register("before-send.s3", self._seen)

    def _seen(self, request, **kwargs):
        op = kwargs.get("event_name", "").split(".")[-1]
        with self._lock:
            self.ops.append(f"{request.method} {op}")


def _base(url: str, tmp_path, *, start: dt.datetime | None = None, **opts) -> list[bytes]:
    """Three appends; with ``start`` stamped a second apart from it (else by the clock,
    where fast appends may share a millisecond)."""
    r = ltx.open(url, **opts)
    images = sqlite_history(tmp_path / "db.sqlite", page_size=PS, steps=3)
    prev: dict[int, bytes] = {}
    for i, image in enumerate(images):
        cur = image_pages(image, PS)
        when = None if start is None else start + dt.timedelta(seconds=i)
        r.append({p: d for p, d in cur.items() if prev.get(p) != d}, len(cur), timestamp=when)
        prev = cur
    return images


@pytest.mark.slow
@pytest.mark.parametrize("replica_target", ["file", "s3"], indirect=True)
def test_thousand_appends_cost_at_most_two_requests_each(replica_target, tmp_path):
    url, opts = replica_target
    images = _base(url, tmp_path, **opts)
    base = open_store(url, **opts)
    counting = CountingFileSystem(base.fs)
    http = _HTTPCounter(base.fs) if base.scheme == "s3" else None
    r = Replica(open_store(url, filesystem=counting, **opts))
    page = image_pages(images[-1], PS)
    r.append({2: page[2]}, len(page))  # the first append lists the replica once
    listed = counting.calls["ls"]
    calls_before = counting.total
    http_before = len(http.ops) if http else 0
    n = 1000
    for i in range(n):
        r.append({2: bytes([i % 251]) * PS}, len(page))
    assert counting.calls["ls"] == listed  # no listing at all after the first
    assert counting.total - calls_before <= 2 * n
    if http is not None:
        sent = http.ops[http_before:]
        assert len(sent) <= 2 * n, sent[:10]
        assert not any("ListObjects" in op for op in sent)
    assert r.position == len(images) + 1 + n
    assert [p.txid for p in ltx.open(url, **opts).history()][-1] == r.position


def test_page_at_in_a_loop_plans_once(tmp_path, monkeypatch):
    url = (tmp_path / "rep").as_uri()
    _base(url, tmp_path)
    r = ltx.open(url)
    plans = []
    import ltx.resolve.targets as face

    real = face.plan_restore

    def counted(*args, **kwargs):
        plans.append(kwargs.get("txid"))
        return real(*args, **kwargs)

    monkeypatch.setattr(face, "plan_restore", counted)
    for _ in range(1000):
        r.page_at(1, 2)
    for _ in range(100):
        r.page_at(2)
    assert plans == [2, None]
    assert r.reader.maps_built == 2
    r.refresh()  # a new listing forgets plans and page maps
    r.page_at(1, 2)
    assert plans == [2, None, 2]


def test_timestamp_resolves_once_per_listing(tmp_path, monkeypatch):
    url = (tmp_path / "rep").as_uri()
    # Explicit stamps: by the clock, the first two appends can share a millisecond, and
    # then no time names the first point (a time names the newest point made strictly
    # before it, as Litestream's restore -timestamp), so history()[1].created_at failed.
    _base(url, tmp_path, start=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    r = ltx.open(url)
    first, second = r.history()[:2]
    when = second.created_at  # names the point before it
    import ltx.resolve.targets as face

    calls = []
    real = face.plan_restore
    monkeypatch.setattr(face, "plan_restore", lambda *a, **k: calls.append(1) or real(*a, **k))
    for _ in range(200):
        r.page_at(1, timestamp=when.isoformat())
    assert len(calls) == 1
    assert r.plan(timestamp=when.isoformat()).txid == first.txid


def test_warm_reads_read_nothing(tmp_path):
    url = (tmp_path / "rep").as_uri()
    _base(url, tmp_path)
    base = open_store(url)
    counting = CountingFileSystem(base.fs)
    r = Replica(open_store(url, filesystem=counting), cache=PageCache())
    view = r.view()
    for p in range(1, view.page_count + 1):
        view.page(p)
    before = counting.total
    for _ in range(3):
        for p in range(1, view.page_count + 1):
            r.page_at(p)
            view.page(p)
    assert counting.total == before


@pytest.mark.parametrize("replica_target", ["s3"], indirect=True)
def test_a_remote_page_miss_brings_its_neighbours(replica_target, tmp_path):
    url, opts = replica_target
    _base(url, tmp_path, **opts)
    base = open_store(url, **opts)
    r = Replica(open_store(url, filesystem=CountingFileSystem(base.fs), **opts))
    view = r.view()
    counting = r.store.fs
    before = counting.calls["cat_file"]
    first = view.page(1)
    assert counting.calls["cat_file"] == before + 1  # one ranged read for the miss
    rest = [view.page(p) for p in range(2, view.page_count + 1)]
    assert counting.calls["cat_file"] == before + 1  # neighbours came with it
    assert first[:16] == b"SQLite format 3\x00" and all(len(p) == PS for p in rest)
