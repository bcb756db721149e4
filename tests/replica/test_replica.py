"""Replica and View on local stores: request counts, caches, refresh, writes, races."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
import threading

import pytest

import ltx
from ltx.replica import Replica
from ltx.resolve import PageCache
from ltx.storage import RetryPolicy, open_store
from ltx.testing.faults import CountingFileSystem
from tests.helpers import image_pages, sqlite_history

PS = 4096


def _build(url, tmp_path, **opts):
    """A replica of a real SQLite history written with Replica.append; returns images."""
    images = sqlite_history(tmp_path / "src.db", page_size=PS, steps=6)
    r = ltx.open(url, **opts)
    prev = {}
    for i, image in enumerate(images):
        cur = image_pages(image, PS)
        r.append(
            {p: d for p, d in cur.items() if prev.get(p) != d},
            len(cur),
            timestamp=1_790_000_000_000 + i * 1000,
        )
        prev = cur
    return r, images


def test_append_then_read_every_point(tmp_path):
    r, images = _build((tmp_path / "rep").as_uri(), tmp_path)
    assert [p.txid for p in r.history()] == list(range(1, len(images) + 1))
    for txid, image in enumerate(images, start=1):
        v = r.view(txid)
        assert v.page_count * PS == len(image)
        assert v.read(0, len(image)) == image
        assert r.page_at(1, txid) == image[:PS]
        out = tmp_path / f"out{txid}.db"
        r.restore(out, txid)
        assert out.read_bytes() == image
    with pytest.raises(ltx.PageNotFoundError):
        r.page_at(10_000)
    with pytest.raises(FileExistsError):
        r.restore(tmp_path / "out1.db", 1)
    with pytest.raises(ltx.TxidNotAvailableError):
        r.view(99)


def test_request_counts(tmp_path):
    url = (tmp_path / "rep").as_uri()
    _, _images = _build(url, tmp_path)
    store = open_store(url)
    counting = CountingFileSystem(store.fs)
    r = Replica(open_store(url, filesystem=counting))
    r.refresh()
    listings = counting.calls["ls"]
    assert listings == 1 + 1 + 1  # root, ltx/, ltx/0
    view = r.view()
    k = len(view.page_map.files)
    assert counting.calls["cat_file"] <= k + 1
    before = counting.calls["cat_file"]
    view.page(2)
    assert counting.calls["cat_file"] == before + 1  # cold: one ranged read
    view.page(2)
    assert counting.calls["cat_file"] == before + 1  # warm: none
    assert counting.calls["ls"] == listings


def test_disk_cache_serves_a_second_process_offline(tmp_path):
    url = (tmp_path / "rep").as_uri()
    _, _images = _build(url, tmp_path)
    cache = tmp_path / "cache"
    r = ltx.open(url, cache_dir=cache)
    v = r.view(4)
    seen = {p: v.page(p) for p in range(1, v.page_count + 1)}
    script = textwrap.dedent(
        f"""
        import sys
        import ltx
        from ltx.replica import Replica
        from ltx.resolve import PageCache
        from ltx.storage import RetryPolicy, open_store
        from ltx.testing.faults import FaultyFileSystem
        base = open_store({url!r})
        offline = FaultyFileSystem(base.fs, rate=1.0)  # every call: connection reset
        store = open_store({url!r}, filesystem=offline, retry=RetryPolicy(attempts=1))
        r = Replica(store, cache=PageCache(cache_dir={str(cache)!r}))
        v = r.view(4)
        for p in range(1, v.page_count + 1):
            sys.stdout.buffer.write(v.page(p))
        assert offline.faults > 0
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, check=False)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert out.stdout == b"".join(seen[p] for p in sorted(seen))


def test_refresh_and_follow(tmp_path):
    url = (tmp_path / "rep").as_uri()
    w, images = _build(url, tmp_path)
    reader = ltx.open(url, follow=0.0)
    view = reader.view()
    assert view.txid == len(images)
    cur = image_pages(images[-1], PS)
    w.append({1: cur[1]}, len(cur))
    view.page(1)  # follow: moves to the new TXID on access
    assert view.txid == len(images) + 1
    pinned = reader.view(3)
    pinned.page(1)
    assert pinned.txid == 3


def test_view_replans_when_compaction_deletes_its_files(tmp_path):
    url = (tmp_path / "rep").as_uri()
    w, images = _build(url, tmp_path)
    reader = ltx.open(url)
    view = reader.view(len(images))
    older = reader.view(len(images) - 1)
    # Compact L0 into L1 and drop L0 (as retention would), under the reader's feet.
    steps = w.compact(
        ltx.compaction.LevelsConfig(
            [dt.timedelta(seconds=1)], l0_retention=dt.timedelta(seconds=1)
        ),
        now=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc),
    )
    assert any(isinstance(s, ltx.compaction.DeleteStep) for s in steps)
    assert view.read(0, view.size) == images[-1]  # same bytes, from the L1 file now
    assert all(f.level != 0 for f in view.page_map.files)
    with pytest.raises(ltx.TxidNotAvailableError):  # its L0 boundary is gone: no wrong page
        older.read(0, older.size)


def test_second_writer_gets_conflict_and_nothing_is_written(tmp_path):
    url = (tmp_path / "rep").as_uri()
    a, images = _build(url, tmp_path)
    b = ltx.open(url)
    b.refresh()
    cur = image_pages(images[-1], PS)
    a.append({1: cur[1]}, len(cur))
    before = len(b.store.list_files())
    with pytest.raises(ltx.ConflictError):
        b.append({1: cur[1]}, len(cur))
    assert len(b.store.list_files()) == before


@pytest.mark.parametrize("replica_target", ["file", "s3", "abs"], indirect=True)
def test_racing_writers_exactly_one_wins_each_txid(replica_target, tmp_path):
    url, opts = replica_target
    _first, images = _build(url, tmp_path, **opts)
    cur = image_pages(images[-1], PS)
    results = {}

    def writer(name):
        won = lost = 0
        for _ in range(8):
            r = ltx.open(url, **opts)
            r.refresh()
            try:
                r.append({2: bytes([len(name)]) * PS}, len(cur))
                won += 1
            except ltx.ConflictError:
                lost += 1
        results[name] = (won, lost)

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "bb", "ccc")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r = ltx.open(url, **opts)
    l0 = [f for f in r.files() if f.level == 0]
    assert [f.max_txid for f in l0] == list(range(1, len(l0) + 1))
    assert sum(w for w, _ in results.values()) == len(l0) - len(images)
    assert [p.txid for p in r.history()] == list(range(1, len(l0) + 1))
    out = tmp_path / "latest.db"
    r.restore(out)
    assert out.stat().st_size == len(images[-1])


def test_retry_policy_bounds_total_wait():
    p = RetryPolicy(attempts=6, base_delay=0.05, max_delay=2.0, rng=lambda: 1.0)
    assert [p.delay(i) for i in range(1, 6)] == [0.05, 0.1, 0.2, 0.4, 0.8]
    assert PageCache(max_bytes=10).size == 0


def test_empty_replica_raises_typed_errors(tmp_path):
    # A path that holds no replica: NotFoundError on first use, as the CLI says.
    r = ltx.open((tmp_path / "empty").as_uri())
    for use in (r.history, lambda: r.view(timestamp="5 minutes ago"), lambda: r.page_at(1)):
        with pytest.raises(ltx.NotFoundError, match=r"looked for ltx/0\.\.ltx/9"):
            use()


def test_the_api_refuses_mistakes(tmp_path):
    with pytest.raises(TypeError, match="did you mean 'cache_dir'"):
        ltx.open((tmp_path / "r").as_uri(), cache_dri=str(tmp_path / "c"))
    with pytest.raises(ltx.UsageError, match="three slashes"):
        ltx.open("file://demo-replica")
    r = ltx.open((tmp_path / "r").as_uri())
    r.append({1: bytes(4096)}, 1, page_size=4096)
    for bad in ("0000000000000001", 1.0, True):
        with pytest.raises(ltx.UsageError, match="must be an int"):
            r.page_at(1, txid=bad)
    with pytest.raises(ltx.UsageError, match=r"int\('0000000000000001', 16\)"):
        r.page_at(1, txid="0000000000000001")
    assert r.page_at(1, txid=1) == bytes(4096)


def test_history_times_cost_no_request_for_files_we_wrote(monkeypatch):
    """history() gives the times targets compare; where the listing lacks them (here
    memory://, like S3) each file costs one request, except the files this object wrote."""
    import time
    import uuid

    url = f"memory://ltx-tests/hist-{uuid.uuid4().hex[:8]}"
    writer = ltx.open(url)
    for step in range(3):
        writer.append({1: bytes([step + 1]) * 512}, 1, page_size=512)
        time.sleep(0.01)  # distinct millisecond header times
    asked: list[str] = []
    backend = type(writer.store.backend)
    real = backend.exact_time
    monkeypatch.setattr(backend, "exact_time", lambda self, p: asked.append(p) or real(self, p))
    ours = writer.history()
    assert asked == []
    fresh = ltx.open(url).history()
    assert len(asked) == 3
    assert fresh == ours
    when = [p.created_at for p in fresh]
    assert [ltx.open(url).view(timestamp=t).txid for t in when[1:]] == [1, 2]


def test_points_made_in_one_millisecond_share_a_time_no_target_splits(tmp_path):
    """Appends in the same millisecond (a fixed clock makes it certain) get one time, so
    no time names the earlier point: a time names the newest point made strictly before
    it, as Litestream's restore -timestamp. The refusal says why instead of a bare miss."""
    url = (tmp_path / "rep").as_uri()
    fixed = dt.datetime(2026, 12, 7, 0, 10, 40, 529000, tzinfo=dt.timezone.utc)
    w = Replica(open_store(url), clock=lambda: fixed)
    for i in range(3):
        w.append({1: bytes([i]) * 4096}, 1)
    r = ltx.open(url)
    points = r.history()
    assert [p.created_at for p in points] == [fixed] * 3
    with pytest.raises(ltx.TxidNotAvailableError, match="strictly before") as err:
        r.page_at(1, timestamp=points[1].created_at.isoformat())
    assert err.value.after == points[0].txid
    later = Replica(open_store(url), clock=lambda: fixed + dt.timedelta(milliseconds=1))
    later.append({1: b"\x09" * 4096}, 1)
    r.refresh()
    assert r.page_at(1, timestamp=r.history()[-1].created_at) == bytes([2]) * 4096
