"""ltx.fleet on a local pool: discovery, verdicts, drill, stats and its projection, compact,
the CLI (lines, resume, exit codes, summary), faults and secrets."""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import json
import os
import shutil
import tempfile

import pytest

import ltx
from ltx import fleet
from ltx.codec import Header
from ltx.compaction import LevelsConfig
from ltx.errors import FormatError, HeaderFieldError, UnsupportedFormatError
from ltx.storage import open_store
from tests.fleet.fleet_helpers import _images, make_fleet, write_replica
from tests.legacy_harness import load_fixture


def _cli(*args: str) -> int:
    from ltx.cli import main

    return main(["fleet", *args])


@pytest.fixture
def local_fleet(tmp_path):
    prefix = (tmp_path / "fleet").as_uri()
    return prefix, make_fleet(prefix, 20)


def test_newer_format_is_unsupported_not_corrupt():
    good = Header(page_size=4096, commit=1, min_txid=1, max_txid=1, timestamp=0).to_bytes()
    with pytest.raises(UnsupportedFormatError) as e:
        Header.from_bytes(b"LTX2" + good[4:])
    assert isinstance(e.value, FormatError) and e.value.what == "LTX version 2"
    flagged = good[:4] + (0x80).to_bytes(4, "big") + good[8:]
    with pytest.raises(UnsupportedFormatError) as e:
        Header.from_bytes(flagged)
    assert isinstance(e.value, HeaderFieldError) and e.value.field == "flags"
    with pytest.raises(FormatError) as e:
        Header.from_bytes(b"XTX1" + good[4:])
    assert not isinstance(e.value, UnsupportedFormatError)


def test_discover_finds_ltx_legacy_and_mixed_roots_in_one_walk(tmp_path):
    prefix = tmp_path / "p"
    images = _images()
    write_replica((prefix / "a").as_uri(), images)
    write_replica((prefix / "deep/er/b").as_uri(), images)
    load_fixture(prefix / "old")
    load_fixture(prefix / "mixed")
    write_replica((prefix / "mixed").as_uri(), images)
    (prefix / "notes").mkdir()
    (prefix / "notes/readme.txt").write_text("not a replica")
    found = fleet.discover(prefix.as_uri())
    kinds = {r.rel: r.kind for r in found.roots}
    assert kinds == {"a": "ltx", "deep/er/b": "ltx", "old": "generations", "mixed": "mixed"}
    assert found.requests == 1
    assert all(r.objects > 0 and r.bytes > 0 for r in found.roots)


def test_verdicts_name_their_files_and_a_legacy_root_verifies(local_fleet, tmp_path):
    prefix, expected = local_fleet
    got = fleet.run("verify", fleet.discover(prefix).roots, executor=cf.ThreadPoolExecutor(4))
    assert {v.url: v.verdict for v in got.verdicts} == expected
    for v in got.verdicts:
        assert json.loads(json.dumps(v.to_json())) == v.to_json()
        assert fleet.Verdict.from_json(v.to_json()).same_outcome(v)
        if v.verdict in ("corrupt", "unsupported", "incomplete"):
            assert any(r.path and r.path.endswith(".ltx") for r in v.reasons), v
    unsupported = next(v for v in got.verdicts if v.verdict == "unsupported")
    assert "LTX version 2" in unsupported.reasons[0].message
    load_fixture(tmp_path / "old")
    for deep in (False, True):
        v = fleet.verify((tmp_path / "old").as_uri(), fleet.Options(deep=deep))
        assert v.verdict == "healthy" and v.newest_txid, v


def test_stale_by_threshold(local_fleet):
    prefix, _ = local_fleet
    url = fleet.discover(prefix).roots[0].url
    later = dt.datetime.now(dt.timezone.utc).timestamp() + 3600
    v = fleet.verify(url, fleet.Options(stale_after=60, now=later))
    assert v.verdict == "stale" and v.rpo_seconds > 3500 and "s old" in v.reasons[0].message


def test_drill_restores_checks_probes_and_cleans_up(local_fleet, monkeypatch, tmp_path):
    prefix, _ = local_fleet
    roots = fleet.discover(prefix).roots
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    v = fleet.drill(roots[0].url, fleet.Options(probe="SELECT count(*) FROM t"))
    assert v.verdict == "healthy" and v.detail["probe"] == [["120"]]
    assert v.detail["restore_seconds"] >= 0 and v.rpo_seconds is not None
    bad = fleet.drill(roots[0].url, fleet.Options(probe="SELECT * FROM nowhere"))
    assert bad.verdict == "corrupt" and bad.reasons[0].kind == "probe"
    # the file damaged in t0003 is not needed by the latest point: the drill restores it
    assert fleet.drill(roots[3].url).verdict == "healthy"
    store = open_store(roots[1].url)
    newest = store.list_files()[-1]
    data = bytearray(store.read(newest.path))
    data[len(data) // 2] ^= 0xFF
    store.fs.pipe_file(newest.path, bytes(data))
    broken = fleet.drill(roots[1].url)
    assert broken.verdict == "corrupt" and broken.reasons[0].path == newest.path
    assert list((tmp_path / "tmp").iterdir()) == []


def test_stats_counts_levels_and_identical_copies(local_fleet, tmp_path):
    prefix, _ = local_fleet
    root = fleet.discover(prefix).roots[0]
    store = open_store(root.url)
    f = store.list_files()[-1]
    copy = store.file_path(1, f.min_txid, f.max_txid)
    os.makedirs(os.path.dirname(copy), exist_ok=True)
    shutil.copy(f.path, copy)
    v = fleet.stats(root.url)
    assert v.detail["levels"] == {
        "L0": {"objects": 4, "bytes": root.bytes},
        "L1": {"objects": 1, "bytes": f.size},
    }
    assert v.files == 5 and v.bytes == root.bytes + f.size
    assert v.detail["identical_bytes"] == f.size and v.detail["identical_groups"] == 1


@pytest.mark.slow
def test_projection_within_ten_percent_of_the_planner_stepped_for_real():
    config = LevelsConfig((dt.timedelta(minutes=5), dt.timedelta(hours=1)))
    start = dt.datetime(2026, 1, 1, 0, 0, 7, tzinfo=dt.timezone.utc)
    kw = dict(writes_per_second=0.02, bytes_per_write=5000, db_bytes=400_000, days=30)
    fast = fleet.project(config, [], start, **kw)
    real = fleet.project(config, [], start, exact=True, **kw)
    assert fast.simulated_days < 5 and real.simulated_days == 30
    for a, b in [(fast.objects, real.objects), (fast.bytes, real.bytes), (fast.puts, real.puts)]:
        assert abs(a - b) <= 0.1 * b, (fast, real)


def test_compact_applies_retention(local_fleet):
    prefix, _ = local_fleet
    url = fleet.discover(prefix).roots[0].url
    later = dt.datetime.now(dt.timezone.utc).timestamp() + 3 * 86400
    dry = fleet.compact(url, fleet.Options(now=later, dry_run=True))
    assert dry.verdict == "healthy" and dry.detail["compactions"] >= 1
    assert len(ltx.open(url).files()) == 4
    done = fleet.compact(url, fleet.Options(now=later))
    assert done.detail["compactions"] == dry.detail["compactions"]
    assert fleet.verify(url).verdict == "healthy"


def test_unreachable_replica_while_others_carry_on(local_fleet):
    prefix, _ = local_fleet
    roots = [r.url for r in fleet.discover(prefix).roots[:3]]
    dead = "s3://ltx-test/x?endpoint=http://127.0.0.1:9&region=us-east-1"
    got = fleet.run(
        "verify",
        [*roots, dead],
        fleet.Options(timeout=1),
        executor=cf.ThreadPoolExecutor(2),
        storage_options={},
    )
    by = {v.url: v.verdict for v in got.verdicts}
    assert by[ltx.storage.redact(dead)] == "unreachable"
    assert [by[ltx.storage.redact(u)] for u in roots] == ["healthy"] * 3


def test_cli_lines_resume_exit_codes_and_summary(local_fleet, tmp_path, capsys):
    prefix, expected = local_fleet
    out = tmp_path / "run.jsonl"
    lines = [
        json.dumps({"url": u, "op": "verify", "verdict": expected[u]}) for u in list(expected)[:5]
    ]
    out.write_text("\n".join(lines) + "\n{torn")
    assert _cli("verify", prefix, "--resume", str(out), "--workers", "1") == 1
    got = [json.loads(x) for x in out.read_text().splitlines()[5:] if x.startswith('{"')]
    assert sorted(v["url"] for v in got) == sorted(list(expected)[5:])
    text = capsys.readouterr().out
    assert "verdicts" in text and "identical bytes" in text
    assert _cli("verify", prefix, "--resume", str(out), "--json") == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["replicas"] == 20 and summary["counts"]["corrupt"] == 2
    healthy = tmp_path / "one"
    write_replica(healthy.as_uri(), _images())
    assert _cli("verify", str(healthy), "--workers", "1") == 0
    line = json.loads(capsys.readouterr().out.splitlines()[0])
    assert line["verdict"] == "healthy"
    assert _cli("verify", str(tmp_path / "empty")) == 2
    assert "looked for" in capsys.readouterr().err


def test_request_budget_stops_the_run(local_fleet, capsys):
    prefix, _ = local_fleet
    assert _cli("verify", prefix, "--max-requests", "5", "--batch", "1", "--workers", "1") == 2
    err = capsys.readouterr().err
    assert "request budget of 5 reached" in err


@pytest.mark.interop
def test_stats_of_a_litestream_replica_counts_what_a_raw_listing_shows(recorded_replicas):
    _, url = recorded_replicas(4096)
    root = url.removeprefix("file://")
    raw = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
    v = fleet.stats(url, fleet.Options(writes_per_second=0.01, days=1, levels=(300.0, 3600.0)))
    assert v.verdict == "healthy", v.reasons
    assert v.files == len(raw) and v.bytes == sum(os.path.getsize(p) for p in raw)
    levels = v.detail["levels"]
    for name, got in levels.items():
        if name.startswith("L"):
            folder = os.path.join(root, "ltx", name[1:])
            sizes = [os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)]
            assert got == {"objects": len(sizes), "bytes": sum(sizes)}, name
    assert sum(g["objects"] for g in levels.values()) == len(raw)
    assert v.detail["projection"]["objects"] > 0
    assert v.detail["identical_bytes"] >= 0 and v.newest_txid and v.detail["oldest_txid"] >= 1
