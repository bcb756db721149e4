"""Compaction: equals replay, the planner's fixed point, the executor's crash safety."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ltx
from ltx.codec import compact, decode
from ltx.compaction import CompactStep, DeleteStep, LevelsConfig, SnapshotStep, plan_compaction
from ltx.replica import Replica
from ltx.storage import RetryPolicy, open_store
from ltx.testing import encode_model, histories, replay
from ltx.testing.faults import Crash, FaultyFileSystem

UTC = dt.timezone.utc
FAST = LevelsConfig(
    [dt.timedelta(seconds=10), dt.timedelta(seconds=30), dt.timedelta(minutes=2)],
    snapshot_interval=dt.timedelta(minutes=5),
    snapshot_retention=dt.timedelta(minutes=10),
    l0_retention=dt.timedelta(seconds=20),
)


@given(histories(), st.data())
def test_compacting_a_run_equals_replaying_it(models, data):
    i = data.draw(st.integers(0, len(models) - 1))
    j = data.draw(st.integers(i, len(models) - 1))
    run = models[i : j + 1]
    out = io.BytesIO()
    header, _ = compact([io.BytesIO(encode_model(m)) for m in run], out)
    merged = decode(out.getvalue())
    # Applying the compacted file on top of the state before it == replaying one by one.
    _commit_before, before = replay(models[:i])
    after = dict(before)
    after.update(merged.pages)
    after = {p: d for p, d in after.items() if p <= header.commit}
    assert (header.commit, after) == replay(models[: j + 1])
    assert header.min_txid == run[0].header.min_txid and header.max_txid == run[-1].header.max_txid
    assert header.timestamp == run[-1].header.timestamp
    assert (header.wal_offset, header.wal_size, header.wal_salt1, header.wal_salt2) == (0, 0, 0, 0)
    assert all(p <= header.commit for p in merged.pages)


def _fixed_history(n: int = 6, ps: int = 512):
    """A deterministic level-0 history: grows, rewrites page 1, shrinks once."""
    from ltx.codec import Header
    from ltx.testing import LTXFileModel

    commits = [3, 4, 6, 6, 2, 5, 5, 7][:n]
    out, prev = [], 0
    for i, commit in enumerate(commits, start=1):
        pages = {p: bytes([i * 10 + p]) * ps for p in ([1, *list(range(prev + 1, commit + 1))])}
        if i == 1:
            pages = {p: bytes([p]) * ps for p in range(1, commit + 1)}
        h = Header(
            flags=2,
            page_size=ps,
            commit=commit,
            min_txid=i,
            max_txid=i,
            timestamp=1_700_000_000_000 + i,
        )
        out.append(LTXFileModel(h, pages, 0))
        prev = commit
    return out


def test_compactor_refuses_a_gap():
    models = _fixed_history()
    with pytest.raises(ltx.UsageError, match="non-contiguous"):
        compact(
            [io.BytesIO(encode_model(models[0])), io.BytesIO(encode_model(models[2]))], io.BytesIO()
        )


def _write_history(replica: Replica, models, t0: dt.datetime) -> None:
    for k, m in enumerate(models):
        ts = t0 + dt.timedelta(seconds=7 * k)
        replica.append(m.pages, m.header.commit, timestamp=ts, page_size=m.header.page_size)


def _states(models):
    return {m.header.max_txid: replay(models[: k + 1]) for k, m in enumerate(models)}


def _check_restorable(replica: Replica, states) -> None:
    replica.refresh()
    for point in replica.history():
        view = replica.view(point.txid)
        commit, pages = states[point.txid]
        assert view.page_count == commit
        for p in range(1, commit + 1):
            assert view.page(p) == pages[p], (point.txid, p)


@settings(max_examples=25)
@given(histories(max_txns=10), st.integers(0, 400))
def test_plan_then_execute_keeps_state_and_reaches_a_fixed_point(models, minutes):
    from fsspec.implementations.memory import MemoryFileSystem

    MemoryFileSystem.store.clear()
    t0 = dt.datetime(2026, 11, 24, 10, 0, 3, tzinfo=UTC)
    r = ltx.open(f"memory://compaction-prop/{minutes}")
    _write_history(r, models, t0)
    states = _states(models)
    latest_before = r.view().read(0, r.view().size)
    now = t0 + dt.timedelta(seconds=7 * len(models), minutes=minutes)
    steps = r.compact(FAST, now=now)
    assert r.compact(FAST, now=now, dry_run=True) == []  # a fixed point
    assert plan_compaction(FAST, r.files(), now) == []
    view = r.view()
    assert view.txid == models[-1].header.max_txid
    assert view.read(0, view.size) == latest_before
    _check_restorable(r, states)
    if steps:
        assert {type(s) for s in steps} <= {CompactStep, SnapshotStep, DeleteStep}


def test_planner_follows_litestream_rules():
    t0 = dt.datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)
    F = ltx.codec.FileInfo

    def f(level, lo, hi, sec):
        return F(level, lo, hi, 10, t0 + dt.timedelta(seconds=sec), "")

    files = [f(0, t, t, t) for t in range(1, 13)] + [f(1, 1, 4, 4), f(1, 5, 6, 6), f(9, 1, 3, 3.5)]
    # L1 newest (5-6) created at :06; now :25 -> the :20 boundary has passed: due.
    steps = plan_compaction(FAST, files, t0 + dt.timedelta(seconds=25))
    comp = [s for s in steps if isinstance(s, CompactStep)]
    assert (comp[0].level, comp[0].min_txid, comp[0].max_txid) == (1, 7, 12)
    # Too early: a file at L1 newer than the last boundary.
    assert not [
        s
        for s in plan_compaction(FAST, [*files, f(1, 7, 7, 21)], t0 + dt.timedelta(seconds=25))
        if isinstance(s, CompactStep) and s.level == 1
    ]
    # A straddling file is skipped, never split.
    straddle = [f(0, 5, 8, 8), f(0, 9, 9, 9), f(1, 1, 6, 6)]
    s = plan_compaction(FAST, straddle, t0 + dt.timedelta(seconds=25))
    assert [
        (x.min_txid, x.max_txid) for x in s if isinstance(x, CompactStep) and x.level == 1
    ] == []
    # L0 retention: keeps files younger than the retention and the newest.
    dels = [x for x in steps if isinstance(x, DeleteStep) and "L0" in x.reason]
    assert [g.max_txid for g in dels[0].files] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("when", ["before", "after"])
def test_crash_at_any_storage_call_leaves_a_restorable_replica(tmp_path, when):
    models = _fixed_history(8)
    t0 = dt.datetime(2026, 11, 24, 10, 0, 3, tzinfo=UTC)
    url = (tmp_path / "rep").as_uri()
    states = _states(models)
    now = t0 + dt.timedelta(hours=1)

    def fresh():
        import shutil

        shutil.rmtree(tmp_path / "rep", ignore_errors=True)
        w = ltx.open(url)
        _write_history(w, models, t0)

    fresh()
    counter = FaultyFileSystem(open_store(url).fs)
    Replica(open_store(url, filesystem=counter)).compact(FAST, now=now)
    total = counter.total
    assert total > 3
    for n in range(total):
        fresh()
        faulty = FaultyFileSystem(open_store(url).fs, crash_after=n, crash_when=when)
        crashing = Replica(open_store(url, filesystem=faulty, retry=RetryPolicy(attempts=1)))
        with pytest.raises(Crash):
            crashing.compact(FAST, now=now)
        survivor = ltx.open(url)
        _check_restorable(survivor, states)
        survivor.compact(FAST, now=now)  # a rerun completes the plan
        assert survivor.compact(FAST, now=now, dry_run=True) == []
        _check_restorable(survivor, states)
        assert survivor.view().txid == models[-1].header.max_txid
