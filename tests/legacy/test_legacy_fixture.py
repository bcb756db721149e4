"""The committed 0.3.13 replica: our restores equal what 0.3.13 restored at every time.

``fixtures/legacy/manifest.json`` holds, per recorded time, the sha256 (or the error)
of ``litestream restore -timestamp T`` run by the real 0.3.13 when the fixture was
made (``make_legacy_fixtures.py``). No binary is needed here.
"""

from __future__ import annotations

import hashlib

import pytest

from ltx.errors import TxidNotAvailableError
from ltx.legacy._apply import build_legacy_pages, database_bytes, read_legacy_page
from ltx.legacy._plan import history, plan_at, plan_for_position, plan_latest, split_position
from tests.legacy_harness import load_fixture, local_listing, local_opener


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    replica, manifest = load_fixture(tmp_path_factory.mktemp("legacy") / "replica")
    return replica, manifest, local_listing(replica), local_opener(replica)


def test_listing_covers_every_file(fixture) -> None:
    _replica, manifest, listing, _ = fixture
    assert sorted(o.path for o in listing) == sorted(manifest["mtimes_ns"])
    assert {o.path: o.time_ns for o in listing} == manifest["mtimes_ns"]
    assert len({o.generation for o in listing}) == 2


def test_every_recorded_restore(fixture) -> None:
    _, manifest, listing, opener = fixture
    checked = refused = 0
    for entry in manifest["restores"]:
        t = entry["timestamp_ns"]
        if "error" in entry:
            with pytest.raises(TxidNotAvailableError):
                plan_latest(listing) if t is None else plan_at(listing, t)
            refused += 1
            continue
        plan = plan_latest(listing) if t is None else plan_at(listing, t)
        data = database_bytes(build_legacy_pages(plan, opener), opener)
        assert len(data) == entry["size"], entry
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry
        checked += 1
    assert checked > 50 and refused >= 1


def test_lazy_pages_equal_the_whole(fixture) -> None:
    _, manifest, listing, opener = fixture
    pm = build_legacy_pages(plan_latest(listing), opener)
    whole = database_bytes(pm, opener)
    ps = pm.page_size
    assert ps == manifest["page_size"]
    for pgno in range(1, pm.page_count + 1):
        assert read_legacy_page(pm, pgno, opener) == whole[(pgno - 1) * ps : pgno * ps]


def test_history_points_rebuild_what_their_time_restores(fixture) -> None:
    _, manifest, listing, opener = fixture
    pts = history(listing)
    restorable = {e["timestamp_ns"] for e in manifest["restores"] if "sha256" in e}
    assert {p.time_ns for p in pts} <= restorable
    by_gen: dict[str, list[int]] = {}
    for p in pts:
        by_gen.setdefault(p.generation, []).append(p.position)
        plan = plan_for_position(listing, p.generation, p.position)
        assert plan == plan_at(listing, p.time_ns)
        index, applied = split_position(p.position)
        assert plan.index == index and (applied == 0) == (plan.segments == () or p.offset is None)
        if p.end_offset is not None:  # 0.3 segments end on commit frames
            pm = build_legacy_pages(plan, opener)
            assert pm.commit_end == (p.index, p.end_offset)
    for positions in by_gen.values():
        assert positions == sorted(positions)  # one generation's points advance with time
    sha = {e["timestamp_ns"]: e["sha256"] for e in manifest["restores"] if "sha256" in e}
    for p in pts[:: max(1, len(pts) // 10)]:
        data = database_bytes(
            build_legacy_pages(plan_for_position(listing, p.generation, p.position), opener), opener
        )
        assert hashlib.sha256(data).hexdigest() == sha[p.time_ns]
