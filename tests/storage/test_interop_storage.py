"""The store against replicas the real litestream writes to file://, moto S3, WebDAV, the GCS
emulator and an SFTP server."""

from __future__ import annotations

import datetime as dt

import pytest

import ltx
from ltx.codec import Header
from ltx.storage import open_store
from ltx.times import format_timestamp, ms_to_datetime
from tests.backends import S3_ENV
from tests.helpers import image_pages, ltx_bytes, sqlite_history
from tests.litestream_harness import ltx_listing, mixed_workload, record_replica, restore

pytestmark = pytest.mark.interop


def _short_workload(db):
    mixed_workload(db, page_size=4096, seconds=2.5)


@pytest.fixture(params=["file", "s3", "webdav", "gcs", "sftp"])
def litestream_backend(request, tmp_path, recorded_replicas):
    """(replica URL for litestream, our open_store kwargs, env for litestream)."""
    kind = request.param
    if kind == "file":
        return (tmp_path / "replica").as_uri(), {}, {}
    if kind == "s3":
        ep = request.getfixturevalue("s3_endpoint")
        url = (
            f"s3://ltx-test/some/prefix/{request.node.name[-12:-1]}?endpoint={ep}&region=us-east-1"
        )
        return url, {"env": S3_ENV}, S3_ENV
    if kind == "gcs":
        # litestream's Google client honours STORAGE_EMULATOR_HOST.
        ep = request.getfixturevalue("gcs_endpoint")
        opts = {"endpoint_url": ep, "token": "anon", "project": "test"}
        return (
            f"gs://ltx-test/ls-{tmp_path.name}",
            opts,
            {"STORAGE_EMULATOR_HOST": ep[len("http://") :]},
        )
    if kind == "sftp":
        ep = request.getfixturevalue("sftp_endpoint")
        return f"{ep}/ls-{tmp_path.name}", {}, {}
    ep = request.getfixturevalue("webdav_endpoint")
    return f"webdav://{ep[len('http://') :]}/ls-{tmp_path.name}", {}, {}


@pytest.mark.slow
def test_store_lists_exactly_what_litestream_wrote(litestream_backend, tmp_path):
    url, store_kwargs, env = litestream_backend
    record_replica(
        tmp_path / "work", replica_url=url, workload=_short_workload, env=env, settle=4.5
    )
    theirs = sorted(ltx_listing(url, env=env))
    store = open_store(url, **store_kwargs)
    ours = store.list_files(exact_times=True)
    assert [(f.level, f.min_txid, f.max_txid, f.size) for f in ours] == theirs
    assert {f.level for f in ours} >= {0, 1, 9}
    if store.scheme == "s3":
        assert all("/some/prefix/" in f.path and "/ltx/" not in f.path for f in ours)
    for f in ours:
        whole = store.read(f.path)
        assert len(whole) == f.size
        assert store.read_range(f.path, 0, 100) == whole[:100]
        start = max(0, f.size - 1000)
        assert store.read_range(f.path, start, f.size) == whole[start:]
        header = Header.from_bytes(whole)
        if store.scheme == "webdav":
            # WebDAV keeps no header time: our exact source is the header itself.
            assert f.created_at == ms_to_datetime(header.timestamp)
        else:
            assert f.created_at == ms_to_datetime(header.timestamp), f


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["file", "s3"])
def test_files_we_write_restore_by_timestamp(kind, tmp_path, request):
    """Files written a second apart, stamped with the time of writing (as Litestream does):
    ``litestream restore -timestamp`` picks the point we expect, on file:// and on S3
    (where its time bounds come from upload times and its plan from our metadata)."""
    import time

    ps = 4096
    images = sqlite_history(tmp_path / "src.db", page_size=ps, steps=3)
    if kind == "file":
        url, kwargs, env = (tmp_path / "replica").as_uri(), {}, {}
    else:
        ep = request.getfixturevalue("s3_endpoint")
        url = f"s3://ltx-test/ts-{tmp_path.name}/db?endpoint={ep}&region=us-east-1"
        kwargs, env = {"env": S3_ENV}, S3_ENV
    store = open_store(url, **kwargs)
    stamps = []
    prev: dict[int, bytes] = {}
    for txid, image in enumerate(images, start=1):
        time.sleep(1.1)
        cur = image_pages(image, ps)
        changed = cur if txid == 1 else {p: d for p, d in cur.items() if prev.get(p) != d}
        ts = int(time.time() * 1000)
        data = ltx_bytes(txid, txid, changed, commit=len(cur), page_size=ps, timestamp=ts)
        store.write(0, txid, txid, data, timestamp_ms=ts)
        stamps.append(ts)
        prev = cur
    ours = ltx.open(url, **kwargs)
    agreed = 0
    for txid in range(1, len(images)):
        # Just before file txid+1 was written: txid, if inside Litestream's time bounds
        # (on S3 those are upload times in whole seconds). We must agree either way.
        target = format_timestamp(stamps[txid] - 1)
        out = tmp_path / f"ts{txid}.db"
        proc = restore(url, out, timestamp=target, env=env)
        if proc.returncode != 0:
            # Litestream bounds by the newest listed (whole-second) time; ltx lets the
            # newest file's last second name points by the rule (docs/concepts.md).
            assert "timestamp does not exist" in proc.stderr
            assert ours.plan(timestamp=target).txid == txid
            continue
        assert out.read_bytes() == images[txid - 1], (txid, target)
        assert ours.plan(timestamp=target).txid == txid
        agreed += 1
    assert agreed >= 1
    late = format_timestamp(stamps[-1] + 5000)
    assert restore(url, tmp_path / "late.db", timestamp=late, env=env).returncode != 0
    with pytest.raises(ltx.TxidNotAvailableError):
        ours.plan(timestamp=late)
    assert dt.datetime.now(dt.timezone.utc) > ms_to_datetime(stamps[0])
