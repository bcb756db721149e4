"""Names of Litestream 0.3 objects: what parses, what is skipped (as 0.3.13 skips it)."""

from __future__ import annotations

import datetime as dt

import pytest

from ltx.errors import UsageError
from ltx.legacy._names import (
    datetime_to_ns,
    format_snapshot_name,
    format_time_ns,
    format_wal_name,
    is_generation_name,
    ns_to_datetime,
    parse_object_path,
)

UTC = dt.timezone.utc
T = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
GEN = "0123456789abcdef"


def parse(path: str):
    return parse_object_path(path, size=10, created_at=T)


def test_current_layout_parses() -> None:
    snap = parse(f"prefix/db/generations/{GEN}/snapshots/0000000a.snapshot.lz4")
    assert snap is not None
    assert (snap.generation, snap.kind, snap.index, snap.offset, snap.compressed) == (
        GEN,
        "snapshot",
        10,
        0,
        True,
    )
    seg = parse(f"generations/{GEN}/wal/0000000a_00001080.wal.lz4")
    assert seg is not None
    assert (seg.kind, seg.index, seg.offset, seg.size, seg.created_at) == ("wal", 10, 0x1080, 10, T)
    assert seg.name == "0000000a_00001080.wal.lz4"


def test_offsets_past_4gib_widen_and_are_skipped_as_0313_skips_them() -> None:
    """``%08x`` widens past 4 GiB; 0.3.13's regexp wants 8 digits, so it never reads those."""
    assert format_wal_name(1, 0x100000020) == "00000001_100000020.wal.lz4"
    assert parse(f"generations/{GEN}/wal/00000001_100000020.wal.lz4") is None


@pytest.mark.parametrize(
    "name",
    [
        "00000002.snapshot",  # 0.3.0-0.3.4 uncompressed snapshot
        "00000002_00000020.wal",  # raw segment
        "00000002.wal",  # whole WAL of an index, appended while live
        "00000002.wal.lz4",  # whole WAL, compressed once the index closed
        "0000000e.wal.lz4",  # an extra whole-index object beside segments (issue 19)
        "00000002_000000020.wal.lz4",  # 9 digits of offset: a copy 0.3.13 skips
        "00000002_0000000000000020.wal.lz4",  # 16 digits
        "00000002_00000020.wal.lz4\n",  # Go's $ is the end of the text
        "00000002.snapshot.lz4\n",
    ],
)
def test_names_0313_skips_are_skipped(name: str) -> None:
    folder = "snapshots" if "snapshot" in name else "wal"
    assert parse(f"generations/{GEN}/{folder}/{name}") is None


@pytest.mark.parametrize(
    "path",
    [
        f"generations/{GEN.upper()}/wal/00000001_00000000.wal.lz4",  # uppercase: not a generation
        f"generations/{GEN[:-1]}/wal/00000001_00000000.wal.lz4",  # 15 digits
        f"generations/{GEN}0/wal/00000001_00000000.wal.lz4",  # 17 digits
        "generations/zzzzzzzzzzzzzzzz/snapshots/00000000.snapshot.lz4",
        f"generations/{GEN}/wal/00000001_00000000.wal.lz4.tmp",  # upload in progress
        f"generations/{GEN}/snapshots/00000001.snapshot.lz4.tmp",
        f"generations/{GEN}/wal/0000001_00000000.wal.lz4",  # 7-digit index
        f"generations/{GEN}/wal/00000001_0000000.wal.lz4",  # 7-digit offset
        f"generations/{GEN}/wal/00000001_0000000A.wal.lz4",  # uppercase hex
        f"generations/{GEN}/wal/00000001-00000000.wal.lz4",
        f"generations/{GEN}/snapshots/00000001_00000000.wal.lz4",  # wrong folder
        f"generations/{GEN}/wal/00000001.snapshot.lz4",
        f"{GEN}/wal/00000001_00000000.wal.lz4",  # no generations/ folder
        f"generations/{GEN}/other/00000001_00000000.wal.lz4",
        "0000/0000000000000001-0000000000000001.ltx",  # a 0.5 file
    ],
)
def test_skipped_names(path: str) -> None:
    assert parse(path) is None


def test_generation_names() -> None:
    assert is_generation_name(GEN)
    assert not is_generation_name(GEN.upper())
    assert not is_generation_name("g123456789abcdef")


def test_format_round_trips() -> None:
    assert format_snapshot_name(0x1F) == "0000001f.snapshot.lz4"
    assert format_wal_name(3, 0x438) == "00000003_00000438.wal.lz4"
    for name in (format_snapshot_name(7), format_wal_name(7, 4152)):
        folder = "snapshots" if "snapshot" in name else "wal"
        obj = parse(f"generations/{GEN}/{folder}/{name}")
        assert obj is not None and obj.index == 7
    with pytest.raises(UsageError):
        format_wal_name(-1, 0)
    with pytest.raises(UsageError):
        format_snapshot_name(-1)


def test_times_in_nanoseconds() -> None:
    ns = 1_795_741_769_086_571_704
    obj = parse_object_path(
        f"generations/{GEN}/wal/00000000_00000000.wal.lz4",
        size=1,
        created_at=ns_to_datetime(ns),
        created_ns=ns,
    )
    assert obj is not None and obj.time_ns == ns  # exact, beyond datetime's microseconds
    assert format_time_ns(ns) == "2026-11-27T01:09:29.086571704Z"
    assert datetime_to_ns(T) == datetime_to_ns(T.replace(tzinfo=None))
    naive = parse_object_path(
        f"generations/{GEN}/wal/00000000_00000000.wal.lz4",
        size=1,
        created_at=T.replace(tzinfo=None),
    )
    assert naive is not None and naive.created_at == T and naive.time_ns == datetime_to_ns(T)
