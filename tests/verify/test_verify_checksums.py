"""verify proves what the checksums can prove; compaction keeps them (issue 19)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import ltx
from ltx.codec import CHECKSUM_FLAG, SNAPSHOT_LEVEL, crc64, decode
from ltx.compaction.executor import merge_files
from ltx.errors import HeaderFieldError
from tests.changes.test_diff_util import append_images
from tests.helpers import (
    encode_tracked,
    image_checksum,
    sqlite_history,
    write_tracked_replica,
)
from tests.litestream_harness import have_litestream
from tests.litestream_harness import restore as litestream_restore

PS = 4096


def _files(root: Path, level: int) -> list[Path]:
    return sorted((root / "ltx" / str(level)).glob("*.ltx"))


def _set_post_apply(path: Path, post: int) -> None:
    """Rewrite the trailer's post-apply checksum, keeping the file checksum valid.

    The file checksum covers pages uncompressed, so it is patched instead of recomputed:
    CRC-64 is affine, and the post-apply checksum is the last thing it covers.
    """
    raw = bytearray(path.read_bytes())
    delta = (int.from_bytes(raw[-16:-8], "big") ^ post).to_bytes(8, "big")
    linear = crc64(delta, 0) ^ crc64(bytes(8), 0)
    stored = int.from_bytes(raw[-8:], "big")
    raw[-16:-8] = post.to_bytes(8, "big")
    raw[-8:] = (CHECKSUM_FLAG | (stored ^ linear)).to_bytes(8, "big")
    path.write_bytes(bytes(raw))


def _reencode(path: Path, change: dict[int, bytes] | None = None, post: int | None = None) -> None:
    """Re-encode a tracked file with pages changed, keeping its header (and trailer post
    unless ``post`` is given): every checksum of the file itself stays valid."""
    got = decode(path.read_bytes())
    h = got.header
    pages = {**got.pages, **(change or {})}
    post_apply = got.trailer.post_apply_checksum if post is None else post
    if h.is_snapshot and post is None:
        post_apply = image_checksum(pages)
    raw = encode_tracked(
        h.min_txid,
        h.max_txid,
        pages,
        commit=h.commit,
        pre_apply=h.pre_apply_checksum,
        post_apply=post_apply,
        page_size=h.page_size,
        timestamp=h.timestamp,
    )
    path.write_bytes(raw)


def _levels(r: ltx.Replica) -> None:
    """L1 1-3 and 4-6, L2 1-6, a snapshot at 6 (from L2), all by our executor."""
    l0 = {f.min_txid: f for f in r.store.list_level(0)}
    merge_files(r.store, [l0[1], l0[2], l0[3]], 1)
    merge_files(r.store, [l0[4], l0[5], l0[6]], 1)
    merge_files(r.store, r.store.list_level(1), 2)
    merge_files(r.store, r.store.list_level(2), SNAPSHOT_LEVEL)
    r.refresh()


@pytest.fixture
def nochecksum(tmp_path: Path) -> Path:
    """A replica as Litestream writes it: NoChecksum files at levels 0, 1, 2 and 9."""
    root = tmp_path / "plain"
    r = ltx.open(root.as_uri())
    append_images(r, sqlite_history(tmp_path / "plain.db", page_size=PS, steps=5), PS)
    _levels(r)
    return root


@pytest.fixture
def tracked(tmp_path: Path) -> Path:
    """A checksum-tracked replica written by our Encoder: L0 1..6 (and levels if asked)."""
    root = tmp_path / "tracked"
    images = sqlite_history(tmp_path / "tracked.db", page_size=PS, steps=5)
    write_tracked_replica(ltx.open(root.as_uri()), images, PS)
    return root


def test_clean_replicas_verify_deep(nochecksum: Path, tracked: Path) -> None:
    assert ltx.open(nochecksum.as_uri()).verify(deep=True).ok
    r = ltx.open(tracked.as_uri())
    assert r.verify(deep=True).ok
    _levels(r)
    report = ltx.open(tracked.as_uri()).verify(deep=True)
    assert report.ok, report.problems


@pytest.mark.parametrize("which", ["newest L0", "middle L0", "L1", "L2", "snapshot"])
def test_post_apply_on_a_nochecksum_file_is_refused(nochecksum: Path, which: str) -> None:
    path = {
        "newest L0": _files(nochecksum, 0)[-1],
        "middle L0": _files(nochecksum, 0)[2],
        "L1": _files(nochecksum, 1)[-1],
        "L2": _files(nochecksum, 2)[-1],
        "snapshot": _files(nochecksum, SNAPSHOT_LEVEL)[-1],
    }[which]
    _set_post_apply(path, CHECKSUM_FLAG | 0x1234)
    with pytest.raises(HeaderFieldError, match="post-apply checksum not allowed"):
        decode(path.read_bytes())
    report = ltx.open(nochecksum.as_uri()).verify()
    assert not report.ok
    assert [(p.kind, p.path) for p in report.problems] == [("format", str(path))]
    assert "post-apply checksum not allowed (found 8000000000001234)" in report.problems[0].message


@pytest.mark.parametrize("index", [1, 3, 5])
def test_deep_replay_finds_a_changed_page_under_a_stale_post_apply(
    tracked: Path, index: int
) -> None:
    path = _files(tracked, 0)[index]
    got = decode(path.read_bytes())
    pgno = max(got.pages)
    page = bytearray(got.pages[pgno])
    page[-1] ^= 0x01
    _reencode(path, {pgno: bytes(page)})
    assert ltx.open(tracked.as_uri()).verify().ok  # each file is sound by itself
    report = ltx.open(tracked.as_uri()).verify(deep=True)
    txid = got.header.max_txid
    found = [p for p in report.problems if p.kind == "checksum"]
    assert found and found[0].path == str(path), report.problems
    assert f"TXID {txid:016x}: post-apply checksum {got.trailer.post_apply_checksum:016x}" in (
        found[0].message
    )
    assert "expected " in found[0].message


def test_deep_replay_finds_a_stale_pre_apply(tracked: Path) -> None:
    path = _files(tracked, 0)[2]
    got = decode(path.read_bytes())
    h = got.header
    path.write_bytes(
        encode_tracked(
            h.min_txid,
            h.max_txid,
            got.pages,
            commit=h.commit,
            pre_apply=CHECKSUM_FLAG | 0x77,
            post_apply=got.trailer.post_apply_checksum,
            page_size=h.page_size,
            timestamp=h.timestamp,
        )
    )
    report = ltx.open(tracked.as_uri()).verify(deep=True)
    assert any(
        p.path == str(path) and "pre-apply checksum 8000000000000077" in p.message
        for p in report.problems
    ), report.problems


def test_levels_disagreeing_at_one_txid_are_named(tracked: Path) -> None:
    r = ltx.open(tracked.as_uri())
    _levels(r)
    snap = _files(tracked, SNAPSHOT_LEVEL)[-1]
    got = decode(snap.read_bytes())
    page = bytearray(got.pages[2])
    page[-1] ^= 0x01
    _reencode(snap, {2: bytes(page)})  # a consistent post-apply for the changed pages
    report = ltx.open(tracked.as_uri()).verify()
    assert not report.ok
    named = {p.path for p in report.problems if p.kind == "checksum"}
    assert str(_files(tracked, 0)[-1]) in named and str(_files(tracked, 2)[-1]) in named
    assert all("TXID 0000000000000006" in p.message for p in report.problems)


def test_compacting_a_tracked_replica_keeps_checksums(tracked: Path) -> None:
    r = ltx.open(tracked.as_uri())
    _levels(r)
    for level in (1, 2, SNAPSHOT_LEVEL):
        for path in _files(tracked, level):
            got = decode(path.read_bytes())
            assert not got.header.no_checksum and got.trailer.post_apply_checksum, path
    l0 = decode(_files(tracked, 0)[-1].read_bytes())
    snap = decode(_files(tracked, SNAPSHOT_LEVEL)[-1].read_bytes())
    assert snap.trailer.post_apply_checksum == l0.trailer.post_apply_checksum


def test_compaction_of_nochecksum_inputs_writes_nochecksum(nochecksum: Path) -> None:
    for level in (1, 2, SNAPSHOT_LEVEL):
        for path in _files(nochecksum, level):
            got = decode(path.read_bytes())
            assert got.header.no_checksum and got.trailer.post_apply_checksum == 0, path


def test_replica_compact_on_a_tracked_replica(tracked: Path) -> None:
    """``Replica.compact`` (``ltx compact``) used to fail: NoChecksum output with a post."""
    r = ltx.open(tracked.as_uri())
    steps = r.compact(now="2030-01-01T00:00:00Z")
    assert steps
    report = ltx.open(tracked.as_uri()).verify(deep=True)
    assert report.ok, report.problems


@pytest.mark.interop
@pytest.mark.skipif(not have_litestream(), reason="litestream not installed")
def test_litestream_restores_what_our_compaction_writes(nochecksum: Path, tmp_path: Path) -> None:
    """L1, L2 and the snapshot written by our executor read back in Litestream 0.5.17."""
    out = tmp_path / "restored.db"
    proc = litestream_restore(nochecksum.as_uri(), out)
    assert proc.returncode == 0, proc.stderr
    ours = tmp_path / "ours.db"
    ltx.open(nochecksum.as_uri()).restore(ours)
    assert out.read_bytes() == ours.read_bytes()
    con = sqlite3.connect(out)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()


@pytest.mark.interop
@pytest.mark.skipif(not have_litestream(), reason="litestream not installed")
def test_litestream_refuses_tracked_replicas_compacted_or_not(
    tracked: Path, tmp_path: Path
) -> None:
    """Litestream 0.5.17 restores through a NoChecksum encoder fed the inputs' post-apply
    checksum, so it refuses every checksum-tracked replica ("post-apply checksum not
    allowed"), as written and after our compaction alike; we restore both."""
    refused = "post-apply checksum not allowed"
    proc = litestream_restore(tracked.as_uri(), tmp_path / "before.db")
    assert proc.returncode != 0 and refused in proc.stderr
    _levels(ltx.open(tracked.as_uri()))
    proc = litestream_restore(tracked.as_uri(), tmp_path / "after.db")
    assert proc.returncode != 0 and refused in proc.stderr
    ours = tmp_path / "ours.db"
    ltx.open(tracked.as_uri()).restore(ours)
    con = sqlite3.connect(ours)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
