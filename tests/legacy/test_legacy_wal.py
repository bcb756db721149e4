"""WAL segments and LZ4 frames of 0.3 replicas, against WAL files written by stdlib SQLite.

Every expected database image comes from SQLite itself: the snapshot plus the WAL, put
side by side and checkpointed with ``PRAGMA wal_checkpoint(TRUNCATE)``, which is what
0.3.13's restore does for each index.
"""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
import struct
from pathlib import Path

import lz4.frame
import pytest

from ltx.errors import LegacyFormatError, PageNotFoundError, UsageError
from ltx.legacy import LegacyObject, LegacyPlan
from ltx.legacy._apply import (
    build_legacy_pages,
    database_bytes,
    iter_pages,
    read_legacy_page,
    write_database,
)
from ltx.legacy._wal import WALHeader, iter_frames, iter_transactions, wal_checksum

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 1, 1, tzinfo=UTC)
GEN = "00000000000000aa"
PS = 1024
FRAME = 24 + PS


def make_wal(tmp_path: Path, *, txns: int = 6, vacuum: bool = True) -> tuple[bytes, bytes]:
    """(database file, its -wal file) after ``txns`` transactions and a VACUUM, never checkpointed."""
    db = tmp_path / "src.db"
    con = sqlite3.connect(db, isolation_level=None)
    con.execute(f"PRAGMA page_size={PS}")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    con.execute("INSERT INTO t (v) VALUES ('seed')")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    base = db.read_bytes()
    for i in range(txns):
        con.execute("BEGIN")
        for j in range(8):
            con.execute("INSERT INTO t (v) VALUES (?)", (f"{i}-{j} " * 40,))
        if i % 2:
            con.execute("DELETE FROM t WHERE id % 3 = 0")
        con.execute("COMMIT")
    if vacuum:
        con.execute("VACUUM")  # rewrites the database smaller: a commit that truncates
    wal = Path(f"{db}-wal").read_bytes()
    con.close()
    return base, wal


def sqlite_apply(tmp_path: Path, base: bytes, wal: bytes, name: str = "apply") -> bytes:
    """What SQLite makes of ``base`` + ``wal`` with a TRUNCATE checkpoint (0.3.13's applyWAL)."""
    db = tmp_path / f"{name}.db"
    db.write_bytes(base)
    Path(f"{db}-wal").write_bytes(wal)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
    con.close()
    return db.read_bytes()


class Store:
    """Objects in memory, and the ``open_object`` the pure API asks for."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.opened: list[str] = []

    def add(
        self, kind: str, index: int, offset: int, raw: bytes, *, lz4_: bool = True
    ) -> LegacyObject:
        folder = "snapshots" if kind == "snapshot" else "wal"
        name = f"{index:08x}.snapshot" if kind == "snapshot" else f"{index:08x}_{offset:08x}.wal"
        path = f"generations/{GEN}/{folder}/{name}" + (".lz4" if lz4_ else "")
        self.data[path] = lz4.frame.compress(raw) if lz4_ else raw
        return LegacyObject(path, GEN, kind, index, offset, len(self.data[path]), T0, lz4_)  # type: ignore[arg-type]

    def open(self, obj: LegacyObject) -> bytes:
        self.opened.append(obj.path)
        return self.data[obj.path]


def segments(store: Store, wal: bytes, cuts: list[int], index: int = 1) -> list[LegacyObject]:
    """Split one WAL at the byte offsets ``cuts`` into segments, as 0.3 names them."""
    bounds = [0, *cuts, len(wal)]
    return [store.add("wal", index, a, wal[a:b]) for a, b in itertools.pairwise(bounds)]


def frame_cut(n: int) -> int:
    """The WAL offset of frame ``n`` (1-based)."""
    return 32 + (n - 1) * FRAME


def plan_of(snapshot: LegacyObject, segs: list[LegacyObject]) -> LegacyPlan:
    return LegacyPlan(GEN, snapshot, tuple(segs), 0)


def to_big_endian(wal: bytes) -> bytes:
    """The same WAL with magic 0x377f0683: every checksum recomputed over big-endian words."""
    out = bytearray(wal)
    out[0:4] = struct.pack(">I", 0x377F0683)
    s = wal_checksum(bytes(out[:24]), big_endian=True)
    out[24:32] = struct.pack(">2I", *s)
    for off in range(32, len(out), FRAME):
        s = wal_checksum(bytes(out[off : off + 8]), *s, big_endian=True)
        s = wal_checksum(bytes(out[off + 24 : off + FRAME]), *s, big_endian=True)
        out[off + 16 : off + 24] = struct.pack(">2I", *s)
    return bytes(out)


def test_frames_verify_like_sqlite(tmp_path: Path) -> None:
    _base, wal = make_wal(tmp_path)
    store = Store()
    segs = segments(store, wal, [frame_cut(3), frame_cut(10)])
    frames = [f for f, _ in iter_frames(segs, store.open)]
    assert len(frames) == (len(wal) - 32) // FRAME
    assert [f.frame_no for f in frames] == list(range(1, len(frames) + 1))
    assert frames[2].segment == 1 and frames[2].data_offset == 24  # first frame of segment 2
    txns = list(iter_transactions(segs, store.open))
    assert len(txns) == 7  # six transactions and the VACUUM
    assert all(t[-1].commit and not any(f.commit for f in t[:-1]) for t in txns)
    hdr = WALHeader.parse(wal[:32])
    assert hdr.magic == 0x377F0682 and not hdr.big_endian and hdr.page_size == PS


@pytest.mark.parametrize("cuts", [[], [frame_cut(2)], [frame_cut(2), frame_cut(3), frame_cut(20)]])
def test_page_map_matches_sqlite_checkpoint(tmp_path: Path, cuts: list[int]) -> None:
    base, wal = make_wal(tmp_path)
    want = sqlite_apply(tmp_path, base, wal)
    store = Store()
    snap = store.add("snapshot", 1, 0, base)
    pm = build_legacy_pages(plan_of(snap, segments(store, wal, cuts)), store.open)
    assert pm.page_size == PS and pm.size == len(want)
    assert pm.commit_end == (1, len(wal))  # the VACUUM's commit frame is the last frame
    assert database_bytes(pm, store.open) == want
    assert all(
        read_legacy_page(pm, p, store.open) == want[(p - 1) * PS : p * PS]
        for p in range(1, pm.page_count + 1)
    )
    with pytest.raises(PageNotFoundError):
        read_legacy_page(pm, pm.page_count + 1, store.open)


def test_write_database_and_single_pass(tmp_path: Path) -> None:
    base, wal = make_wal(tmp_path)
    want = sqlite_apply(tmp_path, base, wal)
    store = Store()
    snap = store.add("snapshot", 1, 0, base)
    pm = build_legacy_pages(plan_of(snap, segments(store, wal, [frame_cut(5)])), store.open)
    store.opened.clear()
    pages = dict(iter_pages(pm, store.open))
    assert sorted(pages) == list(range(1, pm.page_count + 1))
    assert len(store.opened) == len(set(store.opened))  # each object read once
    out = tmp_path / "out.db"
    out.write_bytes(b"\xff" * (len(want) + 5000))  # longer than the result: must be truncated
    with open(out, "r+b") as fh:
        write_database(pm, store.open, fh)
    assert out.read_bytes() == want


def test_big_endian_checksums_as_sqlite_reads_them(tmp_path: Path) -> None:
    base, wal = make_wal(tmp_path)
    be = to_big_endian(wal)
    assert be != wal
    want = sqlite_apply(tmp_path, base, wal, "le")
    assert sqlite_apply(tmp_path, base, be, "be") == want  # SQLite accepts our BE checksums
    store = Store()
    pm = build_legacy_pages(
        plan_of(store.add("snapshot", 1, 0, base), segments(store, be, [])), store.open
    )
    assert database_bytes(pm, store.open) == want


def test_uncommitted_tail_is_dropped(tmp_path: Path) -> None:
    base, wal = make_wal(tmp_path, vacuum=False)
    cut = wal[: len(wal) - FRAME]  # the last transaction loses its commit frame
    want = sqlite_apply(tmp_path, base, cut)
    store = Store()
    pm = build_legacy_pages(
        plan_of(store.add("snapshot", 1, 0, base), segments(store, cut, [])), store.open
    )
    assert database_bytes(pm, store.open) == want
    assert pm.commit_end is not None and pm.commit_end[1] < len(cut)


def test_snapshot_only_and_raw_objects(tmp_path: Path) -> None:
    base, wal = make_wal(tmp_path)
    store = Store()
    snap = store.add("snapshot", 1, 0, base, lz4_=False)  # 0.3.0-0.3.4 names without .lz4
    pm = build_legacy_pages(plan_of(snap, []), store.open)
    assert pm.page_count == len(base) // PS and database_bytes(pm, store.open) == base
    raw = store.add("wal", 1, 0, wal, lz4_=False)
    pm = build_legacy_pages(plan_of(snap, [raw]), store.open)
    assert database_bytes(pm, store.open) == sqlite_apply(tmp_path, base, wal)


def test_two_indexes_truncate_between(tmp_path: Path) -> None:
    """Index 1 ends with a VACUUM (smaller file); index 2 grows it again."""
    base, wal1 = make_wal(tmp_path, txns=4)
    mid = sqlite_apply(tmp_path, base, wal1, "mid")
    db = tmp_path / "grow.db"
    db.write_bytes(mid)
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA wal_autocheckpoint=0")
    for i in range(3):
        con.execute("INSERT INTO t (v) VALUES (?)", ("grow " * 200 + str(i),))
    wal2 = Path(f"{db}-wal").read_bytes()
    con.close()
    want = sqlite_apply(tmp_path, mid, wal2, "final")
    assert len(mid) < len(sqlite_apply(tmp_path, base, wal1[: len(wal1) - FRAME], "pre"))
    assert len(want) > len(mid)
    store = Store()
    snap = store.add("snapshot", 1, 0, base)
    segs = segments(store, wal1, [frame_cut(4)], index=1) + segments(store, wal2, [], index=2)
    pm = build_legacy_pages(plan_of(snap, segs), store.open)
    assert database_bytes(pm, store.open) == want


# --- hostile input: a typed error naming the object, never a wrong page ----------------


def corrupt(wal: bytes, at: int) -> bytes:
    out = bytearray(wal)
    out[at] ^= 0x01
    return bytes(out)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda w: corrupt(w, frame_cut(4) + 24 + 100), "checksum mismatch"),  # page byte
        (lambda w: corrupt(w, frame_cut(4) + 9), "salt differs"),  # salt-1 of frame 4
        (lambda w: corrupt(w, frame_cut(4) + 3), "checksum mismatch"),  # page number
        (lambda w: corrupt(w, 0), "not a WAL header"),
        (lambda w: corrupt(w, 12), "header checksum"),  # checkpoint sequence
        (lambda w: w[:8] + struct.pack(">I", 1000) + w[12:], "page size"),
    ],
)
def test_damaged_wal_raises_naming_the_object(tmp_path: Path, mutate, message: str) -> None:
    base, wal = make_wal(tmp_path)
    store = Store()
    segs = segments(store, mutate(wal), [frame_cut(3)])
    with pytest.raises(LegacyFormatError, match=message) as err:
        build_legacy_pages(plan_of(store.add("snapshot", 1, 0, base), segs), store.open)
    assert err.value.path in {s.path for s in segs}


def test_offset_gap_and_overlap(tmp_path: Path) -> None:
    _, wal = make_wal(tmp_path)
    store = Store()
    a = store.add("wal", 1, 0, wal[: frame_cut(3)])
    gap = store.add("wal", 1, frame_cut(4), wal[frame_cut(4) :])
    with pytest.raises(LegacyFormatError, match="gap") as err:
        list(iter_frames([a, gap], store.open))
    assert err.value.path == gap.path
    over = store.add("wal", 1, frame_cut(2), wal[frame_cut(2) :])
    with pytest.raises(LegacyFormatError, match="overlap"):
        list(iter_frames([a, over], store.open))
    headless = store.add("wal", 1, frame_cut(3), wal[frame_cut(3) :])
    with pytest.raises(LegacyFormatError, match="offset 0"):
        list(iter_frames([headless], store.open))
    with pytest.raises(UsageError):
        list(iter_frames([a, store.add("wal", 2, frame_cut(3), b"")], store.open))
    mid_frame = store.add("wal", 1, 0, wal[: frame_cut(3) + 100])
    with pytest.raises(LegacyFormatError, match="cut short") as err:
        list(iter_frames([mid_frame], store.open))
    assert err.value.path == mid_frame.path


def test_page_size_differs_from_snapshot(tmp_path: Path) -> None:
    base, wal = make_wal(tmp_path)
    store = Store()
    other = bytearray(base)
    other[16:18] = (4096).to_bytes(2, "big")
    snap = store.add("snapshot", 1, 0, bytes(other) + bytes(4096 - len(base) % 4096))
    with pytest.raises(LegacyFormatError, match="page size"):
        build_legacy_pages(plan_of(snap, segments(store, wal, [])), store.open)
