"""A real WAL database over 1 GiB (SQLite's lock page at byte offset 2**30 in it):
our snapshot, then a commit that writes past the lock page and grows the file, each
restored by the real ``litestream restore -txid N`` equal to the app's view."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from ltx.codec import lock_pgno
from ltx.replication import Replicator
from tests.conftest import needs_litestream
from tests.litestream_harness import restore

pytestmark = [pytest.mark.slow, pytest.mark.interop, needs_litestream]

PAGE = 65536
BLOB = 540_000_000
"""Two blobs of this size fill about 16,500 pages of 64 KiB: past page 16,385, the lock page."""


def _digest(chunks: Iterable[bytes | memoryview]) -> str:
    """SHA-256 of a database image whose first chunk holds the 100-byte header, with the
    header's change counter and version-valid-for zeroed (a restore may rewrite them)."""
    h, first = hashlib.sha256(), True
    for c in chunks:
        if first:
            head = bytes(c[:100])
            h.update(head[:24] + bytes(4) + head[28:92] + bytes(8))
            c, first = c[100:], False
        h.update(c)
    return h.hexdigest()


def _app_view(conn: sqlite3.Connection) -> str:
    """The digest of the database as the app's connection sees it now."""
    image = memoryview(conn.serialize())
    return _digest([image[:100], image[100:]])


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(16 << 20):
            yield chunk


def _build(db: Path) -> sqlite3.Connection:
    """Written straight into the db file (no journal: fast), then switched to WAL; a few
    random bytes on either side of the lock page so a misplaced page shows."""
    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in ("page_size=65536", "journal_mode=off", "synchronous=off"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)")
    for k in (1, 2):
        conn.execute("INSERT INTO t VALUES (?, zeroblob(?))", (k, BLOB))
    _scribble(conn, seed=1)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn


def _scribble(conn: sqlite3.Connection, seed: int) -> None:
    """Random bytes at the start of blob 1 (before the lock page) and near the end of
    blob 2 (past it), in one transaction."""
    conn.execute("BEGIN")
    for k, at in ((1, 1000 * seed), (2, BLOB - 300_000 * seed)):
        with conn.blobopen("t", "v", k) as blob:
            blob.seek(at)
            blob.write(os.urandom(200_000))
    conn.execute("COMMIT")


def test_database_over_1gib_restores_with_litestream(tmp_path: Path) -> None:
    db, url = tmp_path / "big.db", (tmp_path / "replica").as_uri()
    try:
        app = _build(db)
        assert db.stat().st_size > (lock_pgno(PAGE) + 10) * PAGE > 1 << 30
        truth: dict[int, str] = {}
        rep = Replicator(
            db, url, levels=False, checkpoint_interval=1e9, min_checkpoint_pages=1 << 30
        ).open()
        (snap,) = rep.sync()
        assert snap.snapshot and snap.commit > lock_pgno(PAGE) and snap.pages == snap.commit - 1
        truth[snap.txid] = _app_view(app)
        _scribble(app, seed=2)  # past the lock page, in the WAL
        app.execute("INSERT INTO t VALUES (3, randomblob(300000))")  # the file grows
        (inc,) = rep.sync()
        assert not inc.snapshot and inc.transactions == 2 and inc.commit > snap.commit
        truth[inc.txid] = _app_view(app)
        rep.stop()
        app.close()
        out = tmp_path / "restored.db"
        for txid, want in truth.items():
            proc = restore(url, out, txid=txid)
            assert proc.returncode == 0, proc.stderr
            assert _digest(_file_chunks(out)) == want, f"litestream restore -txid {txid}"
            out.unlink()
    finally:
        for p in tmp_path.glob("*.db*"):
            p.unlink()
