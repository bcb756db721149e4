"""Page misses fetch their neighbours compressed, in a window that grows with each miss in
the same file: scattered reads soon cost few requests, and every page is still right."""

from __future__ import annotations

import random

import ltx
from ltx.codec import HEADER_FLAG_NO_CHECKSUM, Header, encode_pages
from ltx.replica import Replica
from ltx.resolve import PageCache
from ltx.resolve.reader import MAX_READ_AROUND
from ltx.storage import open_store
from ltx.testing.faults import CountingFileSystem

PS = 1024


def _replica(tmp_path, n=400):
    rnd = random.Random(5)
    pages = {p: rnd.randbytes(200).ljust(PS, bytes([p % 251])) for p in range(1, n + 1)}
    header = Header(flags=HEADER_FLAG_NO_CHECKSUM, page_size=PS, commit=n, min_txid=1, max_txid=1)
    url = (tmp_path / "rep").as_uri()
    src = tmp_path / "snap.ltx"
    src.write_bytes(encode_pages(header, pages))
    ltx.open(url).store.write(9, 1, 1, src, timestamp_ms=0)
    return url, pages


def _counting(url, read_around, cache_bytes=64 << 20):
    counting = CountingFileSystem(open_store(url).fs)
    store = open_store(url, filesystem=counting)
    store.backend.read_around = read_around  # as a remote backend has
    return Replica(store, cache=PageCache(max_bytes=cache_bytes)), counting


def test_scattered_misses_grow_the_window_and_pages_stay_right(tmp_path):
    url, pages = _replica(tmp_path)
    r, counting = _counting(url, 1024)
    view = r.view()
    before = counting.calls["cat_file"]
    order = random.Random(1).sample(sorted(pages), len(pages))
    for p in order:
        assert view.page(p) == pages[p]
    reads = counting.calls["cat_file"] - before
    assert reads < 40  # 400 scattered pages; one request each without read-around
    assert MAX_READ_AROUND >= 1024


def test_a_tiny_cache_still_serves_right_pages(tmp_path):
    url, pages = _replica(tmp_path)
    r, _ = _counting(url, 4096, cache_bytes=3 * PS)
    view = r.view()
    for p in random.Random(2).sample(sorted(pages), 120):
        assert view.page(p) == pages[p]


def test_no_read_around_means_one_frame_per_miss(tmp_path):
    url, pages = _replica(tmp_path, n=50)
    r, counting = _counting(url, 0)
    view = r.view()
    before = counting.calls["cat_file"]
    for p in (5, 6, 7):
        assert view.page(p) == pages[p]
    assert counting.calls["cat_file"] - before == 3


def test_read_pages_equals_read_page_over_several_files(tmp_path, monkeypatch):
    import ltx.resolve.reader as reader_mod

    url, pages = _replica(tmp_path, n=120)
    r = ltx.open(url)
    change = {p: bytes([p % 7]) * PS for p in (5, 6, 7, 60, 121)}
    r.append(change, 121)
    want = pages | change
    monkeypatch.setattr(reader_mod, "RUN_BYTES", 2000)  # many short runs
    fresh, counting = _counting(url, 0)
    pm = fresh.page_map()
    fresh.read_page(pm, 10)  # one cached page among them
    pgnos = [1, 2, 5, 6, 7, 8, 10, 59, 60, 61, 120, 121]
    before = counting.calls["cat_file"]
    got = fresh.read_pages(pm, pgnos)
    assert got == [want[p] for p in pgnos]
    assert counting.calls["cat_file"] - before < len(pgnos) - 1  # adjacent frames together


def test_read_pages_reads_nearby_frames_together_and_drops_the_gaps(tmp_path, monkeypatch):
    import ltx.resolve.reader as reader_mod

    url, pages = _replica(tmp_path, n=400)
    fresh, counting = _counting(url, 0)
    pm = fresh.page_map()
    every_fifth = list(range(1, 401, 5))
    before = counting.calls["cat_file"]
    assert fresh.read_pages(pm, every_fifth) == [pages[p] for p in every_fifth]
    assert counting.calls["cat_file"] - before == 1  # 80 frames, gaps of 4 frames between
    monkeypatch.setattr(reader_mod, "RUN_GAP", 0)  # only adjacent frames go together
    before = counting.calls["cat_file"]
    assert fresh.read_pages(pm, every_fifth) == [pages[p] for p in every_fifth]
    assert counting.calls["cat_file"] - before == len(every_fifth)
