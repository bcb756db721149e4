"""A pure reader of the SQLite file format (sans-I/O) and a pruned row diff of two states.

Pages come from a caller's ``page(pgno) -> bytes`` callable (1-based, ``page_size`` bytes
each, page 1 starting with the 100-byte header); nothing here opens a file.

``ltx.sqlitefmt.header`` holds the file-format rules the codec imports (magic, page
sizes, the lock page), so the reader and the diff load on first use: importing the
codec does not pay for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ltx.sqlitefmt.header import DatabaseHeader, read_header

if TYPE_CHECKING:
    from ltx.sqlitefmt.diff import (
        DatabaseDiff,
        RowChange,
        SchemaChange,
        diff_database,
        diff_rows,
        diff_schema,
        iter_row_changes,
    )
    from ltx.sqlitefmt.pager import PageCounter, PageFn, Pager
    from ltx.sqlitefmt.record import Value
    from ltx.sqlitefmt.schema import (
        Column,
        Index,
        KeyField,
        Schema,
        SchemaEntry,
        Table,
        read_schema,
    )
    from ltx.sqlitefmt.walk import Key, Row, iter_index, iter_rows

_LAZY = {
    **dict.fromkeys(
        (
            "RowChange",
            "SchemaChange",
            "DatabaseDiff",
            "diff_database",
            "diff_rows",
            "diff_schema",
            "iter_row_changes",
        ),
        "ltx.sqlitefmt.diff",
    ),
    **dict.fromkeys(("PageFn", "Pager", "PageCounter"), "ltx.sqlitefmt.pager"),
    "Value": "ltx.sqlitefmt.record",
    **dict.fromkeys(
        ("Column", "KeyField", "Table", "Index", "SchemaEntry", "Schema", "read_schema"),
        "ltx.sqlitefmt.schema",
    ),
    **dict.fromkeys(("Key", "Row", "iter_rows", "iter_index"), "ltx.sqlitefmt.walk"),
}

__all__ = [
    "DatabaseHeader",
    "read_header",
    "PageFn",
    "Pager",
    "PageCounter",
    "Value",
    "Key",
    "Row",
    "Column",
    "KeyField",
    "Table",
    "Index",
    "SchemaEntry",
    "Schema",
    "read_schema",
    "iter_rows",
    "iter_index",
    "RowChange",
    "SchemaChange",
    "DatabaseDiff",
    "diff_database",
    "diff_rows",
    "diff_schema",
    "iter_row_changes",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ltx.sqlitefmt' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
