"""Time targets on the command line: one rule for every command (docs/concepts.md)."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import time

import pytest

import ltx
from ltx.legacy._names import format_time_ns
from tests.backends import S3_ENV, target_for
from tests.cli.test_cli import PS, _wal_history, run
from tests.helpers import image_pages
from tests.legacy_harness import legacy_restore, load_fixture
from tests.litestream_harness import restore


def test_now_and_times_to_come_mean_the_latest_point_everywhere(tmp_path):
    url, counts = _wal_history(tmp_path)
    for when in ("now", "2100-01-01T00:00:00Z"):
        rec = run("restore", url, "-o", str(tmp_path / "r.db"), "--timestamp", when, "--json")
        assert rec.returncode == 0, rec.stderr
        assert json.loads(rec.stdout)["txid"] == "0000000000000004"
        (tmp_path / "r.db").unlink()
        page = run("page", url, "1", "--timestamp", when)
        assert page.returncode == 0, page.stderr
        sql = run("sql", url, "select count(*) from t", "--timestamp", when, "--format", "csv")
        assert sql.stdout.splitlines()[1] == str(counts[-1])


def test_a_time_without_a_zone_is_refused_unless_local(tmp_path):
    url, _ = _wal_history(tmp_path)
    last = ltx.open(url).history()[-1].created_at
    naive = last.replace(tzinfo=None).isoformat()
    out = run("page", url, "1", "--timestamp", naive, env={**os.environ, "TZ": "UTC"})
    assert out.returncode == 1 and "no zone" in out.stderr and "--local" in out.stderr
    local = run("page", url, "1", "--timestamp", naive, "--local", env={**os.environ, "TZ": "UTC"})
    assert local.returncode == 0, local.stderr
    ny = run(
        "page", url, "1", "--timestamp", naive, "--local",
        env={**os.environ, "TZ": "America/New_York"},
    )  # fmt: skip
    assert ny.returncode == 0, ny.stderr  # 5 h later in UTC: a time to come, the latest


def test_history_times_name_the_points_under_the_rule(tmp_path):
    url, _ = _wal_history(tmp_path)
    points = json.loads(run("history", url, "--exact-times", "--json", check=True).stdout)
    for prev, point in itertools.pairwise(points):
        # A point's own time names the point before it (files made strictly before).
        got = run("page", url, "1", "--timestamp", point["created"], "--json")
        assert got.returncode == 0, got.stderr
        view = ltx.open(url).view(timestamp=point["created"])
        assert f"{view.txid:016x}" == prev["txid"]


def test_diff_and_changes_take_times(tmp_path):
    url, _ = _wal_history(tmp_path)
    points = ltx.open(url).history()
    # points[2]'s time names points[1]; "now" names the latest.
    by_time = run("diff", url, points[2].created_at.isoformat(), "now", "--pages", "--json")
    by_txid = run("diff", url, "0x2", "0x4", "--pages", "--json")
    assert by_time.returncode == 0, by_time.stderr
    assert json.loads(by_time.stdout) == json.loads(by_txid.stdout)
    feed = run("changes", url, "--since", points[3].created_at.isoformat(), "--format", "jsonl")
    assert feed.returncode == 0, feed.stderr
    assert {json.loads(line)["txid"] for line in feed.stdout.splitlines()} == {f"{4:016x}"}


def _stepped_replica(url: str, tmp_path, steps: int = 6, gap: float = 0.35, **opts):
    """``steps`` commits of a WAL database appended to ``url`` ``gap`` seconds apart
    (so that several land in one second: S3 lists whole seconds); returns the images."""
    db = tmp_path / "stepped.db"
    con = sqlite3.connect(db, isolation_level=None)
    con.execute(f"PRAGMA page_size={PS}")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    replica = ltx.open(url, **opts)
    prev: dict[int, bytes] = {}
    images = []
    for step in range(steps):
        con.executemany("INSERT INTO t (v) VALUES (?)", [(f"s{step}-{i}",) for i in range(20)])
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        image = db.read_bytes()
        cur = image_pages(image, PS)
        replica.append({p: d for p, d in cur.items() if prev.get(p) != d}, len(cur))
        prev, images = cur, [*images, image]
        time.sleep(gap)
    con.close()
    return images


def _each_time_names_its_entry(url: str, tmp_path, env=None, **opts) -> int:
    """The documented rule, entry by entry: ``history()[i + 1].created_at`` names entry
    i, ``now`` the last; litestream 0.5.17 restores the same bytes for each of them.
    Returns how many entries the binary confirmed."""
    replica = ltx.open(url, **opts)
    points = replica.history()
    assert len(points) >= 4
    confirmed = 0
    for i, point in enumerate(points):
        when = points[i + 1].created_at if i + 1 < len(points) else "now"
        assert replica.view(timestamp=when).txid == point.txid, (i, when)
        text = when if isinstance(when, str) else when.isoformat()
        if text == "now":
            continue
        ours = tmp_path / f"ours-{i}.db"
        replica.restore(ours, timestamp=when)
        theirs = tmp_path / f"theirs-{i}.db"
        proc = restore(url, theirs, timestamp=text, env=env)
        if proc.returncode != 0:
            # 0.5.17 bounds times by the newest *listed* time (S3: whole seconds), so
            # it refuses a time in the newest file's second; ltx answers by the rule.
            assert "timestamp does not exist" in proc.stderr, proc.stderr
            assert when > max(f.created_at for f in replica.files()), (i, text)
            continue
        assert theirs.read_bytes() == ours.read_bytes(), (i, text)
        confirmed += 1
    return confirmed


@pytest.mark.interop
def test_each_entry_time_names_its_entry_on_file(tmp_path):
    url = (tmp_path / "rep").as_uri()
    _stepped_replica(url, tmp_path)
    assert _each_time_names_its_entry(url, tmp_path) >= 3


@pytest.mark.interop
@pytest.mark.servers
def test_each_entry_time_names_its_entry_on_s3(tmp_path, request):
    url, opts = target_for("s3", request, tmp_path)
    _stepped_replica(url, tmp_path, steps=7, gap=0.5, **opts)
    listed = ltx.open(url, **opts).files()
    assert any(f.created_at.microsecond == 0 for f in listed)  # whole-second listings
    assert _each_time_names_its_entry(url, tmp_path, env=S3_ENV, **opts) >= 3


@pytest.mark.interop
def test_each_entry_time_names_its_entry_on_a_03_replica(tmp_path):
    """0.3 replicas keep 0.3.13's rule (at or before): an entry's own time names it,
    as its time to the nanosecond and as its ``created_at``; litestream 0.3.13 agrees."""
    root, _ = load_fixture(tmp_path / "replica")
    replica = ltx.open(str(root))
    points = replica.history()
    assert len(points) >= 4
    picks = set(range(0, len(points), max(1, len(points) // 5))) | {len(points) - 1}
    for i, point in enumerate(points):
        exact = format_time_ns(point.time_ns)
        assert replica.view(timestamp=exact).txid == point.txid, (i, exact)
        assert replica.view(timestamp=point.created_at).txid == point.txid, i
        if i not in picks:
            continue
        ours, theirs = tmp_path / f"ours-{i}.db", tmp_path / f"theirs-{i}.db"
        replica.restore(ours, timestamp=exact)
        proc = legacy_restore(root, theirs, timestamp_ns=point.time_ns)
        assert proc.returncode == 0, proc.stderr
        assert ours.read_bytes() == theirs.read_bytes(), (i, exact)
