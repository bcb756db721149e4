"""The codec against the real litestream 0.5.17: its files decode, ours restore."""

from __future__ import annotations

import io
import os
import sqlite3
from pathlib import Path

import pytest

import ltx
from ltx.codec import HEADER_FLAG_NO_CHECKSUM, Header, compact, decode, format_filename
from tests.helpers import image_pages, sqlite_history
from tests.litestream_harness import ltx_listing, restore, vfs_query

pytestmark = pytest.mark.interop


def _files(replica: Path) -> dict[int, list[Path]]:
    out: dict[int, list[Path]] = {}
    for level_dir in sorted((replica / "ltx").iterdir()):
        out[int(level_dir.name)] = sorted(level_dir.glob("*.ltx"))
    return out


def _replay(files: list[Path], upto: int) -> bytes:
    """Apply decoded L0 pages in TXID order up to ``upto``; return the database bytes."""
    db: dict[int, bytes] = {}
    commit = page_size = 0
    for path in files:
        dec = ltx.Decoder(path.open("rb"))
        if dec.header.max_txid > upto:
            break
        for ph, data in dec:
            db[ph.pgno] = data
        commit, page_size = dec.header.commit, dec.header.page_size
    zero = bytes(page_size)
    return b"".join(db.get(p, zero) for p in range(1, commit + 1))


@pytest.mark.slow
@pytest.mark.parametrize("page_size", [4096])
def test_litestream_files_decode_and_replay_matches_restore(recorded_replicas, tmp_path, page_size):
    _db, url = recorded_replicas(page_size)
    replica = Path(url[len("file://") :])
    files = _files(replica)
    assert {0, 1, 2, 9} <= set(files), files.keys()
    for level, paths in files.items():
        for path in paths:
            f = decode(path.read_bytes(), name=str(path))
            assert f.header.flags == HEADER_FLAG_NO_CHECKSUM
            assert ltx.parse_filename(path.name) == (f.header.min_txid, f.header.max_txid)
            # The file's mtime is the header timestamp (file:// backend).
            assert int(path.stat().st_mtime * 1000) // 1000 == f.header.timestamp // 1000, level
    l0 = files[0]
    txids = [ltx.parse_filename(p.name)[1] for p in l0]
    assert txids == list(range(1, len(txids) + 1))
    picks = sorted({txids[0], txids[len(txids) // 3], txids[len(txids) // 2], txids[-2], txids[-1]})
    for txid in picks:
        out = tmp_path / f"restored-{txid}.db"
        proc = restore(url, out, txid=txid)
        assert proc.returncode == 0, proc.stderr
        assert _replay(l0, txid) == out.read_bytes(), f"txid {txid}"


def test_our_compaction_equals_litestreams(recorded_replicas):
    """Compacting L0 runs with our compactor gives the same pages and header as L1/L2."""
    _, url = recorded_replicas(4096)
    replica = Path(url[len("file://") :])
    files = _files(replica)
    by_range = {ltx.parse_filename(p.name): p for p in files[0]}
    for level in (1, 2):
        for target in files[level]:
            lo, hi = ltx.parse_filename(target.name)
            inputs = [by_range[(t, t)] for t in range(lo, hi + 1)]
            out = io.BytesIO()
            compact([p.open("rb") for p in inputs], out)
            ours, theirs = decode(out.getvalue()), decode(target.read_bytes())
            assert ours.header == theirs.header
            assert ours.pages == theirs.pages


def _write_ltx(path: Path, header: Header, pages: dict[int, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fp:
        enc = ltx.Encoder(fp, header)
        for pgno in sorted(pages):
            enc.write_page(pgno, pages[pgno])
        enc.close()
    os.utime(path, ns=(header.timestamp * 1_000_000,) * 2)


def test_our_files_restore_with_litestream_and_open_in_vfs(tmp_path):
    ps = 4096
    src = tmp_path / "src.db"
    images = sqlite_history(src, page_size=ps)
    rows = sqlite3.connect(src).execute("SELECT count(*), sum(length(v)) FROM t").fetchone()

    replica = tmp_path / "replica"
    ts0 = 1_790_000_000_000
    prev: dict[int, bytes] = {}
    for txid, image in enumerate(images, start=1):
        cur = image_pages(image, ps)
        changed = {p: d for p, d in cur.items() if prev.get(p) != d}
        h = Header(
            flags=HEADER_FLAG_NO_CHECKSUM,
            page_size=ps,
            commit=len(cur),
            min_txid=txid,
            max_txid=txid,
            timestamp=ts0 + txid * 1000,
        )
        _write_ltx(
            replica / "ltx" / "0" / format_filename(txid, txid), h, changed if txid > 1 else cur
        )
        prev = cur
    # A level-9 snapshot of everything up to TXID 4.
    snap4 = image_pages(images[3], ps)
    h9 = Header(
        flags=2, page_size=ps, commit=len(snap4), min_txid=1, max_txid=4, timestamp=ts0 + 4500
    )
    _write_ltx(replica / "ltx" / "9" / format_filename(1, 4), h9, snap4)

    url = replica.as_uri()
    listed = ltx_listing(url)
    assert (9, 1, 4) in [r[:3] for r in listed]
    for txid in range(1, len(images) + 1):
        out = tmp_path / f"r{txid}.db"
        proc = restore(url, out, txid=txid)
        assert proc.returncode == 0, proc.stderr
        assert out.read_bytes() == images[txid - 1], txid
    out = tmp_path / "latest.db"
    assert restore(url, out).returncode == 0
    assert out.read_bytes() == images[-1]
    con = sqlite3.connect(out)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert con.execute("SELECT count(*), sum(length(v)) FROM t").fetchone() == rows
    con.close()
    assert vfs_query(url, "SELECT count(*), sum(length(v)) FROM t") == [rows]
