"""Small helpers shared by tests: build LTX files in memory."""

from __future__ import annotations

import io

import ltx
from ltx.codec import HEADER_FLAG_NO_CHECKSUM, Header
from ltx.dbfile import image_pages  # noqa: F401 - re-exported for the tests


def ltx_bytes(
    min_txid: int,
    max_txid: int,
    pages: dict[int, bytes],
    *,
    commit: int | None = None,
    page_size: int = 512,
    timestamp: int = 1_790_000_000_000,
) -> bytes:
    """A NoChecksum LTX file (Litestream style) holding ``pages``."""
    buf = io.BytesIO()
    h = Header(
        flags=HEADER_FLAG_NO_CHECKSUM,
        page_size=page_size,
        commit=commit if commit is not None else max(pages, default=1),
        min_txid=min_txid,
        max_txid=max_txid,
        timestamp=timestamp,
    )
    enc = ltx.Encoder(buf, h)
    for p in sorted(pages):
        enc.write_page(p, pages[p])
    enc.close()
    return buf.getvalue()


def sqlite_history(path, *, page_size: int = 4096, steps: int = 6) -> list[bytes]:
    """Images of a rollback-journal SQLite file after each of ``steps`` transactions.

    The first image is the empty schema; one step deletes rows so pages get freed.
    """
    import sqlite3

    con = sqlite3.connect(path, isolation_level=None)
    con.execute(f"PRAGMA page_size={page_size}")
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    images = [path.read_bytes()]
    for i in range(steps):
        con.execute("BEGIN")
        for j in range(40):
            con.execute("INSERT INTO t (v) VALUES (?)", (f"row {i}-{j} " + "x" * (i * 50),))
        if i == 3:
            con.execute("DELETE FROM t WHERE id % 2 = 0")
        con.execute("COMMIT")
        images.append(path.read_bytes())
    con.close()
    return images
