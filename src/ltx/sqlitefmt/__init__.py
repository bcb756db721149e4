"""A pure reader of the SQLite file format (sans-I/O) and a pruned row diff of two states.

Pages come from a caller's ``page(pgno) -> bytes`` callable (1-based, ``page_size`` bytes
each, page 1 starting with the 100-byte header); nothing here opens a file.
"""

from __future__ import annotations

from ltx.sqlitefmt.diff import (
    DatabaseDiff,
    RowChange,
    SchemaChange,
    diff_database,
    diff_rows,
    diff_schema,
)
from ltx.sqlitefmt.header import DatabaseHeader, read_header
from ltx.sqlitefmt.pager import PageCounter, PageFn, Pager
from ltx.sqlitefmt.record import Value
from ltx.sqlitefmt.schema import Column, Index, KeyField, Schema, SchemaEntry, Table, read_schema
from ltx.sqlitefmt.walk import Key, Row, iter_index, iter_rows

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
]
