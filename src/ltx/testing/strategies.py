"""Hypothesis strategies for LTX headers, pages, whole files and transaction histories.

Every strategy draws only valid values (what the Go encoder accepts); keyword-only
knobs keep examples small by default so property tests stay fast.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from ltx.codec import (
    CHECKSUM_FLAG,
    HEADER_FLAG_NO_CHECKSUM,
    DatabaseChecksum,
    Header,
    encode_pages,
    lock_pgno,
)
from ltx.testing import EXTRA_HINT

try:
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - without the testing extra
    raise ImportError(EXTRA_HINT.format("hypothesis")) from None

__all__ = [
    "LTXFileModel",
    "encode_model",
    "page_sizes",
    "pages",
    "headers",
    "page_sets",
    "ltx_files",
    "histories",
    "replay",
    "run_sql_transaction",
    "sql_workloads",
]

ALL_PAGE_SIZES = (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)


@attrs.frozen
class LTXFileModel:
    """What a file encodes: its header, its pages by pgno and its post-apply checksum."""

    header: Header
    pages: dict[int, bytes]
    post_apply_checksum: int


def encode_model(model: LTXFileModel) -> bytes:
    """Encode a model with ``ltx.Encoder``; the bytes decode back to the model."""
    return encode_pages(model.header, model.pages, post_apply_checksum=model.post_apply_checksum)


def page_sizes(*, max_size: int = 4096) -> st.SearchStrategy[int]:
    """Valid LTX page sizes up to ``max_size`` (all eight by passing 65536)."""
    return st.sampled_from([p for p in ALL_PAGE_SIZES if p <= max_size])


def _make_page(page_size: int, prefix: bytes, fill: int, cut: int, noise: bytes) -> bytes:
    body = prefix + bytes([fill]) * (page_size - len(prefix))
    if noise:
        cut = min(cut, page_size - len(noise))
        body = body[:cut] + noise + body[cut + len(noise) :]
    return body[:page_size]


def pages(page_size: int) -> st.SearchStrategy[bytes]:
    """One page of exactly ``page_size`` bytes: compressible runs with random patches."""
    return st.builds(
        _make_page,
        st.just(page_size),
        st.binary(max_size=min(64, page_size)),
        st.integers(0, 255),
        st.integers(0, page_size),
        st.binary(max_size=min(256, page_size)),
    )


@st.composite
def headers(
    draw: st.DrawFn,
    *,
    page_size: int | None = None,
    snapshot: bool | None = None,
    no_checksum: bool | None = None,
    max_commit: int = 16,
) -> Header:
    """A valid header; fix any of ``page_size``, ``snapshot``, ``no_checksum`` to narrow it."""
    ps = page_size if page_size is not None else draw(page_sizes())
    snap = draw(st.booleans()) if snapshot is None else snapshot
    nock = draw(st.booleans()) if no_checksum is None else no_checksum
    min_commit = 1 if nock else 0
    commit = draw(st.integers(min_commit, max_commit))
    min_txid = 1 if snap else draw(st.integers(2, 1 << 40))
    max_txid = min_txid + draw(st.integers(0, 1000))
    pre = 0
    if not snap and not nock:
        pre = CHECKSUM_FLAG | draw(st.integers(1, (1 << 63) - 1))
    wal_offset = draw(st.sampled_from([0, 32, 4096 + 32]))
    wal_size = draw(st.integers(0, 1 << 20)) if wal_offset else 0
    salts = draw(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)))
    if not wal_offset:
        salts = (0, 0)
    return Header(
        flags=HEADER_FLAG_NO_CHECKSUM if nock else 0,
        page_size=ps,
        commit=commit,
        min_txid=min_txid,
        max_txid=max_txid,
        timestamp=draw(st.integers(0, 4_000_000_000_000)),
        pre_apply_checksum=pre,
        wal_offset=wal_offset,
        wal_size=wal_size,
        wal_salt1=salts[0],
        wal_salt2=salts[1],
        node_id=draw(st.integers(0, 2**64 - 1)),
    )


@st.composite
def page_sets(draw: st.DrawFn, header: Header) -> dict[int, bytes]:
    """Pages a file with ``header`` may hold: all of 1..Commit for a snapshot, else a subset."""
    lock = lock_pgno(header.page_size)
    candidates = [p for p in range(1, header.commit + 1) if p != lock]
    if header.is_snapshot:
        chosen = candidates
    else:
        chosen = sorted(draw(st.sets(st.sampled_from(candidates))) if candidates else [])
    page = pages(header.page_size)
    return {p: draw(page) for p in chosen}


@st.composite
def ltx_files(
    draw: st.DrawFn,
    *,
    page_size: int | None = None,
    snapshot: bool | None = None,
    no_checksum: bool | None = None,
    max_commit: int = 16,
) -> tuple[bytes, LTXFileModel]:
    """A valid LTX file's bytes and the model they encode."""
    header = draw(
        headers(
            page_size=page_size,
            snapshot=snapshot,
            no_checksum=no_checksum,
            max_commit=max_commit,
        )
    )
    page_map = draw(page_sets(header))
    if header.no_checksum:
        post = 0
    elif header.commit == 0:
        post = CHECKSUM_FLAG
    elif header.is_snapshot:
        acc = DatabaseChecksum()
        acc.update(page_map.items())
        post = acc.value
    else:
        post = CHECKSUM_FLAG | draw(st.integers(0, (1 << 63) - 1))
    model = LTXFileModel(header, page_map, post)
    return encode_model(model), model


@st.composite
def histories(
    draw: st.DrawFn,
    *,
    page_size: int = 512,
    max_txns: int = 8,
    max_commit: int = 12,
    start_timestamp: int = 1_700_000_000_000,
) -> list[LTXFileModel]:
    """A replica's level-0 history as Litestream writes it (NoChecksum, one TXID per file).

    The first file is a snapshot; each later one changes some pages, may grow the
    database (new pages included) or shrink it (Commit drops, as after VACUUM).
    """
    n = draw(st.integers(1, max_txns))
    page = pages(page_size)
    commit = draw(st.integers(1, max_commit))
    files: list[LTXFileModel] = []
    ts = start_timestamp
    for txid in range(1, n + 1):
        if txid == 1:
            changed = {p: draw(page) for p in range(1, commit + 1)}
        else:
            new_commit = draw(st.integers(1, max_commit))
            changed_set: set[int] = set(range(commit + 1, new_commit + 1))
            if new_commit:
                changed_set |= draw(st.sets(st.integers(1, new_commit), max_size=4))
            commit = new_commit
            changed = {p: draw(page) for p in sorted(changed_set)}
        ts += draw(st.integers(1, 5000))
        header = Header(
            flags=HEADER_FLAG_NO_CHECKSUM,
            page_size=page_size,
            commit=commit,
            min_txid=txid,
            max_txid=txid,
            timestamp=ts,
        )
        files.append(LTXFileModel(header, changed, 0))
    return files


def replay(models: Sequence[LTXFileModel]) -> tuple[int, dict[int, bytes]]:
    """Apply models in order: return (commit, pages) of the resulting database."""
    db: dict[int, bytes] = {}
    commit = 0
    for m in models:
        db.update(m.pages)
        commit = m.header.commit
        for p in [p for p in db if p > commit]:
            del db[p]
    return commit, db


SQLOp = tuple[str, int, int]
"""One statement of a workload: ("insert" | "update" | "delete" | "vacuum", key, size)."""


@st.composite
def sql_workloads(
    draw: st.DrawFn, *, max_txns: int = 8, max_ops: int = 6, max_size: int = 3000
) -> list[list[SQLOp]]:
    """Transactions of inserts, updates and deletes on one table ``t(k, v)``, with
    blobs up to ``max_size`` bytes (so pages spill and the database grows and shrinks),
    now and then a VACUUM; run them with ``run_sql_workload``."""
    op = st.tuples(
        st.sampled_from(["insert", "insert", "update", "delete"]),
        st.integers(0, 40),
        st.integers(0, max_size),
    )
    txn = st.lists(op, min_size=1, max_size=max_ops)
    vacuum = st.just([("vacuum", 0, 0)])
    return draw(st.lists(st.one_of(txn, txn, txn, vacuum), min_size=1, max_size=max_txns))


def run_sql_transaction(conn: object, ops: Sequence[SQLOp]) -> None:
    """Run one workload transaction on a DB-API connection in autocommit mode
    (stdlib ``sqlite3`` with ``isolation_level=None``, or apsw)."""
    cur = conn.cursor()  # type: ignore[attr-defined]
    cur.execute("CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v BLOB)")
    if ops and ops[0][0] == "vacuum":
        cur.execute("VACUUM")
        return
    cur.execute("BEGIN IMMEDIATE")
    for kind, key, size in ops:
        blob = bytes([key % 251]) * size
        if kind == "insert":
            cur.execute("INSERT OR REPLACE INTO t VALUES (?, ?)", (key, blob))
        elif kind == "update":
            cur.execute("UPDATE t SET v = ? WHERE k = ?", (blob[::-1] + b"u", key))
        else:
            cur.execute("DELETE FROM t WHERE k = ?", (key,))
    cur.execute("COMMIT")
