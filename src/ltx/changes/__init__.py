"""What changed in a replica: page and row diffs between two points, and a change feed.

``diff(source, a, b)`` compares two points of a replica (TXIDs, Views or page maps):
the pages whose bytes differ, found from the page maps (a page resolved to the same
file and frame on both sides is not read), then the row and schema changes, read from
those pages and the interior pages above them only (``ltx.sqlitefmt`` prunes the walk).
``changes(source, since)`` turns the replica's history into one :class:`TxChanges` per
restorable point, optionally following new files as they arrive. ``change_to_json`` and
the text helpers give the line formats of ``ltx diff`` and ``ltx changes``.

Sits below the face (``ltx.replica``): it reads through the small :class:`DiffSource`
protocol, which ``ltx.Replica`` satisfies.
"""

from __future__ import annotations

from ltx.changes._diff import EMPTY, Diff, DiffSource, Point, diff
from ltx.changes._feed import TxChanges, changes
from ltx.changes._format import (
    change_to_json,
    diff_to_json,
    diff_to_text,
    format_change,
    format_pages,
    format_schema_change,
    format_value,
    in_apply_order,
    schema_to_json,
    tx_to_json,
    tx_to_text,
    value_from_json,
    value_to_json,
)
from ltx.sqlitefmt import RowChange, SchemaChange

__all__ = [
    "EMPTY",
    "Diff",
    "DiffSource",
    "Point",
    "diff",
    "TxChanges",
    "changes",
    "RowChange",
    "SchemaChange",
    "change_to_json",
    "schema_to_json",
    "in_apply_order",
    "tx_to_json",
    "diff_to_json",
    "value_to_json",
    "value_from_json",
    "format_value",
    "format_change",
    "format_schema_change",
    "format_pages",
    "diff_to_text",
    "tx_to_text",
]
