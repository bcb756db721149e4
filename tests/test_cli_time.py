"""Time targets on the command line: one rule for every command (docs/concepts.md)."""

from __future__ import annotations

import itertools
import json
import os

import ltx
from tests.test_cli import _wal_history, run


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
