"""Small helpers shared by tests: build LTX files in memory."""

from __future__ import annotations

import io

import ltx
from ltx.codec import HEADER_FLAG_NO_CHECKSUM, Header
from ltx.dbfile import image_pages


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


def encode_tracked(
    min_txid: int,
    max_txid: int,
    pages: dict[int, bytes],
    *,
    commit: int,
    pre_apply: int,
    post_apply: int | None,
    page_size: int,
    timestamp: int = 1_790_000_000_000,
) -> bytes:
    """A checksum-tracked LTX file (flags 0); ``post_apply`` None: computed (snapshots)."""
    buf = io.BytesIO()
    h = Header(
        flags=0,
        page_size=page_size,
        commit=commit,
        min_txid=min_txid,
        max_txid=max_txid,
        timestamp=timestamp,
        pre_apply_checksum=0 if min_txid == 1 else pre_apply,
    )
    enc = ltx.Encoder(buf, h)
    for p in sorted(pages):
        enc.write_page(p, pages[p])
    enc.close(post_apply)
    return buf.getvalue()


def image_checksum(pages: dict[int, bytes]) -> int:
    """The LTX database checksum of a database given as its pages (lock page never present)."""
    from ltx.codec import DatabaseChecksum

    c = DatabaseChecksum()
    c.update(sorted(pages.items()))
    return c.value


def write_tracked_replica(replica: ltx.Replica, images: list[bytes], page_size: int) -> None:
    """Level-0 files TXIDs 1..len(images), checksum-tracked, written with our Encoder."""
    prev: dict[int, bytes] = {}
    for txid, image in enumerate(images, start=1):
        cur = image_pages(image, page_size)
        changed = cur if txid == 1 else {p: d for p, d in cur.items() if prev.get(p) != d}
        raw = encode_tracked(
            txid,
            txid,
            changed,
            commit=len(cur),
            pre_apply=image_checksum(prev),
            post_apply=image_checksum(cur),
            page_size=page_size,
            timestamp=1_790_000_000_000 + txid,
        )
        replica.store.write(0, txid, txid, raw, timestamp_ms=1_790_000_000_000 + txid)
        prev = cur


def append_and_compact(replica: ltx.Replica, images: list[bytes], page_size: int, config, t0):
    """Append each image's changed pages 7 s apart, compacting one second after each and
    once more 5 min after ``t0``; the levels seen after each compaction."""
    import datetime as dt

    prev: dict[int, bytes] = {}
    seen: set[int] = set()
    for i, image in enumerate(images):
        now = t0 + dt.timedelta(seconds=7 * i)
        cur = image_pages(image, page_size)
        replica.append({p: d for p, d in cur.items() if prev.get(p) != d}, len(cur), timestamp=now)
        prev = cur
        replica.compact(config, now=now + dt.timedelta(seconds=1))
        seen |= {f.level for f in replica.files()}
    replica.compact(config, now=t0 + dt.timedelta(minutes=5))
    return seen | {f.level for f in replica.files()}
