"""Replica reads and writes against the real litestream 0.5.17 (restore, ltx, VFS)."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

import ltx
from ltx.compaction import CompactStep, LevelsConfig, plan_compaction
from ltx.times import format_timestamp
from tests.helpers import append_and_compact, image_pages, sqlite_history
from tests.litestream_harness import Replicator, mixed_workload, restore, vfs_query, write_config

pytestmark = pytest.mark.interop
UTC = dt.timezone.utc


def _check_every_txid(url: str, tmp_path: Path) -> tuple[int, int]:
    """Every TXID: litestream restores it iff we do, with the same bytes and pages."""
    r = ltx.open(url)
    top = max(f.max_txid for f in r.files())
    ok = missing = 0
    for txid in range(1, top + 1):
        theirs = tmp_path / f"theirs-{txid}.db"
        proc = restore(url, theirs, txid=txid)
        if proc.returncode != 0:
            assert "no matching backup files" in proc.stderr or "not available" in proc.stderr, (
                proc.stderr
            )
            with pytest.raises(ltx.TxidNotAvailableError):
                r.view(txid)
            missing += 1
            continue
        ours = tmp_path / f"ours-{txid}.db"
        view = r.restore(ours, txid)
        want = theirs.read_bytes()
        assert ours.read_bytes() == want, txid
        ps = view.page_size
        for pgno in range(1, view.page_count + 1):
            assert r.page_at(pgno, txid) == want[(pgno - 1) * ps : pgno * ps], (txid, pgno)
        ok += 1
    return ok, missing


@pytest.mark.slow
@pytest.mark.parametrize("page_size", [1024, 4096, 65536])
def test_every_txid_matches_litestream_restore(recorded_replicas, tmp_path, page_size):
    _, url = recorded_replicas(page_size)
    levels = {f.level for f in ltx.open(url).files()}
    assert {0, 1, 2, 9} <= levels
    ok, missing = _check_every_txid(url, tmp_path)
    assert ok > 10 and missing == 0


@pytest.mark.slow
def test_every_txid_matches_litestream_when_files_restore_in_parts(
    recorded_replicas, tmp_path, monkeypatch
):
    """Every file above 1 KiB decoded in parts of ~2 KiB on every core: still Litestream's bytes."""
    import ltx.restore

    monkeypatch.setattr(ltx.restore, "_PART", 2048)
    monkeypatch.setattr(ltx.restore, "SPLIT_ABOVE", 1024)
    real, failed = ltx.restore.decode_split, []

    def recording(*args, **kw):
        failed.append(real(*args, **kw))
        return failed[-1]

    monkeypatch.setattr(ltx.restore, "decode_split", recording)
    _, url = recorded_replicas(4096)
    ok, missing = _check_every_txid(url, tmp_path)
    assert ok > 10 and missing == 0
    assert failed and not any(failed)  # split files decoded in parts, none handed back


def test_without_level0_only_boundaries_survive(recorded_replicas, tmp_path):
    _, url = recorded_replicas(4096)
    src = Path(url[len("file://") :])
    copy = tmp_path / "copy"
    shutil.copytree(src, copy)
    shutil.rmtree(copy / "ltx" / "0")
    ok, missing = _check_every_txid(copy.as_uri(), tmp_path)
    assert ok > 0 and missing > 0
    points = {p.txid for p in ltx.open(copy.as_uri()).history()}
    assert len(points) == ok


def test_timestamps_agree_with_litestream(recorded_replicas, tmp_path):
    _, url = recorded_replicas(4096)
    r = ltx.open(url)
    l0 = [f for f in r.files() if f.level == 0]
    picks = l0[1 :: max(1, len(l0) // 6)]
    for f in picks:
        for delta in (dt.timedelta(milliseconds=-1), dt.timedelta(milliseconds=1)):
            when = f.created_at + delta
            ms = int(when.timestamp() * 1000)
            text = format_timestamp(ms)
            theirs = tmp_path / f"t-{ms}.db"
            proc = restore(url, theirs, timestamp=text)
            ours = tmp_path / f"o-{ms}.db"
            if proc.returncode != 0:
                with pytest.raises(ltx.TxidNotAvailableError):
                    r.restore(ours, timestamp=text)
                continue
            r.restore(ours, timestamp=text)
            assert ours.read_bytes() == theirs.read_bytes(), text


@pytest.mark.slow
def test_reader_survives_litestream_compaction(tmp_path):
    work = tmp_path / "live"
    work.mkdir()
    db = work / "app.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE seed (x)")
    con.close()
    url = (work / "replica").as_uri()
    cfg = write_config(
        work / "litestream.yml",
        db,
        url,
        levels=("1s", "2s"),
        snapshot_interval="4s",
        l0_retention="1s",
    )
    rep = Replicator(cfg)
    try:
        writer = threading.Thread(
            target=mixed_workload, args=(db,), kwargs={"page_size": 4096, "seconds": 9}
        )
        writer.start()
        time.sleep(3)
        reader = ltx.open(url)
        view = reader.view()
        txid = view.txid
        want = tmp_path / "want.db"
        assert restore(url, want, txid=txid).returncode == 0
        want_bytes = want.read_bytes()
        reads = errors = 0
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            for pgno in range(1, view.page_count + 1):
                try:
                    page = view.page(pgno)
                except ltx.TxidNotAvailableError:
                    errors += 1
                    break
                assert page == want_bytes[(pgno - 1) * 4096 : pgno * 4096], (txid, pgno)
                reads += 1
            reader.cache._lru.clear()  # force ranged reads against the changing replica
            time.sleep(0.2)
        writer.join()
        assert reads > 0
    finally:
        rep.stop()


def test_replica_built_by_us_restores_with_litestream_and_vfs(tmp_path):
    ps = 4096
    images = sqlite_history(tmp_path / "src.db", page_size=ps, steps=12)
    url = (tmp_path / "ours").as_uri()
    r = ltx.open(url)
    t0 = dt.datetime(2026, 11, 24, 9, 0, 1, tzinfo=UTC)
    config = LevelsConfig(
        [dt.timedelta(seconds=10), dt.timedelta(seconds=30), dt.timedelta(minutes=1)],
        snapshot_interval=dt.timedelta(minutes=1),
        snapshot_retention=dt.timedelta(minutes=2),
        l0_retention=dt.timedelta(seconds=15),
    )
    assert {0, 1, 2, 3, 9} <= append_and_compact(r, images, ps, config, t0)
    history = r.history()
    assert history[-1].txid == len(images)
    for point in history:
        out = tmp_path / f"ls-{point.txid}.db"
        proc = restore(url, out, txid=point.txid)
        assert proc.returncode == 0, (point.txid, proc.stderr)
        assert out.read_bytes() == images[point.txid - 1], point.txid
    rows = (
        sqlite3.connect(tmp_path / "src.db")
        .execute("SELECT count(*), sum(length(v)) FROM t")
        .fetchone()
    )
    assert vfs_query(url, "SELECT count(*), sum(length(v)) FROM t") == [rows]


def test_planner_proposes_the_merges_litestream_made(recorded_replicas):
    _, url = recorded_replicas(4096)
    files = ltx.open(url).files()
    config = LevelsConfig([dt.timedelta(seconds=1), dt.timedelta(seconds=3)])
    checked = 0
    for level in (1, 2):
        made = [f for f in files if f.level == level]
        for k, target in enumerate(made):
            # The replica as it stood when Litestream wrote ``target``: every file of the
            # level below up to its newest input, and the level's earlier files.
            visible = [f for f in files if f.level == level - 1 and f.max_txid <= target.max_txid]
            visible += made[:k]
            now = target.created_at + config.intervals[level - 1]
            steps = [
                s
                for s in plan_compaction(config, visible, now)
                if isinstance(s, CompactStep) and s.level == level
            ]
            assert [(s.min_txid, s.max_txid) for s in steps] == [
                (target.min_txid, target.max_txid)
            ], target
            checked += 1
    assert checked > 3


def test_write_snapshot_seeds_an_empty_replica_litestream_restores(tmp_path):
    """Seeding: a SQLite file written to an empty replica starts it at TXID 1, and the
    real litestream restores the same bytes; appends then follow from TXID 2."""
    db = tmp_path / "seed.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA page_size=4096")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    con.executemany("INSERT INTO t (v) VALUES (?)", [(f"row {i}",) for i in range(500)])
    con.commit()
    con.close()
    url = (tmp_path / "rep").as_uri()
    replica = ltx.open(url)
    assert replica.write_snapshot(db).max_txid == 1
    theirs = tmp_path / "theirs.db"
    proc = restore(url, theirs)
    assert proc.returncode == 0, proc.stderr
    assert theirs.read_bytes() == db.read_bytes()
    pages = image_pages(db.read_bytes(), 4096)
    assert replica.append({1: pages[1]}, len(pages)).max_txid == 2
