"""The live WAL reader against SQLite's own recovery, on WALs written by real SQLite."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ltx.errors import DatabaseFormatError, UsageError
from ltx.sqlitefmt.wal import (
    WAL_HEADER_SIZE,
    WALHeader,
    WALPosition,
    frame_size,
    resume_position,
    scan_wal,
)
from ltx.testing import run_sql_transaction, sql_workloads


def _reader(data: bytes):  # type: ignore[no-untyped-def]
    return lambda offset, n: data[offset : offset + n]


def _make(tmp: Path, page_size: int, workload: list) -> tuple[bytes, bytes]:  # type: ignore[type-arg]
    """Run ``workload`` on a fresh WAL database: the base file and the WAL it left."""
    db = tmp / "src.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(f"PRAGMA page_size={page_size}")
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    base = db.read_bytes()
    for txn in workload:
        run_sql_transaction(conn, txn)
    wal = Path(f"{db}-wal").read_bytes()
    conn.close()  # checkpoints and deletes the WAL; we kept a copy
    return base, wal


def _sqlite_recovers(tmp: Path, base: bytes, wal: bytes) -> bytes:
    """What SQLite makes of ``base`` + ``wal``: its recovery, then a full checkpoint."""
    db = tmp / "truth.db"
    db.write_bytes(base)
    Path(f"{db}-wal").write_bytes(wal)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    conn.close()
    return db.read_bytes()


def _apply(base: bytes, page_size: int, commit: int, pages: dict[int, bytes]) -> bytes:
    out = bytearray(base)
    for pgno, data in sorted(pages.items()):
        at = (pgno - 1) * page_size
        if len(out) < at:
            out.extend(bytes(at - len(out)))
        out[at : at + page_size] = data
    return bytes(out[: commit * page_size]) if commit else base


@settings(max_examples=25, deadline=None)
@given(
    page_size=st.sampled_from([512, 1024, 4096]),
    workload=sql_workloads(),
    damage=st.one_of(st.none(), st.tuples(st.sampled_from(["cut", "flip"]), st.floats(0, 1))),
    split=st.integers(0, 20000),
)
def test_scan_matches_sqlite_recovery(
    page_size: int,
    workload: list,
    damage: tuple[str, float] | None,
    split: int,  # type: ignore[type-arg]
) -> None:
    """Committed transactions only, up to the first invalid frame, as SQLite recovers."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        base, wal = _make(tmp, page_size, workload)
        if damage is not None and len(wal) > WAL_HEADER_SIZE:
            kind, where = damage
            at = WAL_HEADER_SIZE + int(where * (len(wal) - WAL_HEADER_SIZE - 1))
            wal = wal[:at] if kind == "cut" else wal[:at] + bytes([wal[at] ^ 0x5A]) + wal[at + 1 :]
        truth = _sqlite_recovers(tmp, base, wal)
    if len(wal) < WAL_HEADER_SIZE:  # nothing was written: no WAL to read
        assert truth == base
        return
    header = WALHeader.parse(wal[:WAL_HEADER_SIZE])
    whole = scan_wal(header, _reader(wal))
    assert _apply(base, page_size, whole.commit, whole.pages) == truth
    # the same pages kept as frame offsets instead of bytes (what a snapshot reads)
    lean = scan_wal(header, _reader(wal), keep_pages=False)
    assert lean.pages == {} and attrs.evolve(lean, offsets={}) == attrs.evolve(whole, pages={})
    fsz, hsz = frame_size(page_size), frame_size(page_size) - page_size
    assert {p: wal[at + hsz : at + fsz] for p, at in lean.offsets.items()} == whole.pages
    # the same in two scans, resuming where the first stopped
    first = scan_wal(header, _reader(wal), max_bytes=split)
    assert resume_position(header, _reader(wal), first.end.offset) == first.end
    rest = scan_wal(header, _reader(wal), first.end)
    assert rest.end == whole.end
    assert first.transactions + rest.transactions == whole.transactions
    merged = {**first.pages, **rest.pages}
    commit = rest.commit or first.commit
    merged = {p: v for p, v in merged.items() if p <= commit}
    assert _apply(base, page_size, commit, merged) == truth


def test_positions_that_are_not_frame_ends(tmp_path: Path) -> None:
    """A resume offset inside a frame, before the header or in a restarted WAL is refused."""
    _base, wal = _make(tmp_path, 1024, [[("insert", 1, 10)], [("insert", 2, 10)]])
    header = WALHeader.parse(wal[:32])
    read = _reader(wal)
    fsz = frame_size(1024)
    assert resume_position(header, read, 32) == WALPosition.start(header)
    assert resume_position(header, read, 33) is None
    assert resume_position(header, read, 32 + 1000 * fsz) is None
    end = scan_wal(header, read).end
    assert resume_position(header, read, end.offset) == end
    restarted = attrs.evolve(header, salt1=header.salt1 + 1)
    assert resume_position(restarted, read, end.offset) is None
    with pytest.raises(UsageError):
        scan_wal(restarted, read, end)


def test_bad_header_is_a_format_error() -> None:
    with pytest.raises(DatabaseFormatError, match="not a WAL header"):
        WALHeader.parse(bytes(32), path="x.db-wal")


@settings(max_examples=15, deadline=None)
@given(page_size=st.sampled_from([512, 4096]), workload=sql_workloads(), split=st.integers(0, 9000))
def test_published_frames_read_as_sqlite_readers_do(
    page_size: int,
    workload: list,
    split: int,  # type: ignore[type-arg]
) -> None:
    """Frames SQLite's index published, read without checksums, give what the verifying
    scan gives, whole or resumed."""
    with tempfile.TemporaryDirectory() as d:
        _base, wal = _make(Path(d), page_size, workload)
    if len(wal) < WAL_HEADER_SIZE:
        return
    header, read = WALHeader.parse(wal[:WAL_HEADER_SIZE]), _reader(wal)
    whole = scan_wal(header, read)
    published = (whole.end.offset - WAL_HEADER_SIZE) // frame_size(page_size)
    fast = scan_wal(header, read, max_frames=published, trust_published=True)
    assert (fast.end, fast.commit, fast.pages, fast.transactions) == (
        whole.end,
        whole.commit,
        whole.pages,
        whole.transactions,
    )
    first = scan_wal(header, read, max_bytes=split, max_frames=published, trust_published=True)
    rest = scan_wal(header, read, first.end, max_frames=published, trust_published=True)
    assert rest.end == whole.end


def test_published_frames_are_verified_after_a_restart(tmp_path: Path) -> None:
    """When the WAL header changed by the end of a trusting scan (a restart began while
    it read), the scan is redone with checksums: a damaged frame then ends the log."""
    _base, wal = _make(tmp_path, 1024, [[("insert", i, 300)] for i in range(6)])
    header = WALHeader.parse(wal[:32])
    fsz = frame_size(1024)
    frames = (len(wal) - 32) // fsz
    damaged = bytearray(wal)
    damaged[32 + 2 * fsz + 100] ^= 0x5A  # inside frame 3's page
    trusting = scan_wal(header, _reader(bytes(damaged)), max_frames=frames, trust_published=True)
    assert trusting.frames == frames  # trusted as published
    reads = {"header": 0}

    def restarting(offset: int, n: int) -> bytes:
        if offset == 16:  # the final header check sees new salts
            reads["header"] += 1
            return bytes(8)
        return bytes(damaged[offset : offset + n])

    redone = scan_wal(header, restarting, max_frames=frames, trust_published=True)
    assert reads["header"] == 1
    assert redone.frames == 2 and "checksum mismatch" in redone.stopped
