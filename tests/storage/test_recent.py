"""Files a store wrote lately are read back from memory (``ObjectStore.keep_recent``):
a replicator's compactor reads what it just uploaded without a request per file."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from ltx.storage import open_store
from ltx.storage._recent import RecentWrites
from ltx.testing.faults import CountingFileSystem
from ltx.testing.store_tests import small_ltx

TS = 1_790_000_000_123

_ops = st.lists(
    st.tuples(
        st.sampled_from(["put", "get", "take", "drop"]),
        st.sampled_from("abcde"),
        st.binary(max_size=40),
    ),
    max_size=60,
)


@given(_ops, st.integers(0, 120))
def test_recent_writes_never_exceed_the_limit_and_never_lie(ops, limit):
    """Whatever it answers is the last bytes put for that path; it holds at most
    ``limit`` bytes and nothing over a quarter of it."""
    kept = RecentWrites(limit)
    last: dict[str, bytes] = {}
    for op, path, data in ops:
        if op == "put":
            kept.put(path, data)
            last[path] = data
        elif op == "drop":
            kept.drop([path])
            last.pop(path, None)
        else:
            got = kept.get(path) if op == "get" else kept.take(path)
            assert got is None or got == last.get(path)
            if op == "take":
                assert kept.get(path) is None
        assert kept.size == sum(len(v) for v in kept._files.values()) <= limit
        assert all(len(v) <= limit // 4 for v in kept._files.values())


def test_a_remote_store_reads_back_what_it_wrote_without_a_request():
    store = open_store(f"memory://recent-{uuid.uuid4().hex}/db")
    store.fs = counting = CountingFileSystem(store.fs)
    store.backend.fs = counting
    store.keep_recent(1 << 20)
    data = small_ltx(1, 1)
    info = store.write(0, 1, 1, data, timestamp_ms=TS)
    before = counting.calls["cat_file"] + counting.calls["open"]
    assert store.read(info.path) == data
    assert store.read_range(info.path, 5, 20) == data[5:20]
    with store.open_reader(info) as fp:  # a compaction input: read whole, then forgotten
        assert fp.read() == data
    assert counting.calls["cat_file"] + counting.calls["open"] == before
    assert store.recent is not None and store.recent.hits == 3 and len(store.recent) == 0
    with store.open_reader(info) as fp:  # now from the store itself
        assert fp.read() == data
    assert counting.calls["cat_file"] + counting.calls["open"] > before
    store.write(0, 2, 2, small_ltx(2, 2), timestamp_ms=TS)
    store.delete([store.file_path(0, 2, 2)])
    assert len(store.recent) == 0


def test_a_local_store_keeps_nothing(tmp_path):
    store = open_store(f"file://{tmp_path}/db")
    store.keep_recent(1 << 20)
    assert store.recent is None
