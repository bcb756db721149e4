"""One suite, every backend: file, memory, S3 (moto), WebDAV (wsgidav), GCS (emulator)."""

from __future__ import annotations

import threading
import time

import pytest

import ltx
from ltx.storage import Workers, open_store, parse_url
from ltx.testing.faults import FaultyFileSystem
from ltx.testing.store_tests import StoreTests, small_ltx
from tests.backends import BACKENDS, target_for

TS = 1_790_000_000_123


class TestStoreConformance(StoreTests):
    """ltx.testing.StoreTests on every backend we ship."""

    @pytest.fixture(params=BACKENDS)
    def store(self, request, tmp_path):
        url, opts = target_for(request.param, request, tmp_path)
        return open_store(url, **opts)

    def conditional_create_enforced(self, store):
        # gcp-storage-emulator ignores ifGenerationMatch=0 (real GCS honours it).
        return store.scheme != "gs" and store.conditional_create


def test_dotdot_names_never_escape_the_root(tmp_path):
    store = open_store((tmp_path / "r").as_uri())
    store.write(0, 1, 1, small_ltx(1, 1), timestamp_ms=TS)

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


def test_permanent_fault_raises_typed_error_fast(tmp_path):
    store = open_store((tmp_path / "r").as_uri())
    store.write(0, 1, 1, small_ltx(1, 1), timestamp_ms=TS)
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
    assert "s3" not in t.options["config_kwargs"] and t.options["client_kwargs"]["verify"] is False
    # botocore makes one attempt per call: ltx retries in one layer.
    assert t.options["config_kwargs"]["retries"] == {"total_max_attempts": 1}
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


def test_retried_conditional_write_that_landed_is_not_a_conflict():
    """The first PUT lands but its reply is lost; the retry must not report a conflict."""
    base = open_store("memory://lost-reply/db")

    class LostReply(FaultyFileSystem):
        lost = 0

        def _after(self, name, args):
            if name == "pipe_file" and not self.lost:
                self.lost += 1
                raise ConnectionResetError("reply lost after the write landed")

    fs = LostReply(base.fs)
    store = open_store(
        "memory://lost-reply/db", filesystem=fs, retry=ltx.storage.RetryPolicy(base_delay=0.001)
    )
    data = small_ltx(1, 1)
    store.write(0, 1, 1, data, timestamp_ms=TS, if_absent=True)
    assert fs.lost == 1 and store.read(store.file_path(0, 1, 1)) == data
    with pytest.raises(ltx.ConflictError):  # someone else's bytes are still a conflict
        store.write(0, 1, 1, small_ltx(1, 1, fill=7), timestamp_ms=TS, if_absent=True)


def _within(seconds: float, fn):
    """Run ``fn`` in a thread; fail (instead of hanging the suite) if it never returns."""
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "deadlock: nested work in the store's pool never finished"
    return out[0]


def test_one_pool_runs_nested_maps_and_read_ahead_without_deadlock(tmp_path):
    store = open_store("memory://pool/nested", max_concurrency=2)
    data = {i: small_ltx(i, i, fill=i) for i in range(1, 7)}
    for i, raw in data.items():
        store.write(0, i, i, raw, timestamp_ms=TS)
    files = store.list_level(0)
    seen = set()

    def read_all(info):  # a map task that reads with read-ahead on the same pool
        seen.add(threading.current_thread().name)
        with store.open_reader(info, chunk=64, ahead=3) as fp:
            return fp.read()

    def nested(_):  # a map inside a map, three deep, on a pool of two threads
        return store.map(lambda i: store.map(read_all, files)[i], range(len(files)))

    got = _within(60, lambda: store.map(nested, range(4)))
    want = [data[f.min_txid] for f in files]
    assert got == [want] * 4
    assert all(name.startswith("ltx-store") for name in seen)
    assert store.workers.size == 2 and store.workers._pool._max_workers == 2


def test_a_failed_map_drops_what_has_not_started():
    workers = Workers(2)
    started: list[int] = []

    def work(i):
        started.append(i)
        if i == 0:
            raise ValueError("first fails")
        return i

    with pytest.raises(ValueError, match="first fails"):
        workers.map(work, range(200), limit=2)
    workers.close()
    assert len(started) < 200


def test_diff_reads_on_the_store_pool(tmp_path):
    from ltx.changes import diff
    from tests.helpers import image_pages, sqlite_history

    replica = ltx.open("memory://pool/diff", max_concurrency=3)
    images = sqlite_history(tmp_path / "db.sqlite", page_size=4096, steps=3)
    prev: dict[int, bytes] = {}
    for image in images:
        cur = image_pages(image, 4096)
        replica.append({p: d for p, d in cur.items() if prev.get(p) != d}, len(cur))
        prev = cur
    before = {t.name for t in threading.enumerate()}
    d = diff(replica, 1, replica.history()[-1].txid, workers=8)
    assert d.pages
    extra = {t.name for t in threading.enumerate()} - before
    assert all(name.startswith("ltx-store") for name in extra), extra
    assert replica.store.workers._pool is None or replica.store.workers._pool._max_workers == 3


@pytest.mark.servers
def test_s3_small_writes_take_one_round_trip(request, tmp_path):
    """botocore would ask every PUT to wait for ``100 Continue`` (a round trip more per
    level-0 file); bodies up to 2 MiB go without it, as the Go SDK (Litestream) sends."""
    from ltx.testing.store_tests import small_ltx

    url, opts = target_for("s3", request, tmp_path)
    store = open_store(url, **opts)
    sent: list[object] = []

    def record(request, **_):
        sent.append(request.headers.get("Expect"))

    store.fs.s3.meta.events.register("before-send.s3.PutObject", record)
    store.write(0, 1, 1, small_ltx(1, 1), timestamp_ms=TS, if_absent=True)
    big = small_ltx(2, 2) + bytes(3 << 20)  # only its size matters here
    store.backend.write(store.file_path(0, 2, 2), big, TS, False)
    assert [e.decode() if isinstance(e, bytes) else e for e in sent] == [None, "100-continue"]
