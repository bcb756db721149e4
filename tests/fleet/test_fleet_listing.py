"""Verify and drill from discovery's listing: fewer requests, the same verdicts, and a
listing gone stale never makes a verdict (fleet._listing's rule)."""

from __future__ import annotations

import json

import attrs
import pytest

import ltx
from ltx import fleet
from ltx.codec import SNAPSHOT_LEVEL
from ltx.fleet._run import run_batch
from ltx.storage import open_store
from tests.fleet.fleet_helpers import make_fleet


@pytest.fixture
def small_fleet(tmp_path):
    prefix = (tmp_path / "fleet").as_uri()
    return prefix, make_fleet(prefix, 10)


@pytest.mark.parametrize("op", ["verify", "drill"])
def test_a_roots_listing_saves_requests_and_keeps_every_verdict(small_fleet, op):
    prefix, _ = small_fleet
    fn = fleet.OPERATIONS[op]
    for root in fleet.discover(prefix).roots:
        by_url, by_root = fn(root.url), fn(root)
        assert by_root.same_outcome(by_url), (by_root, by_url)
        assert (by_root.newest_txid, by_root.newest_at) == (by_url.newest_txid, by_url.newest_at)
        if by_root.healthy:
            assert by_root.detail["requests"] < by_url.detail["requests"]
            assert "listed_again" not in by_root.detail
        else:  # decided again from a fresh listing, so its reasons name files there now
            assert by_root.detail["listed_again"] is True


@pytest.mark.parametrize("op", ["verify", "drill"])
def test_files_gone_since_discovery_make_it_list_again_not_fail(small_fleet, op):
    prefix, _ = small_fleet
    root = fleet.discover(prefix).roots[0]
    r = ltx.open(root.url)
    newest = r.files()[-1].max_txid
    r.write_snapshot(r.view())  # then the level-0 files go, as retention would do
    store = open_store(root.url)
    store.delete([f for f in store.list_files() if f.level != SNAPSHOT_LEVEL])
    v = fleet.OPERATIONS[op](root)
    # verify decides again from a fresh listing; a restore re-plans on a missing file itself
    assert v.healthy and v.detail.get("listed_again") is (True if op == "verify" else None), v
    assert v.newest_txid == newest and v.files == 1


def test_an_old_or_foreign_listing_is_not_used(small_fleet):
    prefix, _ = small_fleet
    root = fleet.discover(prefix).roots[0]
    fresh = fleet.verify(root).detail["requests"]
    by_url = fleet.verify(root.url).detail["requests"]
    assert fresh < by_url
    old = attrs.evolve(root, listed_at=root.listed_at - 3600)
    assert fleet.verify(old).detail["requests"] == by_url
    off = fleet.Options(listing_max_age=0)
    assert fleet.verify(root, off).detail["requests"] == by_url
    mixed = attrs.evolve(root, kind="mixed")
    assert fleet.verify(mixed).detail["requests"] == by_url


def test_a_batch_of_roots_ships_their_listings(small_fleet):
    prefix, expected = small_fleet
    roots = fleet.discover(prefix).roots
    got = run_batch("verify", roots, fleet.Options(), {}, threads=4)
    assert {v.url: v.verdict for v in got} == expected


def test_the_cli_hands_each_task_its_listing(small_fleet, tmp_path):
    from ltx.cli import main

    prefix, expected = small_fleet
    spent = {}
    for age in ("600", "0"):
        out = tmp_path / f"lines-{age}.jsonl"
        code = main(["fleet", "verify", prefix, "--out", str(out), "--workers", "1",
                     "--listing-max-age", age])  # fmt: skip
        assert code == 1  # some replicas are broken on purpose
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert {v["url"]: v["verdict"] for v in lines} == expected
        spent[age] = sum(v["detail"]["requests"] for v in lines)
    assert spent["600"] < spent["0"]
