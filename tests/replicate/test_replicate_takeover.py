"""Takeover both ways with ``litestream replicate``: TXIDs continue, nothing rewritten."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

import ltx
from ltx.replication import Replicator
from ltx.testing import run_sql_transaction
from tests.conftest import needs_litestream
from tests.litestream_harness import Replicator as Litestream
from tests.litestream_harness import restore, write_config
from tests.replicate.replicate_helpers import app_db, image, same_db

pytestmark = [pytest.mark.interop, needs_litestream]


def _files(url: str) -> dict[str, str]:
    r = ltx.open(url)
    return {f.path: hashlib.sha256(r.store.read(f.path)).hexdigest() for f in r.refresh()}


def _top(url: str) -> int:
    return max(f.max_txid for f in ltx.open(url).refresh())


def _litestream_run(tmp: Path, db: Path, url: str, app: object, n: int) -> None:
    config = write_config(tmp / "ls.yml", db, url, levels=("1h",), snapshot_interval="24h")
    ls = Litestream(config)
    try:
        time.sleep(1.5)
        for i in range(n):
            run_sql_transaction(app, [("insert", 100 + i, 700)])
            time.sleep(0.3)
        time.sleep(1.5)
    finally:
        ls.stop()


def test_litestream_takes_over_ours_and_we_take_over_its(tmp_path: Path) -> None:
    db, url = tmp_path / "app.db", (tmp_path / "replica").as_uri()
    app = app_db(db, autocheckpoint=1000)
    with Replicator(db, url) as rep:
        for i in range(3):
            run_sql_transaction(app, [("insert", i, 900)])
            rep.sync()
    ours = _files(url)
    ours_top = _top(url)
    _litestream_run(tmp_path, db, url, app, 3)
    after_ls = _files(url)
    assert all(after_ls.get(p) == h for p, h in ours.items() if p in after_ls)
    ls_top = _top(url)
    assert ls_top > ours_top
    out = tmp_path / "ls.db"
    assert restore(url, out, txid=ls_top).returncode == 0
    assert same_db(out.read_bytes(), image(app))
    run_sql_transaction(app, [("insert", 500, 300)])
    with Replicator(db, url) as rep:
        first = rep.position
        rep.sync()
    assert first is not None and first.txid >= ls_top
    final = _files(url)
    assert all(final.get(p) == h for p, h in after_ls.items() if p in final)
    top = _top(url)
    assert top > ls_top
    out2 = tmp_path / "ours.db"
    assert restore(url, out2, txid=top).returncode == 0
    assert same_db(out2.read_bytes(), image(app))
