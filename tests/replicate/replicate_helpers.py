"""Shared pieces of the replicator tests: an app database and its truth per TXID."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import ltx
from ltx.codec import lock_pgno
from tests.backends import S3_ENV


def target(kind: str, request: Any, tmp_path: Path) -> tuple[str, dict[str, Any], dict[str, str]]:
    """A new replica on ``file`` or moto ``s3``: (url, ``replica_options``, the
    environment a litestream subprocess needs for it)."""
    if kind == "file":
        return (tmp_path / "replica").as_uri(), {}, {}
    ep = request.getfixturevalue("s3_endpoint")
    url = f"s3://ltx-test/rep-{uuid.uuid4().hex[:10]}/db?endpoint={ep}&region=us-east-1"
    return url, {"env": S3_ENV}, S3_ENV


def app_db(path: Path, *, page_size: int = 4096, autocheckpoint: int = 0) -> sqlite3.Connection:
    """A WAL database as an app opens it (autocommit, its own autocheckpoint setting)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA page_size={page_size}")
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint}")
    conn.execute("CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v BLOB)")
    return conn


def insert(conn: sqlite3.Connection, k: int, size: int = 3000) -> None:
    """Row ``k`` of ``app_db``'s table, ``size`` bytes of ``k % 251``: about a page each."""
    conn.execute("INSERT INTO t VALUES (?, ?)", (k, bytes([k % 251]) * size))


def image(conn: sqlite3.Connection) -> bytes:
    """The database as the app sees it now, page for page."""
    return conn.serialize()


def replica_image(url: str, txid: int | None, **options: object) -> bytes:
    """The database ``ltx.open`` reads at ``txid`` (None: the latest; the lock page as
    zeros)."""
    view = ltx.open(url, **options).view(txid)  # type: ignore[arg-type]
    lock = lock_pgno(view.page_size)
    return b"".join(
        bytes(view.page_size) if p == lock else view.page(p) for p in range(1, view.page_count + 1)
    )


def same_db(a: bytes, b: bytes) -> bool:
    """Equal images, ignoring the header's file change counter and version-valid-for
    (bytes 24..27 and 92..99), which a restore may rewrite."""

    def norm(x: bytes) -> bytes:
        return x[:24] + bytes(4) + x[28:92] + bytes(8) + x[100:]

    return norm(a) == norm(b)
