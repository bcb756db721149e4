"""``StoreTests``: a conformance suite for ltx stores, for pytest.

Subclass it in your test module and provide a ``store`` fixture that returns an empty
``ltx.storage.Store`` on your backend; every test below then runs against it::

    class TestMyBackend(StoreTests):
        @pytest.fixture
        def store(self, tmp_path):
            return open_store("mybackend://bucket/prefix")
"""

from __future__ import annotations

import datetime as dt
import io
import random
from typing import Any

import pytest

from ltx.codec import HEADER_FLAG_NO_CHECKSUM, Encoder, Header, decode
from ltx.errors import ConflictError
from ltx.storage import RetryPolicy, Store
from ltx.testing.faults import FaultyFileSystem

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
    buf = io.BytesIO()
    h = Header(
        flags=HEADER_FLAG_NO_CHECKSUM,
        page_size=512,
        commit=2,
        min_txid=min_txid,
        max_txid=max_txid,
        timestamp=timestamp,
    )
    enc = Encoder(buf, h)
    enc.write_page(1, bytes([fill % 256]) * 512)
    enc.write_page(2, bytes([(fill + 1) % 256]) * 512)
    enc.close()
    return buf.getvalue()


def _fill(store: Store) -> dict[tuple[int, int, int], bytes]:
    out = {}
    for (level, lo, hi), ts in SPEC.items():
        data = small_ltx(lo, hi, timestamp=ts, fill=lo + hi)
        store.write(level, lo, hi, data, timestamp_ms=ts)
        out[(level, lo, hi)] = data
    return out


def _reopen(store: Store, fs: Any, **kw: Any) -> Store:
    """The same replica root through another filesystem object (a wrapper)."""
    return Store(fs, store.root, layout=store.layout, scheme=store.scheme, url=store.url, **kw)


class StoreTests:
    """Conformance tests every store must pass; subclass and provide a ``store`` fixture."""

    @pytest.fixture
    def store(self) -> Store:
        raise NotImplementedError("provide a `store` fixture returning an empty Store")

    def test_write_list_read(self, store: Store) -> None:
        data = _fill(store)
        assert store.levels() == [0, 1, 9]
        l0 = store.list_level(0)
        assert [(f.min_txid, f.max_txid) for f in l0] == [(1, 1), (2, 2), (3, 3), (16, 16)]
        assert [f.size for f in l0] == [len(data[(0, f.min_txid, f.max_txid)]) for f in l0]
        everything = store.list_files(exact_times=True)
        assert [(f.level, f.min_txid, f.max_txid) for f in everything] == sorted(SPEC)
        for f in everything:
            want = SPEC[(f.level, f.min_txid, f.max_txid)]
            assert f.created_at == dt.datetime.fromtimestamp(want / 1000, dt.timezone.utc)
            whole = store.read(f.path)
            assert whole == data[(f.level, f.min_txid, f.max_txid)]
            assert store.read_range(f.path, 10, 50) == whole[10:50]
            assert store.read_range(f.path, len(whole) - 24, len(whole)) == whole[-24:]
        reqs = [(f.path, 0, 100) for f in everything]
        assert store.read_ranges(reqs) == [store.read(f.path)[:100] for f in everything]
        with store.open_reader(everything[0]) as fp:
            assert decode(fp.read()).header.min_txid == everything[0].min_txid
        store.delete(l0[:2])
        assert [f.min_txid for f in store.list_level(0)] == [3, 16]
        store.delete(l0[:2])  # already gone: not an error

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
