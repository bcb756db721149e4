"""A Litestream 0.3 replica through the same face: ltx.open, history, page_at, restore, CLI."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys

import pytest

import ltx
from ltx.legacy import LegacyRestorePoint, LegacySource
from ltx.storage import open_store
from tests.legacy_harness import load_fixture


@pytest.fixture
def fixture(tmp_path):
    return load_fixture(tmp_path / "replica")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "ltx", *args], capture_output=True, text=True)


def test_open_reads_a_03_replica_like_an_ltx_one(fixture, tmp_path):
    root, manifest = fixture
    replica = ltx.open(str(root))
    points = replica.history()
    assert points and all(isinstance(p, LegacyRestorePoint) for p in points)
    latest = next(r for r in manifest["restores"] if r["timestamp_ns"] is None)
    out = tmp_path / "latest.db"
    replica.restore(out)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == latest["sha256"]
    source = LegacySource(open_store(str(root)))
    for k, point in enumerate(points[:: max(1, len(points) // 8)]):
        when = point.created_at  # a datetime names a whole microsecond, for both
        ours, theirs = tmp_path / f"face{k}.db", tmp_path / f"src{k}.db"
        view = replica.restore(ours, timestamp=when)
        source.restore(source.page_map(timestamp=when), theirs)
        assert ours.read_bytes() == theirs.read_bytes()
        assert replica.page_at(1, timestamp=when) == ours.read_bytes()[: view.page_size]
        assert replica.page_at(2, point.txid) == source.read_page(source.page_map(point.txid), 2)
    # Appending is the upgrade itself (0.5 writes LTX files beside generations/): the
    # root becomes mixed and reads each period from its half.
    image = out.read_bytes()
    pages = {n + 1: image[n * 1024 : (n + 1) * 1024] for n in range(len(image) // 1024)}
    replica.append(pages, len(pages), page_size=1024)
    assert type(replica.legacy()).__name__ == "MixedSource"


def test_cli_on_a_03_replica(fixture, tmp_path):
    root, _ = fixture
    ls = _cli("ls", str(root), "--json")
    assert ls.returncode == 0, ls.stderr
    rows = json.loads(ls.stdout)
    assert rows and all(r["level"] is None and r["generation"] for r in rows)
    hist = _cli("history", str(root), "--json")
    assert hist.returncode == 0 and len(json.loads(hist.stdout)) > 5
    out = tmp_path / "latest.db"
    restored = _cli("restore", str(root), "-o", str(out))
    assert restored.returncode == 0, restored.stderr
    assert out.stat().st_size > 0
    page = _cli("page", str(root), "1")
    assert page.returncode == 0 and page.stdout.startswith("00000000")


def test_convert_then_read_the_result_as_ltx(fixture, tmp_path):
    root, _ = fixture
    dst = tmp_path / "converted"
    dry = _cli("convert", str(root), str(dst), "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["dry_run"] and plan["files"] and not dst.exists()
    done = _cli("convert", str(root), str(dst), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["written"] == len(plan["files"])
    again = json.loads(_cli("convert", str(root), str(dst), "--json").stdout)
    assert again["written"] == 0 and again["skipped"] == len(plan["files"])
    ours = ltx.open(str(dst))
    assert ours.legacy() is None and ours.verify().ok
    latest_03, latest_ltx = tmp_path / "a.db", tmp_path / "b.db"
    ltx.open(str(root)).restore(latest_03)
    ours.restore(latest_ltx)
    assert latest_03.read_bytes() == latest_ltx.read_bytes()


def test_the_suggested_txid_of_a_03_replica_is_one_it_takes(fixture, tmp_path):
    root, _ = fixture
    last = ltx.open(str(root)).history()[-1]
    late = (last.created_at + dt.timedelta(seconds=5)).isoformat()
    out = tmp_path / "late.db"
    refused = _cli("restore", str(root), "-o", str(out), "--timestamp", late)
    assert refused.returncode == 1 and f"nearest before: {last.txid:016x}" in refused.stderr
    taken = _cli("restore", str(root), "-o", str(out), "--txid", f"{last.txid:016x}")
    assert taken.returncode == 0, taken.stderr


def test_a_03_points_own_time_names_it_on_the_command_line(fixture):
    root, _ = fixture
    hist = json.loads(_cli("history", str(root), "--json").stdout)
    for point in hist[:: max(1, len(hist) // 6)]:
        plan = _cli("restore", str(root), "-o", "x.db", "--dry-run", "--json",
                    "--timestamp", point["created"])  # fmt: skip
        assert plan.returncode == 0, plan.stderr
        assert json.loads(plan.stdout)["txid"] == point["txid"]
