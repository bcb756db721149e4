"""Line formats of ``ltx diff`` and ``ltx changes``: JSON objects and short text lines.

JSON: one object per change. SQLite values map to JSON as they are (NULL, integers,
reals, text), except blobs, written ``{"$base64": "..."}`` (standard alphabet, padded),
and the reals JSON cannot hold, written ``{"$float": "Infinity"}`` (or "-Infinity",
"NaN"). ``value_from_json`` reads both back.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ltx.errors import UsageError
from ltx.sqlitefmt import RowChange, SchemaChange, Value
from ltx.times import EPOCH, format_timestamp

if TYPE_CHECKING:
    from ltx.changes._diff import Diff
    from ltx.changes._feed import TxChanges

__all__ = [
    "value_to_json",
    "value_from_json",
    "change_to_json",
    "schema_to_json",
    "in_apply_order",
    "tx_to_json",
    "diff_to_json",
    "format_value",
    "format_change",
    "format_schema_change",
    "format_pages",
    "diff_to_text",
    "tx_to_text",
]


def value_to_json(value: Value) -> Any:
    """A SQLite value as a JSON value (blobs and non-finite reals as tagged objects)."""
    if isinstance(value, bytes):
        return {"$base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"}
    return value


def value_from_json(obj: Any) -> Value:
    """The SQLite value a JSON value of this format stands for (inverse of value_to_json)."""
    if obj is None or (isinstance(obj, int | float | str) and not isinstance(obj, bool)):
        return obj
    if isinstance(obj, dict) and len(obj) == 1:
        if isinstance(obj.get("$base64"), str):
            try:
                return base64.b64decode(obj["$base64"], validate=True)
            except binascii.Error as exc:
                raise UsageError(f"bad base64 in {obj!r}: {exc}") from None
        if obj.get("$float") in ("Infinity", "-Infinity", "NaN"):
            return float(obj["$float"])
    raise UsageError(f"not a value of the change format: {obj!r}")


def _time(timestamp: dt.datetime | None) -> str | None:
    if timestamp is None:
        return None
    return format_timestamp((timestamp - EPOCH) // dt.timedelta(milliseconds=1))


def _row(row: dict[str, Value] | None) -> dict[str, Any] | None:
    return None if row is None else {k: value_to_json(v) for k, v in row.items()}


def change_to_json(
    txid: int,
    timestamp: dt.datetime | None,
    change: RowChange,
    *,
    merged_from: int | None = None,
) -> dict[str, Any]:
    """One row change as a JSON object: txid (16 hex digits), timestamp (RFC 3339, UTC),
    table, op (insert/update/delete), key (a list), before and after (objects or null);
    ``merged_from`` (16 hex digits) only when the entry covers several transactions."""
    out: dict[str, Any] = {
        "txid": f"{txid:016x}",
        "timestamp": _time(timestamp),
        "table": change.table,
        "op": change.op,
        "key": [value_to_json(v) for v in change.key],
        "before": _row(change.before),
        "after": _row(change.after),
    }
    if merged_from is not None:
        out["merged_from"] = f"{merged_from:016x}"
    return out


def schema_to_json(
    txid: int,
    timestamp: dt.datetime | None,
    change: SchemaChange,
    *,
    merged_from: int | None = None,
) -> dict[str, Any]:
    """One schema change as a JSON object: txid, timestamp, schema (the object's type:
    table, index, view, trigger), name, op (create/drop/alter), before and after (SQL)."""
    out: dict[str, Any] = {
        "txid": f"{txid:016x}",
        "timestamp": _time(timestamp),
        "schema": change.type,
        "name": change.name,
        "op": change.op,
        "before": change.before,
        "after": change.after,
    }
    if merged_from is not None:
        out["merged_from"] = f"{merged_from:016x}"
    return out


def in_apply_order(
    schema: Sequence[SchemaChange], rows: Iterable[RowChange]
) -> Iterator[SchemaChange | RowChange]:
    """Schema and row changes in an order a mirror can apply as they come: the rows of
    tables dropped here (deletes), then the schema changes, then the other rows."""
    dropped = {s.name for s in schema if s.type == "table" and s.op == "drop"}
    rest: list[RowChange] = []
    for c in rows:
        if c.table in dropped:
            yield c
        else:
            rest.append(c)
    yield from schema
    yield from rest


def tx_to_json(tx: TxChanges) -> Iterator[dict[str, Any]]:
    """The JSON objects of one feed entry, in apply order (see :func:`in_apply_order`)."""
    for c in in_apply_order(tx.schema, tx.rows):
        if isinstance(c, SchemaChange):
            yield schema_to_json(tx.txid, tx.timestamp, c, merged_from=tx.merged_from)
        else:
            yield change_to_json(tx.txid, tx.timestamp, c, merged_from=tx.merged_from)


def diff_to_json(
    d: Diff, tables: Iterable[str] | None = None, *, pages: bool = False
) -> Iterator[dict[str, Any]]:
    """``ltx diff --format json``: one object ``{"from", "to", "pages"}`` with ``pages``,
    else the changes in apply order (schema only when no ``tables`` are given), stamped
    with side B's TXID and time."""
    if pages:
        yield {"from": f"{d.txid_a:016x}", "to": f"{d.txid_b:016x}", "pages": list(d.pages)}
        return
    for c in in_apply_order(d.schema() if tables is None else (), d.rows(tables)):
        if isinstance(c, SchemaChange):
            yield schema_to_json(d.txid_b, d.timestamp, c)
        else:
            yield change_to_json(d.txid_b, d.timestamp, c)


def format_value(value: Value, limit: int = 40) -> str:
    """A value as SQL text (NULL, 3, 1.5, 'it''s', x'00ff'), cut to about ``limit`` chars."""
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        shown = value[: max(limit // 2, 1)].hex()
        more = f"...' ({len(value)} bytes)" if len(shown) < 2 * len(value) else "'"
        return f"x'{shown}{more}"
    if isinstance(value, str):
        cut = value[:limit].replace("'", "''")
        return f"'{cut}'" if len(value) <= limit else f"'{cut}...' ({len(value)} chars)"
    return repr(value)


def _key(key: Sequence[Value]) -> str:
    return "(" + ", ".join(format_value(v) for v in key) + ")"


def format_change(change: RowChange, limit: int = 40) -> str:
    """``insert t (5): a=1, b='x'``, ``update t (5): b: 'x' -> 'y'`` or ``delete t (5): ...``;
    an update shows only the columns that changed."""
    head = f"{change.op} {change.table} {_key(change.key)}"
    if change.before is not None and change.after is not None:
        before, after = change.before, change.after
        parts = [
            f"{k}: {format_value(before.get(k), limit)} -> {format_value(after.get(k), limit)}"
            for k in dict.fromkeys([*before, *after])
            if type(before.get(k)) is not type(after.get(k)) or before.get(k) != after.get(k)
        ]
    else:
        row = change.after if change.after is not None else change.before or {}
        parts = [f"{k}={format_value(v, limit)}" for k, v in row.items()]
    return f"{head}: {', '.join(parts)}"


def format_schema_change(change: SchemaChange) -> str:
    """``create table t: CREATE TABLE t(...)``, ``drop index i``, ``alter table t: <new SQL>``."""
    head = f"{change.op} {change.type} {change.name}"
    return f"{head}: {change.after}" if change.after is not None else head


def format_pages(pages: Iterable[int]) -> str:
    """Ascending page numbers as ranges: ``1-3, 7, 9-12`` (``-`` when there are none)."""
    runs: list[list[int]] = []
    for p in pages:
        if runs and p == runs[-1][1] + 1:
            runs[-1][1] = p
        else:
            runs.append([p, p])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs) or "-"


def diff_to_text(
    d: Diff, tables: Iterable[str] | None = None, *, pages: bool = False, limit: int = 40
) -> Iterator[str]:
    """``ltx diff`` text: with ``pages`` one line of changed pages, else one line per
    change in apply order (schema changes only when no ``tables`` are given)."""
    if pages:
        yield f"{len(d.pages)} pages differ: {format_pages(d.pages)}"
        return
    for c in in_apply_order(d.schema() if tables is None else (), d.rows(tables)):
        yield format_schema_change(c) if isinstance(c, SchemaChange) else format_change(c, limit)


def tx_to_text(tx: TxChanges, limit: int = 40) -> Iterator[str]:
    """``ltx changes`` text: each change prefixed with its TXID (a range when merged)."""
    txid = f"{tx.txid:016x}"
    if tx.merged_from is not None:
        txid = f"{tx.merged_from:016x}-{txid}"
    for c in in_apply_order(tx.schema, tx.rows):
        line = format_schema_change(c) if isinstance(c, SchemaChange) else format_change(c, limit)
        yield f"{txid} {line}"
