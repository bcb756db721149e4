"""The record format: a header of serial types, then the values (fileformat2 §2.1).

Also SQLite's value ordering (NULL < numbers < text < blob, with BINARY, NOCASE and
RTRIM collations), needed to descend index b-trees.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from ltx.errors import DatabaseFormatError
from ltx.sqlitefmt.page import read_varint

__all__ = [
    "Value",
    "decode_record",
    "column_affinity",
    "compare_values",
    "compare_records",
    "KNOWN_COLLATIONS",
    "sort_key",
]

Value = None | int | float | str | bytes
_INT_SIZES = (0, 1, 2, 3, 4, 6, 8)
_F64 = struct.Struct(">d")
_FROM_BYTES = int.from_bytes
KNOWN_COLLATIONS = frozenset({"BINARY", "NOCASE", "RTRIM"})


def decode_record(
    payload: bytes, encoding: str, pgno: int | None = None, *, partial: bool = False
) -> list[Value]:
    """Decode the values of a record; text uses the database ``encoding`` (a codec name).

    Longer than 60 lines on purpose: it runs once per cell of every page a walk reads,
    and splitting the serial-type dispatch into calls costs ~30% of a table scan.
    ``partial`` means ``payload`` is only a prefix (e.g. the part stored in the cell):
    decode the leading values lying wholly within it instead of raising.
    """
    end = len(payload)
    if not end:
        if partial:
            return []
        raise DatabaseFormatError("empty record", pgno=pgno)
    hsize, pos = (payload[0], 1) if payload[0] < 0x80 else read_varint(payload, 0, end, pgno)
    if hsize < pos or hsize > end:
        if partial:
            return []
        raise DatabaseFormatError(f"record header size {hsize} out of range", pgno=pgno)
    values: list[Value] = []
    add = values.append
    body = hsize
    utf8 = encoding == "utf-8"
    while pos < hsize:
        t = payload[pos]
        if t < 0x80:
            pos += 1
        else:
            t, pos = read_varint(payload, pos, hsize, pgno)
        if t >= 12:
            n = (t - 12) >> 1
            stop = body + n
            if stop > end:
                break
            if t & 1:
                add(
                    str(payload[body:stop], "utf-8", "surrogateescape")
                    if utf8
                    else _text(payload[body:stop], encoding)
                )
            else:
                add(bytes(payload[body:stop]))
        elif t < 7:
            stop = body + _INT_SIZES[t]
            if stop > end:
                break
            add(_FROM_BYTES(payload[body:stop], "big", signed=True) if t else None)
        elif t == 7:
            stop = body + 8
            if stop > end:
                break
            f = _F64.unpack_from(payload, body)[0]
            add(None if f != f else f)  # SQLite reads a NaN as NULL
        elif t < 10:
            add(t - 8)
            continue
        else:
            raise DatabaseFormatError(f"reserved serial type {t}", pgno=pgno)
        body = stop
    else:
        return values
    if partial:
        return values
    raise DatabaseFormatError("record value runs past the payload", pgno=pgno)


def _text(raw: bytes, encoding: str) -> str:
    if encoding == "utf-8":
        return str(raw, "utf-8", "surrogateescape")
    # SQLite drops a dangling odd byte of UTF-16 text; lone surrogates pass through.
    return str(raw[: len(raw) & ~1], encoding, "surrogatepass")


def column_affinity(decl_type: str) -> str:
    """The affinity SQLite derives from a declared type (datatype3 §3.1 rules, in order)."""
    t = decl_type.upper()
    if "INT" in t:
        return "INTEGER"
    if "CHAR" in t or "CLOB" in t or "TEXT" in t:
        return "TEXT"
    if "BLOB" in t or not t:
        return "BLOB"
    if "REAL" in t or "FLOA" in t or "DOUB" in t:
        return "REAL"
    return "NUMERIC"


def _rank(v: Value) -> int:
    if v is None:
        return 0
    if isinstance(v, (int, float)):
        return 1
    return 2 if isinstance(v, str) else 3


def _text_key(s: str, collation: str, encoding: str) -> bytes:
    if collation == "BINARY":
        return s.encode(encoding, "surrogatepass")
    b = s.encode("utf-8", "surrogatepass")  # NOCASE and RTRIM compare UTF-8
    return b.lower() if collation == "NOCASE" else b.rstrip(b" ")


def compare_values(a: Value, b: Value, collation: str = "BINARY", encoding: str = "utf-8") -> int:
    """-1, 0 or 1 as SQLite orders ``a`` and ``b`` (collation applies to text only)."""
    ra, rb = _rank(a), _rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ra == 0:
        return 0
    if ra == 2:
        assert isinstance(a, str) and isinstance(b, str)
        if collation == "BINARY" and encoding == "utf-8":
            return (a > b) - (a < b)  # code point order is UTF-8 byte order
        ka, kb = _text_key(a, collation, encoding), _text_key(b, collation, encoding)
        return (ka > kb) - (ka < kb)
    return (a > b) - (a < b)  # type: ignore[operator]


def compare_records(
    a: Sequence[Value],
    b: Sequence[Value],
    collations: Sequence[str],
    descending: Sequence[bool],
    encoding: str = "utf-8",
) -> int:
    """Compare two index keys field by field over the key columns (``collations``)."""
    for i in range(min(len(a), len(b), len(collations))):
        c = compare_values(a[i], b[i], collations[i], encoding)
        if c:
            return -c if descending[i] else c
    return 0


def sort_key(v: Value) -> tuple[int, int | float | str | bytes]:
    """A total order on values matching SQLite's (BINARY) for sorting keys in output."""
    return (_rank(v), 0 if v is None else v)
