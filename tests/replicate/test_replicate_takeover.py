"""Takeover both ways with ``litestream replicate``, on file:// and on moto S3: it
continues a replica we wrote once our lease is released, and we continue one it wrote;
TXIDs continue and no file is rewritten."""

from __future__ import annotations

import hashlib
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

import ltx
from ltx.replication import Replicator
from ltx.testing import run_sql_transaction
from tests.conftest import needs_litestream
from tests.litestream_harness import Replicator as Litestream
from tests.litestream_harness import restore, write_config
from tests.replicate.replicate_helpers import app_db, image, same_db, target

pytestmark = [pytest.mark.interop, needs_litestream]
KINDS = ["file", pytest.param("s3", marks=pytest.mark.servers)]


def _files(url: str, opts: dict[str, Any]) -> dict[str, str]:
    r = ltx.open(url, **opts)
    return {f.path: hashlib.sha256(r.store.read(f.path)).hexdigest() for f in r.refresh()}


def _top(url: str, opts: dict[str, Any]) -> int:
    return max(f.max_txid for f in ltx.open(url, **opts).refresh())


def _config(tmp: Path, db: Path, url: str) -> Path:
    """A litestream.yml for ``url``; an S3 endpoint goes in the replica's keys."""
    base, _, query = url.partition("?")
    extra = {}
    if query:
        q = dict(urllib.parse.parse_qsl(query))
        extra = {"endpoint": q["endpoint"], "region": q["region"], "force-path-style": "true"}
    return write_config(
        tmp / "ls.yml", db, base, levels=("1h",), snapshot_interval="24h", replica_options=extra
    )


def _litestream_run(config: Path, env: dict[str, str], app: object, n: int) -> None:
    ls = Litestream(config, env=env)
    try:
        time.sleep(1.5)
        for i in range(n):
            run_sql_transaction(app, [("insert", 100 + i, 700)])
            time.sleep(0.3)
        time.sleep(1.5)
    finally:
        ls.stop()


@pytest.mark.parametrize("kind", KINDS)
def test_litestream_takes_over_ours_and_we_take_over_its(
    kind: str, request: Any, tmp_path: Path
) -> None:
    db = tmp_path / "app.db"
    url, opts, env = target(kind, request, tmp_path)
    app = app_db(db, autocheckpoint=1000)
    with Replicator(db, url, replica_options=opts) as rep:
        for i in range(3):
            run_sql_transaction(app, [("insert", i, 900)])
            rep.sync()
    ours, ours_top = _files(url, opts), _top(url, opts)
    _litestream_run(_config(tmp_path, db, url), env, app, 3)
    after_ls, ls_top = _continued(url, opts, env, app, ours, ours_top, tmp_path / "ls.db")
    run_sql_transaction(app, [("insert", 500, 300)])
    with Replicator(db, url, replica_options=opts) as rep:
        first = rep.position
        rep.sync()
    assert first is not None and first.txid >= ls_top
    _continued(url, opts, env, app, after_ls, ls_top, tmp_path / "ours.db")


def _continued(
    url: str,
    opts: dict[str, Any],
    env: dict[str, str],
    app: Any,
    before: dict[str, str],
    before_top: int,
    out: Path,
) -> tuple[dict[str, str], int]:
    """After a takeover: no file of ``before`` rewritten, TXIDs above ``before_top``, and
    `litestream restore` of the top equal to the app's database; (files, top)."""
    files = _files(url, opts)
    assert all(files.get(p) == h for p, h in before.items() if p in files)
    top = _top(url, opts)
    assert top > before_top
    proc = restore(url, out, txid=top, env=env)
    assert proc.returncode == 0, proc.stderr
    assert same_db(out.read_bytes(), image(app))
    return files, top
