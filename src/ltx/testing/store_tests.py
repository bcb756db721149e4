"""``StoreTests``: a conformance suite for ltx stores, for pytest.

Subclass it in your test module and provide a ``store`` fixture that returns an empty
``ltx.storage.Store`` on your backend; every test below then runs against it::

    class TestMyBackend(StoreTests):
        @pytest.fixture
        def store(self, tmp_path):
            return open_store("mybackend://bucket/prefix")
"""

from __future__ import annotations

import contextlib
import datetime as dt
import posixpath
import random
from typing import Any

from ltx.codec import HEADER_FLAG_NO_CHECKSUM, Header, decode, encode_pages
from ltx.errors import ConflictError
from ltx.storage import RetryPolicy, Store
from ltx.testing import EXTRA_HINT
from ltx.testing.faults import FaultyFileSystem

try:
    import pytest
except ImportError:  # pragma: no cover - without the testing extra
    raise ImportError(EXTRA_HINT.format("pytest")) from None

__all__ = ["StoreTests", "small_ltx"]

TS = 1_790_000_000_123
SPEC = {
    (0, 3, 3): TS + 3000,
    (0, 1, 1): TS + 1000,
    (0, 2, 2): TS + 2000,
    (0, 16, 16): TS + 16000,
    (1, 1, 3): TS + 3000,
    (9, 1, 3): TS + 3500,
}


def small_ltx(min_txid: int, max_txid: int, *, timestamp: int = TS, fill: int = 1) -> bytes:
    """A two-page, 512-byte-page LTX file (NoChecksum, as Litestream writes them)."""
    h = Header(
        flags=HEADER_FLAG_NO_CHECKSUM,
        page_size=512,
        commit=2,
        min_txid=min_txid,
        max_txid=max_txid,
        timestamp=timestamp,
    )
    return encode_pages(h, {1: bytes([fill % 256]) * 512, 2: bytes([(fill + 1) % 256]) * 512})


def _fill(store: Store) -> dict[tuple[int, int, int], bytes]:
    """Write SPEC through the store (with its timestamps)."""
    out = {}
    for (level, lo, hi), ts in SPEC.items():
        data = small_ltx(lo, hi, timestamp=ts, fill=lo + hi)
        store.write(level, lo, hi, data, timestamp_ms=ts)
        out[(level, lo, hi)] = data
    return out


def _raw_put(store: Store, path: str, data: bytes) -> None:
    """Put bytes straight on the filesystem, bypassing the store under test."""
    with contextlib.suppress(Exception):  # object stores have no folders to make
        store.fs.makedirs(posixpath.dirname(path), exist_ok=True)
    store.fs.pipe_file(path, data)


def _raw_fill(store: Store) -> dict[tuple[int, int, int], bytes]:
    """SPEC's files put straight on the filesystem at the layout's paths."""
    out = {}
    for level, lo, hi in SPEC:
        data = small_ltx(lo, hi, fill=lo + hi)
        _raw_put(store, store.file_path(level, lo, hi), data)
        out[(level, lo, hi)] = data
    return out


def _reopen(store: Store, fs: Any, **kw: Any) -> Store:
    """The same replica root through another filesystem object (a wrapper)."""
    return Store(fs, store.root, spec=store.spec, layout=store.layout, url=store.url, **kw)


class StoreTests:
    """Conformance tests every store must pass; subclass and provide a ``store`` fixture.

    One behaviour per test; where it can, a test sets up or checks its expectation on
    the raw filesystem (``store.fs``), not through the store under test.
    """

    @pytest.fixture
    def store(self) -> Store:
        raise NotImplementedError("provide a `store` fixture returning an empty Store")

    def test_write_lands_at_layout_path(self, store: Store) -> None:
        data = small_ltx(1, 1)
        info = store.write(0, 1, 1, data, timestamp_ms=TS)
        assert info.path == store.file_path(0, 1, 1)
        assert info.size == len(data)
        assert bytes(store.fs.cat_file(info.path)) == data

    def test_levels_from_folders(self, store: Store) -> None:
        _raw_fill(store)
        assert store.levels() == [0, 1, 9]

    def test_list_level_sorted_with_sizes(self, store: Store) -> None:
        data = _raw_fill(store)
        l0 = store.list_level(0)
        assert [(f.min_txid, f.max_txid) for f in l0] == [(1, 1), (2, 2), (3, 3), (16, 16)]
        assert [f.size for f in l0] == [len(data[(0, f.min_txid, f.max_txid)]) for f in l0]

    def test_list_files_by_level_then_txid(self, store: Store) -> None:
        _raw_fill(store)
        got = [(f.level, f.min_txid, f.max_txid) for f in store.list_files()]
        assert got == sorted(SPEC)

    def test_exact_times_are_write_timestamps(self, store: Store) -> None:
        _fill(store)
        for f in store.list_files(exact_times=True):
            want = SPEC[(f.level, f.min_txid, f.max_txid)]
            assert f.created_at == dt.datetime.fromtimestamp(want / 1000, dt.timezone.utc)

    def test_read_whole_file(self, store: Store) -> None:
        data = _raw_fill(store)
        for f in store.list_files():
            assert store.read(f.path) == data[(f.level, f.min_txid, f.max_txid)]

    def test_read_range_middle_and_tail(self, store: Store) -> None:
        data = _raw_fill(store)
        for f in store.list_files():
            whole = data[(f.level, f.min_txid, f.max_txid)]
            assert store.read_range(f.path, 10, 50) == whole[10:50]
            assert store.read_range(f.path, len(whole) - 24, len(whole)) == whole[-24:]
            assert store.read_range(f.path, 7, 7) == b""

    def test_read_ranges_keep_order(self, store: Store) -> None:
        data = _raw_fill(store)
        files = store.list_files()
        got = store.read_ranges([(f.path, 0, 100) for f in files])
        assert got == [data[(f.level, f.min_txid, f.max_txid)][:100] for f in files]

    def test_open_reader_streams_the_file(self, store: Store) -> None:
        data = _raw_fill(store)
        first = store.list_files()[0]
        with store.open_reader(first, chunk=64) as fp:
            raw = fp.read()
        assert raw == data[(first.level, first.min_txid, first.max_txid)]
        assert decode(raw).header.min_txid == first.min_txid

    def test_delete_removes_files(self, store: Store) -> None:
        _raw_fill(store)
        l0 = store.list_level(0)
        store.delete(l0[:2])
        assert not store.fs.exists(l0[0].path)
        assert [f.min_txid for f in store.list_level(0)] == [3, 16]

    def test_listings_see_new_levels_and_files(self, store: Store) -> None:
        """A listing after a write shows it (no filesystem listing cache goes stale)."""
        store.write(0, 1, 1, small_ltx(1, 1), timestamp_ms=TS)
        assert [(f.level, f.min_txid) for f in store.list_files()] == [(0, 1)]
        store.write(0, 2, 2, small_ltx(2, 2), timestamp_ms=TS)
        store.write(1, 1, 2, small_ltx(1, 2), timestamp_ms=TS)
        assert [(f.level, f.min_txid) for f in store.list_files()] == [(0, 1), (0, 2), (1, 1)]

    def test_delete_missing_is_not_an_error(self, store: Store) -> None:
        store.delete([store.file_path(0, 7, 7)])
        store.write(0, 8, 8, small_ltx(8, 8), timestamp_ms=TS)
        store.delete([store.file_path(0, 7, 7), store.file_path(0, 8, 8)])  # one batch
        assert store.list_level(0) == []

    def test_if_absent_conflicts(self, store: Store) -> None:
        data = small_ltx(1, 1)
        store.write(0, 1, 1, data, timestamp_ms=TS, if_absent=True)
        if not self.conditional_create_enforced(store):
            pytest.skip("this backend's test server does not enforce create-if-absent")
        with pytest.raises(ConflictError):
            store.write(0, 1, 1, small_ltx(1, 1, fill=9), timestamp_ms=TS, if_absent=True)
        assert store.read(store.file_path(0, 1, 1)) == data

    def conditional_create_enforced(self, store: Store) -> bool:
        """Override to return False where a test server ignores conditional writes."""
        return store.conditional_create

    def test_unsorted_listing_changes_nothing(self, store: Store) -> None:
        _fill(store)
        want = store.list_files()

        class Shuffled(FaultyFileSystem):
            def __getattr__(self, name: str) -> Any:
                attr = super().__getattr__(name)
                if name != "ls":
                    return attr

                def ls(*a: Any, **k: Any) -> list[Any]:
                    out = list(attr(*a, **k))
                    random.Random(len(out)).shuffle(out)
                    out.reverse()
                    return out

                return ls

        assert _reopen(store, Shuffled(store.fs)).list_files() == want

    def test_hostile_listing_is_ignored(self, store: Store) -> None:
        small = small_ltx(1, 1)
        store.write(0, 1, 1, small, timestamp_ms=TS)
        fs, base, root = store.fs, store.level_path(0), store.root
        for name in ["zz-yy.ltx", "0000000000000001-0000000000000001.LTX", "00ab.ltx", "x.ltx.tmp"]:
            fs.pipe_file(f"{base}/{name}", b"junk")
        fs.makedirs(f"{root}/abc", exist_ok=True)
        fs.pipe_file(f"{root}/abc/0000000000000005-0000000000000005.ltx", b"junk")
        fs.makedirs(f"{root}/generations/0123456789abcdef/snapshots", exist_ok=True)
        fs.pipe_file(f"{root}/generations/0123456789abcdef/snapshots/00000000.snapshot.lz4", b"x")
        files = store.list_files()
        assert [(f.level, f.min_txid) for f in files] == [(0, 1)]
        assert all(f.path.startswith(root.rstrip("/") + "/") for f in files if root)

    def test_transient_faults_are_retried(self, store: Store) -> None:
        data = _fill(store)
        faulty_fs = FaultyFileSystem(store.fs, rate=0.2, seed=3)
        faulty = _reopen(store, faulty_fs, retry=RetryPolicy(attempts=10, base_delay=0.001))
        for _ in range(3):
            files = faulty.list_files()
            assert len(files) == len(SPEC)
            for f in files:
                want = data[(f.level, f.min_txid, f.max_txid)]
                assert faulty.read(f.path) == want
                assert faulty.read_range(f.path, 5, 40) == want[5:40]
        assert faulty_fs.faults > 0
