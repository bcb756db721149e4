"""The demo replica: a small local database written through ``append`` at several TXIDs,
then a snapshot, so a new user can read it back at two points in time."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import attrs

from ltx.dbfile import image_pages
from ltx.errors import UsageError
from ltx.replica import Replica
from ltx.replica import open as open_replica

__all__ = ["DemoPoint", "DemoResult", "build_demo"]


@attrs.frozen
class DemoPoint:
    """What the demo read back at one TXID."""

    txid: int
    page_count: int
    rows: int
    header: bytes


@attrs.frozen
class DemoResult:
    """The demo replica: its URL, files written, restorable TXIDs and two read-backs."""

    url: str
    files: int
    restorable: int
    points: tuple[DemoPoint, ...]


def _write_history(replica: Replica, db: Path, log: Callable[[str], None]) -> None:
    ps = 4096
    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute(f"PRAGMA page_size={ps}")
        con.execute("PRAGMA journal_mode=DELETE")
        con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        prev: dict[int, bytes] = {}
        base = int(time.time() * 1000) - 60_000
        for step in range(6):
            if step:
                con.execute("BEGIN")
                for i in range(25):
                    con.execute("INSERT INTO notes (body) VALUES (?)", (f"note {step}.{i} " * 8,))
                con.execute("COMMIT")
            cur = image_pages(db.read_bytes(), ps)
            changed = {p: d for p, d in cur.items() if prev.get(p) != d}
            info = replica.append(changed, len(cur), timestamp=base + step * 5000)
            log(f"txid {info.max_txid:016x}: wrote {len(changed)} pages ({info.size} bytes)")
            prev = cur
    finally:
        con.close()
    replica.write_snapshot(db)


def _count_rows(db: Path) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT count(*) FROM notes").fetchone()[0])
    finally:
        con.close()


def build_demo(
    directory: str | Path, *, force: bool = False, log: Callable[[str], None] = lambda _: None
) -> DemoResult:
    """Build the demo replica in ``directory`` and read it at an early and the latest TXID.

    An earlier demo replica there (a folder holding only ``ltx/``) is rebuilt; anything
    else is refused unless ``force``.
    """
    target = Path(directory).resolve()
    if target.exists() and any(target.iterdir()):
        earlier_demo = {p.name for p in target.iterdir()} == {"ltx"}
        if not (force or earlier_demo):
            raise UsageError(f"{target} is not empty; pass force=True (CLI: --force) to rebuild")
        shutil.rmtree(target)
    replica = open_replica(target.as_uri())
    with tempfile.TemporaryDirectory() as tmp:
        _write_history(replica, Path(tmp) / "notes.db", log)
    history = replica.history()
    points = []
    with tempfile.TemporaryDirectory() as tmp:
        for txid in (history[2].txid, history[-1].txid):
            page1 = replica.page_at(1, txid)
            out = Path(tmp) / f"at-{txid}.db"
            replica.restore(out, txid)
            pages = int.from_bytes(page1[28:32], "big")
            points.append(DemoPoint(txid, pages, _count_rows(out), page1[:15]))
    return DemoResult(target.as_uri(), len(replica.refresh()), len(history), tuple(points))
