"""One suite, every backend: file, memory, S3 (moto), WebDAV (wsgidav), GCS (emulator)."""

from __future__ import annotations

import datetime as dt
import random
import time

import pytest

import ltx
from conftest import BACKENDS
from helpers import ltx_bytes, page
from ltx.storage import open_store, parse_url
from ltx.testing.faults import FaultyFileSystem

pytestmark = pytest.mark.servers
backends = pytest.mark.parametrize("replica_target", BACKENDS, indirect=True)
TS = 1_790_000_000_123


def _fill(store, spec):
    """Write files {(level, lo, hi): timestamp}; return {(level, lo, hi): bytes}."""
    out = {}
    for (level, lo, hi), ts in spec.items():
        data = ltx_bytes(lo, hi, {1: page(lo % 256), 2: page(hi % 256)}, commit=2, timestamp=ts)
        store.write(level, lo, hi, data, timestamp_ms=ts)
        out[(level, lo, hi)] = data
    return out


SPEC = {
    (0, 3, 3): TS + 3000,
    (0, 1, 1): TS + 1000,
    (0, 2, 2): TS + 2000,
    (0, 16, 16): TS + 16000,
    (1, 1, 3): TS + 3000,
    (9, 1, 3): TS + 3500,
}


@backends
def test_write_list_read(replica_target):
    url, opts = replica_target
    store = open_store(url, **opts)
    data = _fill(store, SPEC)
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
        assert ltx.decode(fp.read()).header.min_txid == everything[0].min_txid
    store.delete(l0[:2])
    assert [f.min_txid for f in store.list_level(0)] == [3, 16]
    store.delete(l0[:2])  # already gone: fine


@backends
def test_if_absent_conflicts(replica_target):
    url, opts = replica_target
    store = open_store(url, **opts)
    data = ltx_bytes(1, 1, {1: page(1)})
    store.write(0, 1, 1, data, timestamp_ms=TS, if_absent=True)
    other = ltx_bytes(1, 1, {1: page(2)})
    if store.scheme == "gs":
        pytest.skip("gcp-storage-emulator ignores ifGenerationMatch=0 (real GCS honours it)")
    with pytest.raises(ltx.ConflictError):
        store.write(0, 1, 1, other, timestamp_ms=TS, if_absent=True)
    assert store.read(store.file_path(0, 1, 1)) == data


@backends
def test_unsorted_listing_changes_nothing(replica_target):
    url, opts = replica_target
    store = open_store(url, **opts)
    _fill(store, SPEC)
    want = store.list_files()

    class Shuffled(FaultyFileSystem):
        def __getattr__(self, name):
            attr = super().__getattr__(name)
            if name != "ls":
                return attr

            def ls(*a, **k):
                out = list(attr(*a, **k))
                random.Random(len(out)).shuffle(out)
                out.reverse()
                return out

            return ls

    shuffled = open_store(url, filesystem=Shuffled(store.fs), **opts)
    assert shuffled.list_files() == want


@backends
def test_hostile_listing_is_ignored(replica_target):
    url, opts = replica_target
    store = open_store(url, **opts)
    _fill(store, {(0, 1, 1): TS})
    fs, base = store.fs, store.level_path(0)
    junk = [
        "zz-yy.ltx",
        "0000000000000001-0000000000000001.LTX",
        "00000000000000ab.ltx",
        "x.ltx.tmp",
    ]
    for name in junk:
        fs.pipe_file(f"{base}/{name}", b"junk")
    root = store.root
    fs.makedirs(f"{root}/abc", exist_ok=True)
    fs.pipe_file(f"{root}/abc/0000000000000005-0000000000000005.ltx", b"junk")
    fs.makedirs(f"{root}/generations/0123456789abcdef/snapshots", exist_ok=True)
    fs.pipe_file(f"{root}/generations/0123456789abcdef/snapshots/00000000.snapshot.lz4", b"x")
    files = store.list_files()
    assert [(f.level, f.min_txid) for f in files] == [(0, 1)]
    for f in files:
        assert f.path.startswith(root.rstrip("/") + "/") or not root


def test_dotdot_names_never_escape_the_root(tmp_path):
    store = open_store((tmp_path / "r").as_uri())
    _fill(store, {(0, 1, 1): TS})

    class Hostile(FaultyFileSystem):
        def __getattr__(self, name):
            attr = super().__getattr__(name)
            if name != "ls":
                return attr

            def ls(path, **k):
                out = list(attr(path, **k))
                for evil in ("../../x.ltx", "../0000000000000002-0000000000000002.ltx"):
                    out.append({"name": f"{path}/{evil}", "size": 4, "type": "file"})
                return out

            return ls

    hostile = open_store((tmp_path / "r").as_uri(), filesystem=Hostile(store.fs))
    files = hostile.list_files()
    assert [(f.level, f.min_txid) for f in files] == [(0, 1)]


@backends
def test_transient_faults_are_retried(replica_target):
    url, opts = replica_target
    store = open_store(url, **opts)
    data = _fill(store, SPEC)
    faulty_fs = FaultyFileSystem(store.fs, rate=0.2, seed=3)
    faulty = open_store(
        url,
        filesystem=faulty_fs,
        retry=ltx.storage.RetryPolicy(attempts=10, base_delay=0.001),
        **opts,
    )
    for _ in range(3):
        files = faulty.list_files()
        assert len(files) == len(SPEC)
        for f in files:
            assert faulty.read(f.path) == data[(f.level, f.min_txid, f.max_txid)]
            assert faulty.read_range(f.path, 5, 40) == data[(f.level, f.min_txid, f.max_txid)][5:40]
    assert faulty_fs.faults > 0


def test_permanent_fault_raises_typed_error_fast(tmp_path):
    store = open_store((tmp_path / "r").as_uri())
    _fill(store, {(0, 1, 1): TS})
    denied = open_store(
        (tmp_path / "r").as_uri(),
        filesystem=FaultyFileSystem(store.fs, deny=frozenset({"cat_file"})),
    )
    t0 = time.monotonic()
    with pytest.raises(ltx.AccessDeniedError) as info:
        denied.read(store.file_path(0, 1, 1))
    assert time.monotonic() - t0 < 1
    assert "r" in str(info.value)
    with pytest.raises(ltx.NotFoundError):
        store.read(store.file_path(0, 7, 7))
    always = FaultyFileSystem(store.fs, rate=1.0)
    sleeps = []
    policy = ltx.storage.RetryPolicy(attempts=4, sleep=sleeps.append, rng=lambda: 1.0)
    with pytest.raises(ltx.TransientStorageError):
        open_store((tmp_path / "r").as_uri(), filesystem=always, retry=policy).read(
            store.file_path(0, 1, 1)
        )
    assert sleeps == [0.05, 0.1, 0.2]


def test_s3_permanent_errors_name_the_url_not_the_secret(s3_endpoint):
    store = open_store(
        f"s3://no-such-bucket-x/p?endpoint={s3_endpoint}&region=us-east-1",
        key="test",
        secret="s3cr3t-value",
    )
    with pytest.raises(ltx.StorageError) as info:
        store.read(store.file_path(0, 1, 1))
    assert isinstance(info.value, ltx.NotFoundError)
    assert "no-such-bucket-x" in str(info.value) and "s3cr3t" not in str(info.value)


def test_url_forms():
    env = {
        "LITESTREAM_ACCESS_KEY_ID": "AK",
        "LITESTREAM_SECRET_ACCESS_KEY": "SK",
        "AWS_ACCESS_KEY_ID": "no",
    }
    t = parse_url("s3://mybkt.s3.eu-west-1.amazonaws.com/db/path", env=env)
    assert (t.protocol, t.root, t.options["client_kwargs"]["region_name"]) == (
        "s3",
        "mybkt/db/path",
        "eu-west-1",
    )
    assert (t.options["key"], t.options["secret"]) == ("AK", "SK")
    assert t.layout.name == "hex"
    t = parse_url("s3://bkt.localhost:9000/p")
    assert t.root == "bkt/p" and t.options["endpoint_url"] == "http://localhost:9000"
    assert t.options["config_kwargs"]["s3"]["addressing_style"] == "path"
    t = parse_url("s3://b/p?endpoint=http://h:1&forcePathStyle=false&skip-verify=true")
    assert "config_kwargs" not in t.options and t.options["client_kwargs"]["verify"] is False
    t = parse_url(
        "s3://b/p",
        env={"LITESTREAM_S3_ENDPOINT": "http://e:2"},
        options={"endpoint_url": "http://win:3"},
    )
    assert t.options["endpoint_url"] == "http://win:3"
    t = parse_url("webdav://u:p@host:8080/a/b")
    assert (
        t.options["base_url"] == "http://host:8080"
        and t.root == "a/b"
        and t.layout.name == "decimal"
    )
    assert "u:p" not in t.url
    assert parse_url("webdavs://host/a").options["base_url"] == "https://host"
    assert parse_url("gs://b/x/y").root == "b/x/y"
    assert parse_url("file:///srv/r/").root == "/srv/r"
    assert parse_url("s3://b/../../etc").root == "b/etc"
    store = open_store("memory://x/y", layout="hex")
    assert store.file_path(1, 2, 3).endswith("/0001/0000000000000002-0000000000000003.ltx")
