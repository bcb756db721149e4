"""Helpers shared by the ltx.sqlitefmt tests, and unit tests of the smallest pieces."""

from __future__ import annotations

import contextlib
import math
import sqlite3
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ltx.errors import DatabaseFormatError
from ltx.sqlitefmt import read_header
from ltx.sqlitefmt.page import local_payload_size, read_varint
from ltx.sqlitefmt.record import compare_values, decode_record

# ---------------------------------------------------------------- helpers


def page_size_of(image: bytes) -> int:
    raw = int.from_bytes(image[16:18], "big")
    return 65536 if raw == 1 else raw


def pages_of(image: bytes, page_size: int | None = None):
    """page(pgno) over a database image held in memory."""
    ps = page_size or page_size_of(image)

    def page(pgno: int) -> bytes:
        return image[(pgno - 1) * ps : pgno * ps]

    return page


def image_of(con: sqlite3.Connection, path: Path) -> bytes:
    """The committed database file of ``con`` (rollback journal, so the file is complete)."""
    con.commit()
    return path.read_bytes()


def changed_pages(a: bytes, b: bytes) -> set[int]:
    """Page numbers whose bytes differ, counting pages present on one side only."""
    ps = page_size_of(a)
    if page_size_of(b) != ps:
        return set(range(1, max(len(a), len(b)) // min(ps, page_size_of(b)) + 1))
    n = max(len(a), len(b)) // ps
    return {p for p in range(1, n + 1) if a[(p - 1) * ps : p * ps] != b[(p - 1) * ps : p * ps]}


def tagged(row: dict[str, Any] | None) -> dict[str, tuple[str, Any]] | None:
    """A row with each value tagged by its type, so 1 and 1.0 differ as in SQLite."""
    if row is None:
        return None
    return {k: (type(v).__name__, v) for k, v in row.items()}


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def oracle_rows(con: sqlite3.Connection) -> dict[str, dict[tuple, dict[str, Any]]]:
    """table -> key -> row, read through SQLite itself (virtual generated columns left out)."""
    out: dict[str, dict[tuple, dict[str, Any]]] = {}
    tables = con.execute(
        "SELECT name, sql FROM sqlite_schema WHERE type='table' AND rootpage > 0"
    ).fetchall()
    for name, sql in tables:
        info = con.execute(f"PRAGMA table_xinfo({q(name)})").fetchall()
        cols = [r[1] for r in info if r[6] != 2]
        pk = [r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]
        wr = "WITHOUT ROWID" in sql.upper()
        sel = ", ".join(q(c) for c in cols)
        rows: dict[tuple, dict[str, Any]] = {}
        for r in con.execute(f"SELECT {'' if wr else '_rowid_, '}{sel} FROM {q(name)}"):
            vals = dict(zip(cols, r if wr else r[1:], strict=False))
            key = tuple(vals[c] for c in pk) if wr else (r[0],)
            rows[key] = vals
        out[name] = rows
    return out


def expected_changes(a: dict, b: dict) -> set:
    """Row changes between two oracle_rows() results, as comparable tuples."""
    out = set()
    for table in a.keys() | b.keys():
        ra, rb = a.get(table, {}), b.get(table, {})
        for key in ra.keys() | rb.keys():
            before, after = tagged(ra.get(key)), tagged(rb.get(key))
            if before == after:
                continue
            op = "insert" if before is None else "delete" if after is None else "update"
            out.add((table, key, op, _freeze(before), _freeze(after)))
    return out


def actual_changes(changes) -> set:
    return {
        (c.table, c.key, c.op, _freeze(tagged(c.before)), _freeze(tagged(c.after))) for c in changes
    }


def _freeze(row):
    return None if row is None else tuple(sorted(row.items()))


# ---------------------------------------------------------------- unit tests


def _encode_varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    if v >= 1 << 56:
        out = [v & 0xFF]
        v >>= 8
        for _ in range(8):
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        return bytes(reversed(out))
    parts = [v & 0x7F]
    v >>= 7
    while v:
        parts.append((v & 0x7F) | 0x80)
        v >>= 7
    return bytes(reversed(parts))


@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_varint_round_trip(v):
    enc = _encode_varint(v)
    assert len(enc) <= 9
    assert read_varint(enc + b"\xff", 0, len(enc)) == (v, len(enc))


def test_varint_truncated_raises():
    with pytest.raises(DatabaseFormatError):
        read_varint(b"\x81\x82", 0, 2)
    with pytest.raises(DatabaseFormatError):
        read_varint(b"", 0, 0)


def test_local_payload_matches_spec_examples():
    # U=4096: table leaf X = 4061; index X = 1002; M = 489.
    assert local_payload_size(4061, 4096, True) == 4061
    assert local_payload_size(4062, 4096, True) == 489  # K = 4062 > X, so M
    assert local_payload_size(5000, 4096, True) == 489 + (5000 - 489) % 4092 == 908
    assert local_payload_size(1002, 4096, False) == 1002
    assert local_payload_size(1003, 4096, False) == 489  # K = 1003 > X
    assert local_payload_size(100000, 4096, False) == 489  # K = 1792 > X


def test_record_every_serial_type():
    body = b""
    types = []
    ints = [
        (1, 1, -5),
        (2, 2, 300),
        (3, 3, -70000),
        (4, 4, 1 << 30),
        (5, 6, -(1 << 40)),
        (6, 8, -(1 << 62)),
    ]
    for t, n, v in ints:
        types.append(t)
        body += v.to_bytes(n, "big", signed=True)
    types += [0, 7, 8, 9, 12 + 2 * 3, 13 + 2 * 2]
    body += struct.pack(">d", 2.5) + b"abc" + b"hi"
    header = b"".join(_encode_varint(t) for t in types)
    rec = bytes([len(header) + 1]) + header + body
    assert decode_record(rec, "utf-8") == [
        -5,
        300,
        -70000,
        1 << 30,
        -(1 << 40),
        -(1 << 62),
        None,
        2.5,
        0,
        1,
        b"abc",
        "hi",
    ]
    for bad in (10, 11):
        with pytest.raises(DatabaseFormatError):
            decode_record(bytes([2, bad]), "utf-8")
    with pytest.raises(DatabaseFormatError):
        decode_record(bytes([2, 6, 0, 0]), "utf-8")  # 8-byte int, 2 bytes of body
    nan = struct.pack(">d", math.nan)
    assert decode_record(bytes([2, 7]) + nan, "utf-8") == [None]  # SQLite reads NaN as NULL


def test_compare_values_orders_like_sqlite():
    assert compare_values(None, -(10**18)) < 0
    assert compare_values(3, 2.5) > 0 and compare_values(2, 2.0) == 0
    assert compare_values(10**9, "a") < 0 and compare_values("z", b"") < 0
    assert (
        compare_values("ABC", "abd", "NOCASE") < 0 and compare_values("ABC", "abc", "NOCASE") == 0
    )
    assert compare_values("a  ", "a", "RTRIM") == 0 and compare_values("a  ", "a") > 0
    assert compare_values("\u00e9", "z", encoding="utf-16-be") > 0  # 00 e9 > 00 7a
    assert compare_values("\u0100", "\u00ff", encoding="utf-16-le") < 0  # 00 01 < ff 00


def test_header_fields(tmp_path):
    path = tmp_path / "h.db"
    con = sqlite3.connect(path)
    con.executescript(
        "PRAGMA page_size=65536; PRAGMA user_version=7; PRAGMA application_id=99;CREATE TABLE t(x);"
    )
    image = image_of(con, path)
    h = read_header(image[:100])
    assert (h.page_size, h.user_version, h.application_id, h.encoding) == (65536, 7, 99, "utf-8")
    assert h.page_count_valid and h.page_count == len(image) // 65536
    assert h.usable_size == 65536 and h.schema_format == 4
    with pytest.raises(DatabaseFormatError):
        read_header(b"SQLite format 2\x00" + image[16:100])
    with pytest.raises(DatabaseFormatError):
        read_header(image[:50])
    bad = bytearray(image[:100])
    bad[16:18] = (1000).to_bytes(2, "big")
    with pytest.raises(DatabaseFormatError):
        read_header(bytes(bad))


@settings(max_examples=30)
@given(st.binary(min_size=0, max_size=120))
def test_header_never_raises_other_errors(data):
    with contextlib.suppress(DatabaseFormatError):
        read_header(b"SQLite format 3\x00" + data)
