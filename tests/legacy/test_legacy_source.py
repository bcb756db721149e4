"""LegacySource, MixedSource, convert and age decryption over Stores, on the committed fixture.

No binary is needed: ``fixtures/legacy/manifest.json`` holds what 0.3.13 restored at
every object time (and 1 ns before), so every restore here is checked against it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import shutil
import struct
from pathlib import Path

import lz4.frame
import pytest

import ltx
from ltx.errors import (
    ConflictError,
    LegacyFormatError,
    PageNotFoundError,
    TxidNotAvailableError,
    UsageError,
)
from ltx.legacy import LegacyObject, LegacySource, MixedSource, convert, legacy_txid, split_txid
from ltx.legacy._age import parse_identities
from ltx.legacy._names import ns_to_datetime
from ltx.legacy._plan import plan_at
from ltx.legacy._plan05 import plan_v05
from ltx.legacy._wal import wal_checksum
from ltx.legacy.mixed import choose_side, mixed_time_bounds
from ltx.resolve import PageCache
from ltx.sources import LTXSource
from ltx.storage import FileInfo, open_store
from ltx.view import View
from tests.legacy_harness import load_fixture, memory_replica

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    replica, manifest = load_fixture(tmp_path_factory.mktemp("legacy-src") / "replica")
    return replica, manifest


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def restored(source: LegacySource, pm, where: Path) -> bytes:
    out = where / "out.db"
    source.restore(pm, out, overwrite=True)
    return out.read_bytes()


def expected_at(manifest, t: int):
    """What 0.3.13 restored at ``t``: the recorded entry at the latest time <= t."""
    entries = [e for e in manifest["restores"] if e["timestamp_ns"] is not None]
    return max((e for e in entries if e["timestamp_ns"] <= t), key=lambda e: e["timestamp_ns"])


def test_every_recorded_restore_over_a_file_store(fixture, tmp_path) -> None:
    replica, manifest = fixture
    source = LegacySource(open_store(replica.as_uri()))
    ok = 0
    for entry in manifest["restores"]:
        t = entry["timestamp_ns"]
        if "error" in entry:
            with pytest.raises(TxidNotAvailableError):
                source.page_map(timestamp=t)
            continue
        pm = source.page_map() if t is None else source.page_map(timestamp=t)
        assert sha(restored(source, pm, tmp_path)) == entry["sha256"], entry
        ok += 1
    assert ok > 50


def test_history_txids_times_and_views(fixture, tmp_path) -> None:
    replica, manifest = fixture
    source = LegacySource(open_store(replica.as_uri()))
    assert source.follow is None
    pts = source.history()
    assert len({p.txid for p in pts}) == len(pts)  # distinct across both generations
    assert [p.time_ns for p in pts] == sorted(p.time_ns for p in pts)
    for p in pts:
        assert split_txid(p.txid)[1] == p.position
        assert legacy_txid(p.generation, p.position) == p.txid
        by_txid = source.page_map(p.txid)
        assert by_txid.txid == p.txid and by_txid.generation == p.generation
        assert source.page_map(timestamp=p.created_at).plan == by_txid.plan  # microseconds
        assert source.page_map(timestamp=p.time_ns).plan == by_txid.plan  # nanoseconds
        assert (
            sha(restored(source, by_txid, tmp_path)) == expected_at(manifest, p.time_ns)["sha256"]
        )
    lo, hi = source.time_bounds()
    times = manifest["mtimes_ns"].values()
    assert (lo, hi) == (ns_to_datetime(min(times)), ns_to_datetime(max(times)))
    view = View(source, source.page_map())
    assert view.read(0, 16) == b"SQLite format 3\x00"
    assert (
        view.size
        == view.page_count * view.page_size
        == expected_at(manifest, hi.timestamp() * 10**9 + 10**6)["size"]
    )
    with pytest.raises(PageNotFoundError):
        view.page(view.page_count + 1)
    with pytest.raises(TxidNotAvailableError):
        source.page_map(pts[-1].txid + 1)


def test_lazy_pages_fill_the_cache(fixture, tmp_path) -> None:
    replica, _ = fixture
    cache = PageCache(cache_dir=tmp_path / "cache")
    source = LegacySource(open_store(replica.as_uri()), cache=cache)
    pm = source.page_map()
    whole = restored(source, pm, tmp_path)
    ps = pm.page_size
    before = source.open_object.gets
    for pgno in (pm.commit, 1, 2, pm.commit):  # the snapshot is read up to the last page once
        assert source.read_page(pm, pgno) == whole[(pgno - 1) * ps : pgno * ps]
    assert source.open_object.gets - before <= 2
    again = LegacySource(
        open_store(replica.as_uri()), cache=PageCache(cache_dir=tmp_path / "cache")
    )
    pm2 = again.page_map()
    gets = again.open_object.gets
    assert all(
        again.read_page(pm2, p) == whole[(p - 1) * ps : p * ps] for p in range(1, pm2.commit + 1)
    )
    assert again.open_object.gets == gets  # every page came from the disk cache


def test_memory_store_reads_like_the_file_store(fixture, tmp_path) -> None:
    replica, manifest = fixture
    url = memory_replica(replica, "legacy-mem/db", manifest["mtimes_ns"])
    mem = LegacySource(open_store(url))
    disk = LegacySource(open_store(replica.as_uri()))
    assert [(p.generation, p.position) for p in mem.history()] == [
        (p.generation, p.position) for p in disk.history()
    ]
    assert sha(restored(mem, mem.page_map(), tmp_path)) == manifest["restores"][0]["sha256"]


# --- hostile objects through the store ------------------------------------------------


def rel(obj: LegacyObject) -> str:
    """The object's path from ``generations/`` (stores list full paths)."""
    return obj.path[obj.path.index("generations/") :]


def _latest_segments(source: LegacySource) -> list[LegacyObject]:
    return list(source.page_map().plan.segments)


def _rewrite(path: Path, body: bytes, ns: int) -> None:
    import os

    path.write_bytes(lz4.frame.compress(body))
    os.utime(path, ns=(ns, ns))


def _damage(kind: str, replica: Path, segs: list[LegacyObject]) -> LegacyObject:
    """Damage one segment (or drop one) of the latest plan; the object the error names."""
    mid = next(s for s, n in itertools.pairwise(segs) if s.offset > 0 and n.index == s.index)
    path = replica / rel(mid)
    body = bytearray(lz4.frame.decompress(path.read_bytes()))
    if kind == "truncated":
        packed = path.read_bytes()
        path.write_bytes(packed[: len(packed) // 2])
    elif kind == "checksum":
        body[24 + 10] ^= 0xFF
        _rewrite(path, bytes(body), mid.time_ns)
    elif kind == "salt":
        salt1 = struct.unpack(">I", body[8:12])[0]
        body[8:12] = struct.pack(">I", salt1 ^ 1)
        _rewrite(path, bytes(body), mid.time_ns)
    elif kind == "gap":
        path.unlink()
        return segs[segs.index(mid) + 1]
    return mid


@pytest.mark.parametrize("kind", ["truncated", "checksum", "salt", "gap"])
def test_damaged_objects_raise_naming_the_object(fixture, tmp_path, kind) -> None:
    src, _ = fixture
    replica = tmp_path / "replica"
    shutil.copytree(src, replica)
    source = LegacySource(open_store(replica.as_uri()))
    segs = _latest_segments(source)
    bad = _damage(kind, replica, segs)
    url = memory_replica(replica, f"hostile/{kind}", None)
    for store in (open_store(replica.as_uri()), open_store(url)):
        with pytest.raises(
            LegacyFormatError, match=kind if kind != "checksum" else "checksum"
        ) as err:
            LegacySource(store).page_map()
        assert err.value.path.endswith(rel(bad))


def test_wal_checksum_is_what_sqlite_computes() -> None:
    assert wal_checksum(b"\x01\x00\x00\x00\x02\x00\x00\x00", big_endian=False) == (1, 3)


def test_non_hex_generations_are_skipped(fixture, tmp_path) -> None:
    src, _ = fixture
    replica = tmp_path / "replica"
    shutil.copytree(src, replica)
    gens = sorted(p.name for p in (replica / "generations").iterdir())
    for bad in (gens[0].upper(), "z" * 16, gens[0][:-1]):
        shutil.copytree(replica / "generations" / gens[0], replica / "generations" / bad)
    url = memory_replica(replica, "hostile/names", None)
    for store in (open_store(replica.as_uri()), open_store(url)):
        assert {o.generation for o in LegacySource(store).listing()} == set(gens)


# --- 0.5.17's rules and the mixed root -------------------------------------------------


def test_plan_v05_differs_from_0313_between_generations(fixture) -> None:
    replica, _ = fixture
    source = LegacySource(open_store(replica.as_uri()))
    listing = source.listing()
    by_gen: dict[str, list[int]] = {}
    for o in listing:
        by_gen.setdefault(o.generation, []).append(o.time_ns)
    first, second = sorted(by_gen.values(), key=min)
    gap = (max(first) + min(second)) // 2
    with pytest.raises(TxidNotAvailableError):
        plan_at(listing, gap)  # 0.3.13: no generation's bounds hold the time
    plan = plan_v05(listing, gap)  # 0.5.17: the newest snapshot before it, and its segments
    assert max(o.time_ns for o in (plan.snapshot, *plan.segments)) == max(first)
    assert plan == plan_at(listing, max(first))


def _ltx(level: int, lo: int, hi: int, ns: int) -> FileInfo:
    return FileInfo(level, lo, hi, 100, ns_to_datetime(ns), f"{level}/{lo}-{hi}")


def _obj(kind: str, index: int, offset: int, ns: int, gen: str = "0" * 16) -> LegacyObject:
    name = (
        f"{index:08x}.snapshot.lz4" if kind == "snapshot" else f"{index:08x}_{offset:08x}.wal.lz4"
    )
    folder = "snapshots" if kind == "snapshot" else "wal"
    return LegacyObject(
        f"generations/{gen}/{folder}/{name}",
        gen,
        kind,
        index,
        offset,
        10,
        ns_to_datetime(ns),
        True,
        ns,
    )  # type: ignore[arg-type]


def test_choose_side_follows_0517() -> None:
    us = 1000  # times in microseconds, as LTX listings have them
    v3 = [
        _obj("snapshot", 0, 0, 100 * us),
        _obj("wal", 0, 0, 110 * us),
        _obj("wal", 0, 1000, 120 * us),
    ]
    l0, l9 = _ltx(0, 1, 1, 200 * us), _ltx(9, 1, 1, 300 * us)
    assert choose_side(v3, []) == "legacy" and choose_side([], [l0]) == "ltx"
    assert choose_side(v3, [l0, l9]) == "ltx"  # latest: the newer half
    assert choose_side(v3, [_ltx(0, 1, 1, 115 * us)]) == "legacy"
    assert choose_side(v3, [_ltx(0, 1, 1, 120 * us)]) == "ltx"  # a tie goes to LTX
    assert choose_side(v3, [l0, l9], timestamp=115 * us) == "legacy"
    assert choose_side(v3, [l0, l9], timestamp=250 * us) == "legacy"  # no LTX snapshot yet
    assert choose_side(v3, [l0, l9], timestamp=300 * us) == "legacy"  # it must be *before* T
    assert choose_side(v3, [l0, l9], timestamp=300 * us + 1) == "ltx"
    late = [l0, _ltx(9, 1, 1, 400 * us)]
    assert choose_side(v3, [l0, l9], timestamp=301 * us, ltx_exact=late) == "legacy"
    assert choose_side(v3, [l0, l9], timestamp=99 * us) == "ltx"  # no 0.3 snapshot by then
    newer = [*v3, _obj("snapshot", 1, 0, 350 * us)]
    assert choose_side(newer, [l0, l9], timestamp=360 * us) == "legacy"  # 0.3 snapshot newer
    assert mixed_time_bounds(v3, [l0, l9]) == (100 * us, 300 * us)


def test_mixed_root_reads_each_period_from_its_half(fixture, tmp_path) -> None:
    src, manifest = fixture
    root = tmp_path / "root"
    shutil.copytree(src, root)
    store = open_store(root.as_uri())
    legacy = LegacySource(store, rules="0.5.17")
    db = tmp_path / "latest.db"
    legacy.restore(legacy.page_map(), db)
    end = max(manifest["mtimes_ns"].values())
    ltx_half = ltx.Replica(open_store(root.as_uri()))
    t1, t2 = end // 10**6 + 1000, end // 10**6 + 2000  # ms: an L0, then an L9 a second later
    pages = {
        i + 1: db.read_bytes()[i * 1024 : (i + 1) * 1024] for i in range(db.stat().st_size // 1024)
    }
    ltx_half.append(
        pages, len(pages), timestamp=dt.datetime.fromtimestamp(t1 / 1000, UTC), page_size=1024
    )
    ltx_half.write_snapshot(db, timestamp=dt.datetime.fromtimestamp(t2 / 1000, UTC))
    t3 = t2 + 1000
    ltx_half.append({1: pages[1]}, len(pages), timestamp=dt.datetime.fromtimestamp(t3 / 1000, UTC))
    mixed = MixedSource(legacy, LTXSource(open_store(root.as_uri())))
    assert mixed.side() == "ltx"
    first_pt = legacy.history()[3]
    assert mixed.side(timestamp=first_pt.time_ns) == "legacy"
    assert mixed.side(timestamp=(t1 + 500) * 10**6) == "legacy"  # before 0.5's first snapshot
    assert mixed.side(timestamp=(t2 + 0) * 10**6 + 1) == "ltx"
    with pytest.raises(TxidNotAvailableError, match="timestamp does not exist"):
        mixed.page_map(timestamp=t3 * 10**6 + 1)
    pm = mixed.page_map(timestamp=first_pt.time_ns)
    assert sha(restored(legacy, pm, tmp_path)) == expected_at(manifest, first_pt.time_ns)["sha256"]
    hist = mixed.history()
    assert [p.side for p in hist] == ["legacy"] * len(legacy.history()) + ["ltx", "ltx"]
    out = tmp_path / "mixed.db"
    latest = mixed.page_map()
    mixed.restore(latest, out)
    assert (
        out.read_bytes() == db.read_bytes() and mixed.read_page(latest, 1) == db.read_bytes()[:1024]
    )


# --- convert ------------------------------------------------------------------------------


def test_convert_keeps_every_point_and_resumes(fixture, tmp_path) -> None:
    src, manifest = fixture
    source = LegacySource(open_store(src.as_uri()))
    dst = tmp_path / "converted"
    seen: list[tuple[int, int]] = []
    dry = convert(source, dst.as_uri(), dry_run=True)
    assert dry.written == 0 and not dst.exists()
    report = convert(source, dst.as_uri(), progress=lambda d, t: seen.append((d, t)))
    pts = source.history()
    assert report.written == len(pts) + 1 and seen[-1] == (len(pts) + 1, len(pts) + 1)
    assert [s.max_txid for s in report.steps[:-1]] == list(range(1, len(pts) + 1))
    assert sum(s.level == 9 for s in report.steps) >= 3  # a generation start or a new snapshot
    replica = ltx.open(dst.as_uri())
    assert [p.txid for p in replica.history()] == list(range(1, len(pts) + 1))
    for p in pts:
        txid = report.txids[p.txid]
        out = tmp_path / "c.db"
        replica.restore(out, txid, overwrite=True)
        assert sha(out.read_bytes()) == expected_at(manifest, p.time_ns)["sha256"], p
    steps = [s for s in report.steps if s.level != 1]
    for s, nxt in itertools.pairwise(steps):
        when = ns_to_datetime((s.timestamp_ms + 1) * 10**6)
        if (s.timestamp_ms + 1) * 10**6 < nxt.time_ns:  # a time 0.3.13 restores s at
            replica.restore(tmp_path / "t.db", timestamp=when, overwrite=True)
            assert (
                sha((tmp_path / "t.db").read_bytes()) == expected_at(manifest, s.time_ns)["sha256"]
            )
    # resume: drop some files, run again, get the same replica
    victims = [p for p in sorted((dst / "ltx").rglob("*.ltx"))][::7]
    for v in victims:
        v.unlink()
    again = convert(source, dst.as_uri())
    assert (again.written, again.skipped) == (len(victims), len(report.steps) - len(victims))
    (dst / "ltx" / "0" / "00000000000000ff-00000000000000ff.ltx").write_bytes(b"x")
    with pytest.raises(ConflictError, match="not part of this conversion"):
        convert(source, dst.as_uri())


# --- age --------------------------------------------------------------------------------


def test_age_encrypted_replica(fixture, tmp_path) -> None:
    pyrage = pytest.importorskip("pyrage")
    src, manifest = fixture
    key = pyrage.x25519.Identity.generate()
    enc = tmp_path / "enc"
    shutil.copytree(src, enc)
    import os

    for path in (enc / "generations").rglob("*.lz4"):
        ns = path.stat().st_mtime_ns
        path.write_bytes(pyrage.encrypt(path.read_bytes(), [key.to_public()]))
        os.utime(path, ns=(ns, ns))
    store = open_store(enc.as_uri())
    text = f"# created: test\n# public key: {key.to_public()}\n{key}\n"
    source = LegacySource(store, age_identity=text)
    assert sha(restored(source, source.page_map(), tmp_path)) == manifest["restores"][0]["sha256"]
    with pytest.raises(LegacyFormatError, match="age-encrypted") as err:
        LegacySource(store).page_map()
    assert err.value.path and err.value.path.endswith(".lz4")
    other = str(pyrage.x25519.Identity.generate())
    with pytest.raises(LegacyFormatError, match="wrong or missing age identity") as err:
        LegacySource(store, age_identity=[other]).page_map()
    assert err.value.path and "generations/" in err.value.path
    assert parse_identities(text) == [str(key)]
    with pytest.raises(UsageError):
        LegacySource(store, age_identity="AGE-SECRET-KEY-1NOTAKEY")
    with pytest.raises(UsageError):
        parse_identities("# only a comment\n")


def test_convert_between_memory_stores(fixture, tmp_path) -> None:
    src, manifest = fixture
    url = memory_replica(src, "conv/src", manifest["mtimes_ns"])
    dst = open_store("memory://conv/dst")
    report = convert(open_store(url), dst)
    assert report.destination == dst.url and report.written == len(report.steps)
    out = tmp_path / "m.db"
    ltx.open("memory://conv/dst").restore(out)
    assert sha(out.read_bytes()) == manifest["restores"][0]["sha256"]
    assert convert(open_store(url), open_store("memory://conv/dst")).written == 0
