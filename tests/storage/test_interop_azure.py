"""abs:// against the real litestream 0.5.17 on Azurite: its replica read by us, ours
restored by it, byte for byte.

Litestream takes an Azure endpoint only from its config file (``endpoint:``), so it runs
with a config naming the database, and the account key comes from
``LITESTREAM_AZURE_ACCOUNT_KEY``, which both sides read.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

import ltx
from ltx.codec import Header
from ltx.compaction import LevelsConfig
from ltx.storage import open_store
from ltx.times import ms_to_datetime
from tests.backends import azure_env
from tests.conftest import needs_litestream
from tests.helpers import append_and_compact, sqlite_history
from tests.litestream_harness import (
    ltx_listing,
    mixed_workload,
    record_replica,
    restore,
    write_config,
)
from tests.servers import AZURITE_ACCOUNT, AZURITE_KEY

pytestmark = [pytest.mark.interop, needs_litestream]
UTC = dt.timezone.utc


def _urls(endpoint: str) -> tuple[str, str, dict[str, str]]:
    """(litestream's URL, ours, litestream's replica options) for a fresh path on Azurite."""
    path = f"ls-{uuid.uuid4().hex[:12]}"
    theirs = f"abs://{AZURITE_ACCOUNT}@ltx-test/{path}"
    return theirs, f"{theirs}?endpoint={endpoint}", {"endpoint": endpoint}


@pytest.mark.slow
def test_litestream_replica_on_azurite_reads_and_restores_the_same(azurite_endpoint, tmp_path):
    theirs_url, our_url, options = _urls(azurite_endpoint)
    key_env = {"LITESTREAM_AZURE_ACCOUNT_KEY": AZURITE_KEY}
    db, _ = record_replica(
        tmp_path / "work",
        replica_url=theirs_url,
        workload=lambda p: mixed_workload(p, page_size=4096, seconds=2.5),
        env=key_env,
        settle=4.5,
        replica_options=options,
    )
    cfg = tmp_path / "work" / "litestream.yml"
    listed = sorted(ltx_listing(str(db), env=key_env, config=cfg))
    store = open_store(our_url, env=key_env)
    ours = store.list_files()
    assert [(f.level, f.min_txid, f.max_txid, f.size) for f in ours] == listed
    assert {f.level for f in ours} >= {0, 1, 9}
    for f in ours:
        whole = store.read(f.path)
        assert len(whole) == f.size
        # The listing's time is Litestream's litestreamtimestamp metadata: the header's.
        assert f.created_at == ms_to_datetime(Header.from_bytes(whole).timestamp), f
    want = tmp_path / "theirs.db"
    proc = restore(str(db), want, env=key_env, config=cfg)
    assert proc.returncode == 0, proc.stderr
    replica = ltx.open(our_url, env=key_env)
    view = replica.restore(tmp_path / "ours.db")
    want_bytes = want.read_bytes()
    assert (tmp_path / "ours.db").read_bytes() == want_bytes
    ps = view.page_size
    for pgno in range(1, view.page_count + 1):
        assert replica.page_at(pgno) == want_bytes[(pgno - 1) * ps : pgno * ps], pgno


def test_replica_we_write_on_azurite_restores_with_litestream(azurite_endpoint, tmp_path):
    ps = 4096
    images = sqlite_history(tmp_path / "src.db", page_size=ps, steps=8)
    theirs_url, our_url, options = _urls(azurite_endpoint)
    r = ltx.open(our_url, env=azure_env())
    t0 = dt.datetime(2026, 11, 24, 9, 0, 1, tzinfo=UTC)
    config = LevelsConfig(
        [dt.timedelta(seconds=10), dt.timedelta(seconds=30)],
        snapshot_interval=dt.timedelta(minutes=1),
        snapshot_retention=dt.timedelta(minutes=2),
        l0_retention=dt.timedelta(seconds=15),
    )
    append_and_compact(r, images, ps, config, t0)
    assert {0, 1, 2, 9} <= {f.level for f in r.files()}
    db = tmp_path / "app.db"  # only named: litestream looks the replica up by it
    cfg = write_config(tmp_path / "litestream.yml", db, theirs_url, replica_options=options)
    env = {"LITESTREAM_AZURE_ACCOUNT_KEY": AZURITE_KEY}
    listed = sorted(ltx_listing(str(db), env=env, config=cfg))
    assert listed == [(f.level, f.min_txid, f.max_txid, f.size) for f in r.files()]
    for point in r.history():
        out = tmp_path / f"ls-{point.txid}.db"
        proc = restore(str(db), out, txid=point.txid, env=env, config=cfg)
        assert proc.returncode == 0, (point.txid, proc.stderr)
        assert out.read_bytes() == images[point.txid - 1], point.txid
