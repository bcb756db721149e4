"""Litestream 0.3 replicas against the real 0.3.13 binary (installed on demand by pip).

A live run writes a fresh file:// replica; at every object time (and 1 ns before) our
database must equal 0.3.13's ``restore -timestamp`` page for page and pass
``integrity_check``, and where 0.3.13 refuses, we raise an LTXError. Then copies of the
committed fixture are altered (mtimes moved, objects removed, renamed or damaged) to
pin each rule of 0.3.13's choice on the binary itself.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
from pathlib import Path

import lz4.frame
import pytest

from ltx.errors import LegacyFormatError, LTXError, TxidNotAvailableError
from ltx.legacy import LegacyObject, LegacyPlan
from ltx.legacy._apply import build_legacy_pages, database_bytes, iter_pages, write_database
from ltx.legacy._plan import plan_at, plan_latest
from tests.legacy_harness import (
    db_pages,
    integrity_ok,
    legacy_restore,
    load_fixture,
    local_listing,
    local_opener,
    need_legacy_litestream,
    record_legacy_replica,
)

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module", autouse=True)
def legacy_binary() -> str:
    return need_legacy_litestream()


def _plan(replica: Path, t: int | None) -> LegacyPlan:
    listing = local_listing(replica)
    return plan_latest(listing) if t is None else plan_at(listing, t)


def theirs(replica: Path, t: int | None) -> tuple[bytes | None, str]:
    """0.3.13's restore at ``t``: (database bytes, "") or (None, its error)."""
    out = replica.parent / "theirs.db"
    for old in replica.parent.glob("theirs.db*"):
        old.unlink()
    proc = legacy_restore(replica, out, timestamp_ns=t)
    if proc.returncode != 0:
        return None, proc.stderr.strip().rsplit("error=", 1)[-1]
    return out.read_bytes(), ""


def ours(replica: Path, t: int | None) -> bytes:
    opener = local_opener(replica)
    return database_bytes(build_legacy_pages(_plan(replica, t), opener), opener)


def check_same(replica: Path, t: int | None) -> bool:
    """Ours equals 0.3.13's at ``t`` page for page (True), or both refuse (False)."""
    data, _error = theirs(replica, t)
    if data is None:
        with pytest.raises(LTXError):
            ours(replica, t)
        return False
    opener = local_opener(replica)
    pm = build_legacy_pages(_plan(replica, t), opener)
    want = db_pages(replica.parent / "theirs.db", pm.page_size)
    assert pm.size == len(data) and pm.page_count == len(want), t
    for pgno, page in iter_pages(pm, opener):
        assert page == want[pgno - 1], (t, pgno)
    mine = replica.parent / "ours.db"
    with open(mine, "wb") as fh:
        write_database(pm, opener, fh)
    assert integrity_ok(mine) and integrity_ok(replica.parent / "theirs.db")
    return True


def object_times(listing: list[LegacyObject]) -> list[int]:
    return sorted({t for o in listing for t in (o.time_ns, o.time_ns - 1)})


def test_live_replica_every_time(tmp_path: Path) -> None:
    """0.3.13 replicates a workload (two generations, VACUUM, snapshots, checkpoints)."""
    _db, replica = record_legacy_replica(tmp_path / "live", first=3.0, second=2.0)
    listing = local_listing(replica)
    assert len({o.generation for o in listing}) == 2
    assert sum(o.kind == "snapshot" for o in listing) >= 3
    times = object_times(listing)
    results = [check_same(replica, t) for t in [None, *times]]
    assert sum(results) > 30
    # Before the first object and after the last one: outside every generation's bounds.
    for t in (times[0] - 1, times[-1] + 2):
        assert theirs(replica, t)[1] == '"no matching backups found"'
        with pytest.raises(TxidNotAvailableError):
            ours(replica, t)


# --- rules pinned on altered copies of the committed fixture ------------------------


@pytest.fixture
def fixture(tmp_path: Path):
    replica, manifest = load_fixture(tmp_path / "replica")
    listing = local_listing(replica)
    gens = sorted({o.generation for o in listing})
    by_snaps = sorted(
        gens, key=lambda g: sum(o.kind == "snapshot" and o.generation == g for o in listing)
    )
    return replica, manifest, listing, by_snaps[-1], by_snaps[0]  # (.., many-snapshot gen, other)


def set_mtime(path: Path, ns: int) -> None:
    os.utime(path, ns=(ns, ns))


def segs_of(listing: list[LegacyObject], gen: str) -> list[LegacyObject]:
    return sorted(
        (o for o in listing if o.generation == gen and o.kind == "wal"),
        key=lambda o: (o.index, o.offset),
    )


def snaps_of(listing: list[LegacyObject], gen: str) -> list[LegacyObject]:
    return sorted(
        (o for o in listing if o.generation == gen and o.kind == "snapshot"), key=lambda o: o.index
    )


def twin(replica: Path, name: str) -> Path:
    """A copy of ``replica`` (same mtimes) beside it, to alter differently."""
    dst = replica.parent / name / "replica"
    shutil.copytree(replica, dst, copy_function=shutil.copy2)
    for p in replica.rglob("*"):
        if p.is_file():
            set_mtime(dst / p.relative_to(replica), p.stat().st_mtime_ns)
    return dst


def test_a_later_segment_stops_the_scan(fixture) -> None:
    """walSegmentMap breaks at the first segment created after T, whatever comes next."""
    replica, _, listing, gen, _ = fixture
    for t in sorted({o.time_ns for o in segs_of(listing, gen)}):
        plan = plan_at(listing, t)
        ends = [
            s for s, n in zip(plan.segments, plan.segments[1:], strict=False) if n.index != s.index
        ]
        if ends:
            x = ends[0]  # the last segment of an index, with later indexes in the plan
            break
    else:
        pytest.fail("fixture has no index boundary inside a plan")
    skipped = twin(replica, "skipped")
    (skipped / x.path).unlink()  # what a rule that skips late segments would apply
    set_mtime(replica / x.path, t + 3600 * 10**9)
    cut = plan_at(local_listing(replica), t)
    assert cut.segments[-1].index == x.index and all(s.index <= x.index for s in cut.segments)
    assert check_same(replica, t) and check_same(skipped, t)
    assert theirs(replica, t)[0] != theirs(skipped, t)[0]


def test_snapshot_is_chosen_by_creation_time(fixture) -> None:
    """SnapshotIndexAt takes the snapshot created last, not the highest index."""
    replica, _, listing, gen, _ = fixture
    snaps = snaps_of(listing, gen)
    first, last = snaps[0], snaps[-1]
    assert last.index - first.index >= 2
    t = max(o.time_ns for o in listing if o.generation == gen)
    set_mtime(replica / first.path, t)  # the index-0 snapshot now looks newest
    assert check_same(replica, t)
    assert _plan(replica, t).snapshot.index == first.index
    gap = next(
        i
        for i in range(first.index + 1, last.index + 1)
        if any(s.index == i for s in segs_of(listing, gen))
    )
    for s in segs_of(listing, gen):
        if s.index == gap:
            (replica / s.path).unlink()
    data, error = theirs(replica, t)
    assert data is None and "missing WAL index" in error  # it did not fall back to `last`
    with pytest.raises(TxidNotAvailableError, match="missing"):
        ours(replica, t)


def test_generation_with_latest_update_wins(fixture) -> None:
    """CalcRestoreTarget: among generations whose bounds hold T, the latest updatedAt; ties by name."""
    replica, _, listing, gen, other = fixture
    other_times = sorted(o.time_ns for o in listing if o.generation == other)
    t = other_times[len(other_times) // 2]
    last = snaps_of(listing, gen)[-1]
    assert _plan(replica, t).generation == other
    set_mtime(replica / last.path, other_times[-1] + 10**9)  # now `gen` spans T and ends later
    assert check_same(replica, t) and _plan(replica, t).generation == gen
    set_mtime(replica / last.path, other_times[-1])  # equal upper bounds: first by name
    assert check_same(replica, t) and _plan(replica, t).generation == min(gen, other)


def test_non_hex_generations_are_skipped(fixture) -> None:
    replica, manifest, listing, _, other = fixture
    for bad in (other.upper(), "z" * 16, other + "0", other[:-1]):
        shutil.copytree(replica / "generations" / other, replica / "generations" / bad)
        for p in (replica / "generations" / bad).rglob("*"):
            if p.is_file():
                set_mtime(p, p.stat().st_mtime_ns + 3600 * 10**9)
    data, _ = theirs(replica, None)  # the copies' newer times did not make 0.3.13 pick them
    assert data is not None
    assert hashlib.sha256(data).hexdigest() == manifest["restores"][0]["sha256"]
    assert check_same(replica, None)
    assert sorted(o.path for o in local_listing(replica)) == sorted(o.path for o in listing)


def test_missing_first_segment_or_index_is_refused(fixture) -> None:
    replica, _, listing, _, other = fixture
    segs = segs_of(listing, other)
    j = max(s.index for s in segs) - 1
    first = next(s for s in segs if s.index == j and s.offset == 0)
    whole = twin(replica, "whole-index")
    (replica / first.path).unlink()
    for s in segs:
        if s.index == j:
            (whole / s.path).unlink()
    tail = [t for t in object_times(listing) if t >= first.time_ns - 1][:4]
    for rep, message in ((replica, "missing initial wal segment"), (whole, "missing WAL index")):
        refused = [t for t in [None, *tail] if not check_same(rep, t)]
        assert refused and message in theirs(rep, refused[-1])[1]


def test_names_0313_skips_are_skipped_here_too(fixture) -> None:
    """0.3.13 lists only ``%08x_%08x.wal.lz4``: a segment renamed to a wide offset or to a
    raw 0.3.0-0.3.4 name is missing to both of us alike (issue 19)."""
    replica, _, listing, _, other = fixture
    segs = segs_of(listing, other)
    y = next(s for s in reversed(segs) if s.offset > 0)  # a late segment with data
    raw = twin(replica, "raw")
    wide = replica
    name = f"{y.index:08x}_{y.offset:09x}.wal.lz4"
    os.rename(wide / y.path, wide / y.path.replace(y.name, name))
    src = raw / y.path
    dst = raw / y.path.replace(".wal.lz4", ".wal")
    dst.write_bytes(lz4.frame.decompress(src.read_bytes()))
    set_mtime(dst, y.time_ns)
    src.unlink()
    for rep in (wide, raw):
        for t in [None, *object_times(local_listing(rep))[-6:]]:
            check_same(rep, t)


def test_extra_objects_0313_ignores_change_nothing(fixture) -> None:
    """Copies under names 0.3.13 skips: a segment with a 9- or 16-digit offset (one that
    would leave a gap), and a whole-index WAL; no history point moves, restores agree."""
    import ltx

    replica, manifest, listing, _, other = fixture
    before = [(p.txid, p.created_at) for p in ltx.open(str(replica)).history()]
    segs = segs_of(listing, other)
    y = next(s for s in reversed(segs) if s.offset > 0)
    folder = (replica / y.path).parent
    copies = {
        f"{y.index:08x}_{y.offset:08x}0.wal.lz4": y.time_ns,  # 9 digits: offset x 16
        f"{y.index:08x}_{y.offset * 3:016x}.wal.lz4": y.time_ns,  # 16 digits, past a gap
        f"{y.index:08x}.wal.lz4": y.time_ns,  # whole-index WAL of that index
        f"{y.index + 1:08x}.wal.lz4": segs[-1].time_ns + 10**9,  # of a later index
    }
    for name, ns in copies.items():
        shutil.copy2(replica / y.path, folder / name)
        set_mtime(folder / name, ns)
    assert sorted(o.path for o in local_listing(replica)) == sorted(o.path for o in listing)
    assert [(p.txid, p.created_at) for p in ltx.open(str(replica)).history()] == before
    data, _ = theirs(replica, None)
    assert data is not None  # 0.3.13 restores, ignoring the copies
    assert hashlib.sha256(data).hexdigest() == manifest["restores"][0]["sha256"]
    for t in [None, *object_times(listing)[-6:], segs[-1].time_ns + 2 * 10**9]:
        check_same(replica, t)


def test_damage_0313_restores_silently_raises_here(fixture) -> None:
    """A bad frame checksum or an offset gap: SQLite's recovery stops early and 0.3.13 goes on
    (wrong or stale data at best); we raise LegacyFormatError naming the object."""
    replica, _, listing, _, other = fixture
    segs = segs_of(listing, other)
    mid = next(s for s, n in itertools.pairwise(segs) if s.offset > 0 and n.index == s.index)
    after = segs[segs.index(mid) + 1]
    gap = twin(replica, "gap")
    trunc = twin(replica, "trunc")
    body = bytearray(lz4.frame.decompress((replica / mid.path).read_bytes()))
    body[24 + 100] ^= 1
    (replica / mid.path).write_bytes(lz4.frame.compress(bytes(body)))
    set_mtime(replica / mid.path, mid.time_ns)
    (gap / mid.path).unlink()
    packed = (trunc / mid.path).read_bytes()
    (trunc / mid.path).write_bytes(packed[: len(packed) // 2])
    set_mtime(trunc / mid.path, mid.time_ns)
    for rep, bad, message in (
        (replica, mid, "checksum"),
        (gap, after, "gap"),
        (trunc, mid, "truncated"),
    ):
        with pytest.raises(LegacyFormatError, match=message) as err:
            ours(rep, None)
        assert err.value.path == bad.path
    assert theirs(replica, None)[0] is not None and theirs(gap, None)[0] is not None
    assert "unexpected EOF" in theirs(trunc, None)[1]


def test_the_face_keeps_nanoseconds_on_every_segment_boundary(fixture, tmp_path) -> None:
    """RFC 3339 text with nanoseconds, through ltx.open, lands where 0.3.13 lands: 1 ns
    before, at and 1 ns after every object's time (the CLI's history prints these)."""
    import ltx
    from ltx.legacy import format_time_ns

    replica, _, listing, _, _ = fixture
    face = ltx.open(str(replica))
    for t in sorted({o.time_ns + d for o in listing for d in (-1, 0, 1)}):
        data, _ = theirs(replica, t)
        out = tmp_path / "face.db"
        if data is None:
            with pytest.raises(LTXError):
                face.restore(out, timestamp=format_time_ns(t), overwrite=True)
            continue
        face.restore(out, timestamp=format_time_ns(t), overwrite=True)
        assert out.read_bytes() == data, format_time_ns(t)
