"""Restore plans over synthetic 0.3 listings: 0.3.13's choices, positions and refusals.

Each rule here is also checked against the real 0.3.13 binary in test_legacy_interop.py.
"""

from __future__ import annotations

import datetime as dt

import pytest

from ltx.errors import LTXError, TxidNotAvailableError
from ltx.legacy import LegacyObject
from ltx.legacy._names import ns_to_datetime
from ltx.legacy._plan import (
    history,
    legacy_txid,
    make_position,
    plan_at,
    plan_for_position,
    plan_latest,
    split_position,
)

G1, G2 = "1111111111111111", "2222222222222222"
S = 1_000_000_000  # one second in ns
BASE = 1_800_000_000 * S


def snap(gen: str, index: int, t: float, *, lz4: bool = True) -> LegacyObject:
    name = f"{index:08x}.snapshot" + (".lz4" if lz4 else "")
    ns = BASE + int(t * S)
    return LegacyObject(
        f"generations/{gen}/snapshots/{name}",
        gen,
        "snapshot",
        index,
        0,
        1,
        ns_to_datetime(ns),
        lz4,
        ns,
    )


def seg(gen: str, index: int, offset: int, t: float, *, lz4: bool = True) -> LegacyObject:
    name = f"{index:08x}_{offset:08x}.wal" + (".lz4" if lz4 else "")
    ns = BASE + int(t * S)
    return LegacyObject(
        f"generations/{gen}/wal/{name}", gen, "wal", index, offset, 1, ns_to_datetime(ns), lz4, ns
    )


def at(t: float) -> int:
    return BASE + int(t * S)


def chain(gen: str, index: int, t0: float, n: int, step: float = 1.0) -> list[LegacyObject]:
    """``n`` contiguous segments of one index (offsets 0, 1080, 2128, ...) from time ``t0``."""
    offsets = [0] + [1080 + 1048 * k for k in range(n - 1)]
    return [seg(gen, index, off, t0 + k * step) for k, off in enumerate(offsets)]


LISTING = [
    snap(G1, 0, 0),
    *chain(G1, 0, 1, 3),  # t 1..3
    *chain(G1, 1, 4, 2),  # t 4..5
    snap(G1, 1, 5.5),
    *chain(G1, 2, 6, 2),  # t 6..7
]


def names(plan) -> list[str]:
    return [o.name for o in plan.segments]


def test_latest_uses_newest_snapshot_and_every_later_segment() -> None:
    plan = plan_latest(LISTING)
    assert plan.generation == G1 and plan.snapshot.index == 1
    assert names(plan) == ["00000001_00000000.wal.lz4", "00000001_00000438.wal.lz4",
                           "00000002_00000000.wal.lz4", "00000002_00000438.wal.lz4"]  # fmt: skip
    assert plan.position == make_position(2, 2) and plan.index == 2


def test_timestamp_picks_snapshot_by_time_and_segments_up_to_it() -> None:
    plan = plan_at(LISTING, at(4))
    assert plan.snapshot.index == 0
    assert [(o.index, o.offset) for o in plan.segments] == [(0, 0), (0, 1080), (0, 2128), (1, 0)]
    assert plan.position == make_position(1, 1)
    assert plan_at(LISTING, at(4) - 1).position == make_position(0, 3)  # exactly at T counts
    assert plan_at(LISTING, ns_to_datetime(at(5.5))).snapshot.index == 1  # datetimes too
    only = plan_at(LISTING, at(0.5))
    assert only.segments == () and only.position == make_position(0, 0)


def test_snapshot_is_chosen_by_time_not_index() -> None:
    listing = [*LISTING, snap(G1, 0, 6.5)]  # index 0 snapshot rewritten later (same name)
    listing = [
        o for o in listing if not (o.kind == "snapshot" and o.index == 0 and o.time_ns == BASE)
    ]
    plan = plan_at(listing, at(7))
    assert plan.snapshot.index == 0 and plan.segments[0].index == 0
    tie = [*LISTING, snap(G1, 2, 5.5)]  # same time as index 1: the lowest index wins
    assert plan_at(tie, at(5.6)).snapshot.index == 1


def test_a_later_segment_stops_the_scan_whatever_its_index() -> None:
    late = seg(G1, 0, 1080, 50)  # index 0, before the snapshot's index 1, written "late"
    listing = [o for o in LISTING if o.name != late.name] + [late]
    plan = plan_at(listing, at(7))
    assert plan.snapshot.index == 1 and plan.segments == ()  # nothing after the late one counts
    assert plan_latest(listing).segments  # latest ignores times


def test_generation_choice() -> None:
    other = [snap(G2, 0, 10), *chain(G2, 0, 11, 2)]  # later generation, t 10..12
    both = LISTING + other
    assert plan_latest(both).generation == G2
    assert plan_at(both, at(6)).generation == G1
    assert plan_at(both, at(11)).generation == G2
    with pytest.raises(TxidNotAvailableError, match=r"no 0\.3 generation covers") as err:
        plan_at(both, at(8))  # between the two generations
    # The nearest points as TXIDs, the form --txid and history() take.
    assert err.value.before == legacy_txid(G1, make_position(2, 2))
    assert err.value.after == legacy_txid(G2, make_position(0, 0))
    with pytest.raises(TxidNotAvailableError):
        plan_at(both, at(-1))
    # Overlapping bounds: the one updated last wins, whatever the name order.
    stretched = [*both, seg(G1, 2, 2128, 20)]
    assert plan_at(stretched, at(11)).generation == G1
    # Equal upper bounds: the first by name wins.
    tied = [*both, seg(G1, 2, 2128, 12)]
    assert plan_at(tied, at(11)).generation == G1


def test_generation_without_snapshot_is_chosen_and_fails() -> None:
    listing = [*LISTING, *chain(G2, 0, 10, 2)]  # G2 has WAL only, and is newest
    with pytest.raises(TxidNotAvailableError, match="no snapshot"):
        plan_latest(listing)
    with pytest.raises(TxidNotAvailableError, match="no snapshot"):
        plan_at(listing, at(10.5))
    assert plan_at(listing, at(7)).generation == G1


def test_missing_index_and_missing_first_segment() -> None:
    no_index_1 = [o for o in LISTING if o.index != 1]  # its segments and snapshot are gone
    assert plan_at(no_index_1, at(3)).position == make_position(0, 3)
    with pytest.raises(TxidNotAvailableError, match="00000001 is missing") as err:
        plan_at(no_index_1, at(6.5))
    assert isinstance(err.value, LTXError)
    assert err.value.before == legacy_txid(G1, make_position(0, 3)) and err.value.after is None
    with pytest.raises(TxidNotAvailableError, match="00000001 is missing"):
        plan_latest(no_index_1)
    kept = [o for o in LISTING if not (o.kind == "wal" and o.index == 1)]
    with pytest.raises(TxidNotAvailableError, match="00000001 is missing"):
        plan_latest(kept)  # the snapshot's own index needs its segments too
    assert plan_at(kept, at(5.7)).segments == ()  # until a later index shows up
    headless = [o for o in LISTING if not (o.index == 2 and o.offset == 0)]
    with pytest.raises(TxidNotAvailableError, match="no segment at offset 0"):
        plan_latest(headless)


def test_history_lists_each_point_once_in_time_order() -> None:
    pts = history(LISTING)
    assert [split_position(p.position) for p in pts] == [
        (0, 0), (0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (2, 1), (2, 2)
    ]  # fmt: skip
    assert [p.time_ns for p in pts] == sorted(p.time_ns for p in pts)
    first = pts[1]
    assert (first.index, first.offset, first.end_offset, first.snapshot_index) == (0, 0, 1080, 0)
    assert pts[3].end_offset is None  # last segment of index 0: its end is not in the listing
    assert pts[0].created_at == ns_to_datetime(BASE)
    for p in pts:
        plan = plan_for_position(LISTING, G1, p.position)
        assert plan.position == p.position
        assert plan_at(LISTING, p.time_ns).position == p.position


def test_unknown_position_names_neighbours() -> None:
    with pytest.raises(TxidNotAvailableError) as err:
        plan_for_position(LISTING, G1, make_position(1, 7))
    assert err.value.txid == make_position(1, 7)
    assert err.value.before == make_position(1, 2) and err.value.after == make_position(2, 1)
    with pytest.raises(TxidNotAvailableError):
        plan_for_position(LISTING, G2, 0)


def test_duplicate_names_prefer_lz4() -> None:
    listing = [*LISTING, seg(G1, 2, 1080, 6.5, lz4=False), snap(G1, 1, 5.5, lz4=False)]
    plan = plan_latest(listing)
    assert plan.snapshot.compressed and all(o.compressed for o in plan.segments)
    assert len(plan.segments) == 4


def test_nanosecond_ties_are_exact() -> None:
    obj = seg(G1, 2, 2128, 8)
    listing = [*LISTING, obj]
    assert plan_at(listing, obj.time_ns).segments[-1] == obj
    assert plan_at(listing, obj.time_ns - 1).segments[-1] != obj


def test_empty_listing() -> None:
    with pytest.raises(TxidNotAvailableError, match=r"no 0\.3 backup"):
        plan_latest([])
    assert history([]) == []


def test_bad_targets() -> None:
    with pytest.raises(TypeError):
        plan_at(LISTING, "yesterday")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        plan_at(LISTING, True)
    with pytest.raises(TxidNotAvailableError):  # after the last object: outside every bound
        plan_at(LISTING, dt.datetime(2100, 1, 1))
