"""Restore plans, history and the page map, against hand-made file sets and a model."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ltx
from ltx.codec import FileInfo
from ltx.resolve import plan_restore, restorable_points
from ltx.times import parse_time

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def fi(level, lo, hi, sec=None):
    return FileInfo(
        level,
        lo,
        hi,
        100,
        T0 + dt.timedelta(seconds=hi if sec is None else sec),
        f"{level}/{lo}-{hi}",
    )


def test_plan_prefers_snapshot_then_furthest_reach():
    files = [fi(0, t, t) for t in range(1, 11)] + [
        fi(1, 1, 5),
        fi(1, 6, 8),
        fi(2, 1, 8),
        fi(9, 1, 4, sec=4.5),
    ]
    p = plan_restore(files, txid=10)
    assert [(f.level, f.min_txid, f.max_txid) for f in p.files] == [
        (9, 1, 4),
        (2, 1, 8),
        (0, 9, 9),
        (0, 10, 10),
    ]
    p = plan_restore(files, txid=8)
    assert [(f.level, f.min_txid, f.max_txid) for f in p.files] == [(9, 1, 4), (2, 1, 8)]
    assert plan_restore(files).txid == 10


def test_tie_breaks_smaller_min_then_higher_level():
    files = [fi(9, 1, 2), fi(1, 3, 6), fi(2, 3, 6), fi(0, 2, 6)]
    p = plan_restore(files, txid=6)
    assert [(f.level, f.min_txid) for f in p.files] == [(9, 1), (0, 2)]
    files = [fi(9, 1, 2), fi(1, 3, 6), fi(2, 3, 6)]
    assert [(f.level, f.min_txid) for f in plan_restore(files, txid=6).files] == [(9, 1), (2, 3)]


def test_unavailable_txid_names_neighbours():
    files = [fi(9, 1, 4), fi(1, 5, 8), fi(0, 8, 8), fi(0, 9, 9)]
    with pytest.raises(ltx.TxidNotAvailableError) as info:
        plan_restore(files, txid=6)
    assert (info.value.before, info.value.after) == (4, 8)
    assert [p.txid for p in restorable_points(files)] == [4, 8, 9]


def test_timestamp_is_strictly_before_every_file():
    files = [fi(0, t, t) for t in range(1, 6)]
    assert plan_restore(files, timestamp=T0 + dt.timedelta(seconds=3)).txid == 2
    assert plan_restore(files, timestamp=T0 + dt.timedelta(seconds=3.001)).txid == 3
    with pytest.raises(ltx.TxidNotAvailableError):
        plan_restore(files, timestamp=T0)
    assert plan_restore(files, timestamp=T0 + dt.timedelta(seconds=5)).txid == 4
    with pytest.raises(ltx.TxidNotAvailableError):  # after the newest file: Litestream refuses
        plan_restore(files, timestamp=T0 + dt.timedelta(seconds=5.001))


@st.composite
def file_sets(draw):
    n = draw(st.integers(1, 12))
    files = [fi(0, t, t) for t in range(1, n + 1) if t == n or draw(st.booleans())]
    start = 1
    while start <= n:
        end = draw(st.integers(start, n))
        if draw(st.booleans()):
            files.append(fi(1, start, end))
        start = end + 1
    for hi in draw(st.sets(st.integers(1, n), max_size=2)):
        files.append(fi(9, 1, hi))
    return files


@given(file_sets())
def test_every_reported_point_plans_exactly_and_others_fail(files):
    points = {p.txid for p in restorable_points(files)}
    for txid in range(1, max(f.max_txid for f in files) + 1):
        if txid in points:
            plan = plan_restore(files, txid=txid)
            assert plan.txid == txid
            covered = 0
            for f in plan.files:
                assert f.min_txid <= covered + 1 or f.level == 9
                covered = max(covered, f.max_txid)
        else:
            with pytest.raises(ltx.TxidNotAvailableError):
                plan_restore(files, txid=txid)


def test_parse_time_forms():
    now = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.timezone.utc)
    assert parse_time("5 minutes ago", now=now) == now - dt.timedelta(minutes=5)
    assert parse_time("yesterday", now=now) == now - dt.timedelta(days=1)
    assert parse_time("2026-11-24T05:31:06.6Z", now=now) == dt.datetime(
        2026, 11, 24, 5, 31, 6, 600000, tzinfo=dt.timezone.utc
    )
    assert parse_time("2026-11-24T06:31:06.123456789+01:00", now=now).microsecond == 123456
    assert parse_time(1_790_000_000_123, now=now).microsecond == 123000
    assert parse_time(dt.datetime(2026, 1, 1), now=now).tzinfo is not None
    with pytest.raises(ValueError):
        parse_time("next tuesday", now=now)
