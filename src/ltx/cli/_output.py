"""The one output layer of the CLI: every command hands it rows, objects or a record, and it
prints them as a table, CSV, JSON or JSON lines, streamed as they come (memory stays
bounded however many rows there are); errors, progress, retries and hints go to stderr.

Blobs, one way per format: table and CSV print the SQL literal ``x'00ff'``; JSON and
JSON lines print ``{"$base64": "AP8="}`` (``ltx.changes.value_to_json``, as the change
feed does). NULL is ``NULL`` in a table, an empty field in CSV and ``null`` in JSON.
"""

from __future__ import annotations

import csv
import itertools
import json
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

from ltx.changes import value_to_json

__all__ = ["FORMATS", "Output", "Progress", "Column", "Sheet", "text_cell", "write_csv"]

FORMATS = ("table", "csv", "json", "jsonl")
Column = tuple[str, str, int]
"""(key, heading, minimum width); a negative width right-aligns."""

_SAMPLE = 100
"""Rows a table holds back to size its columns; later rows use those widths."""


def text_cell(value: Any) -> str:
    """A value as a table or CSV cell: NULL, numbers and text as they are, x'..' for blobs."""
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"x'{value.hex()}'"
    return str(value)


def _json_value(value: Any) -> Any:
    return value_to_json(value) if isinstance(value, bytes | float) else value


class Sheet:
    """One result set: its rows are written as they are added (a table samples its first
    rows for the column widths)."""

    def __init__(
        self, out: Output, columns: Sequence[Column], head: dict[str, Any] | None = None
    ) -> None:
        self.out = out
        self.columns = list(columns)
        self.keys = [k for k, _, _ in columns]
        self.head = head
        self.count = 0
        self._held: list[Sequence[Any]] | None = [] if out.fmt == "table" else None
        self._widths: list[int] = []
        w = out.stdout
        if out.fmt == "csv":
            self._csv = csv.writer(w, lineterminator="\n")
            self._csv.writerow([h.strip() for _, h, _ in columns])
        elif out.fmt == "json" and head is not None:
            names = json.dumps([h.strip() for _, h, _ in columns])
            w.write(json.dumps(head)[:-1] + f', "columns": {names}, "rows": [')
        elif out.fmt == "json":
            w.write("[")

    def add(self, values: Sequence[Any]) -> None:
        """Write one row (values in column order)."""
        fmt, w = self.out.fmt, self.out.stdout
        if fmt == "csv":
            self._csv.writerow([_csv_field(v) for v in values])
        elif fmt == "table":
            if self._held is not None:
                self._held.append(values)
                if len(self._held) >= _SAMPLE:
                    self._release()
            else:
                self._line(values)
        else:
            sep = "," if self.count else ""
            if fmt == "json" and self.head is not None:
                w.write(f"{sep}\n {json.dumps([_json_value(v) for v in values])}")
            else:
                obj = {k: _json_value(v) for k, v in zip(self.keys, values, strict=True)}
                w.write(f"{sep}\n{json.dumps(obj)}" if fmt == "json" else f"{json.dumps(obj)}\n")
        self.count += 1

    def add_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """Write many rows."""
        if self.out.fmt == "csv":
            write_csv(self.out, rows)
            return
        for row in rows:
            self.add(row)

    def close(self) -> None:
        """Finish the result (a table's sampled rows, a JSON array's bracket)."""
        fmt, w = self.out.fmt, self.out.stdout
        if fmt == "table" and self._held is not None:
            self._release()
        elif fmt == "json":
            w.write("\n]}" if self.head is not None else "\n]\n" if self.count else "]\n")
        w.flush()

    def _release(self) -> None:
        held, self._held = self._held or [], None
        self._widths = [
            max([abs(width), len(heading)] + [len(text_cell(r[i])) for r in held])
            for i, (_, heading, width) in enumerate(self.columns)
        ]
        print(self._join([h for _, h, _ in self.columns], right=None), file=self.out.stdout)
        for row in held:
            self._line(row)

    def _line(self, values: Sequence[Any]) -> None:
        print(self._join([text_cell(v) for v in values], right=values), file=self.out.stdout)

    def _join(self, cells: list[str], right: Sequence[Any] | None) -> str:
        parts = []
        for i, (cell, width) in enumerate(zip(cells, self._widths, strict=True)):
            declared = self.columns[i][2]
            numeric = right is not None and isinstance(right[i], int | float)
            flush_right = declared < 0 or (declared == 0 and numeric)
            parts.append(cell.rjust(width) if flush_right else cell.ljust(width))
        return "  ".join(parts).rstrip()


class Output:
    """Rows, objects and records on stdout in one of ``FORMATS``; notes on stderr."""

    def __init__(
        self, *, fmt: str = "table", stdout: TextIO | None = None, stderr: TextIO | None = None
    ) -> None:
        self.fmt = fmt
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self._group: list[int] | None = None

    @property
    def json_mode(self) -> bool:
        """True for JSON and JSON lines."""
        return self.fmt in ("json", "jsonl")

    def sheet(self, columns: Sequence[Column], head: dict[str, Any] | None = None) -> Sheet:
        """A result set to add rows to; inside :meth:`group`, ``head`` names it in JSON."""
        if self._group is not None:
            if self._group[0] and self.fmt in ("table", "csv"):
                self.stdout.write("\n")
            elif self._group[0] and self.fmt == "json":
                self.stdout.write(",\n")
            self._group[0] += 1
        return Sheet(self, columns, head if self._group is not None else None)

    @contextmanager
    def group(self) -> Iterator[None]:
        """Several result sets: a JSON array of them, blank lines between tables."""
        self._group = [0]
        if self.fmt == "json":
            self.stdout.write("[\n")
        try:
            yield
        finally:
            if self.fmt == "json":
                self.stdout.write("\n]\n" if self._group[0] else "]\n")
            self._group = None
            self.stdout.flush()

    def rows(self, rows: Iterable[dict[str, Any]], columns: Sequence[Column]) -> None:
        """A table of row objects, streamed."""
        sheet = self.sheet(columns)
        for row in rows:
            sheet.add([row[k] for k, _, _ in columns])
        sheet.close()

    def objects(self, objs: Iterable[dict[str, Any]], lines: Iterable[str] | None = None) -> None:
        """A stream of objects (a JSON array, JSON lines, or CSV of their keys as first seen,
        nested values as JSON); in table format the text ``lines`` instead."""
        if self.fmt == "table":
            for line in lines or ():
                print(line, file=self.stdout)
                self.stdout.flush()
            return
        writer, first = None, True
        for obj in objs:
            if self.fmt == "jsonl":
                self.stdout.write(json.dumps(obj) + "\n")
            elif self.fmt == "json":
                self.stdout.write(("[\n" if first else ",\n") + json.dumps(obj))
            else:
                if writer is None:
                    keys = list(obj)
                    writer = csv.DictWriter(
                        self.stdout, keys, extrasaction="ignore", lineterminator="\n"
                    )
                    writer.writeheader()
                writer.writerow({k: _csv_field(v) for k, v in obj.items()})
            first = False
            self.stdout.flush()
        if self.fmt == "json":
            self.stdout.write("[]\n" if first else "\n]\n")

    def record(self, obj: dict[str, Any], text: str) -> None:
        """One result: the object (JSON, a JSON line, a CSV header and row) or ``text``."""
        if self.fmt == "json":
            json.dump(obj, self.stdout, indent=1)
            self.stdout.write("\n")
        elif self.fmt == "jsonl":
            self.stdout.write(json.dumps(obj) + "\n")
        elif self.fmt == "csv":
            writer = csv.writer(self.stdout, lineterminator="\n")
            writer.writerow(list(obj))
            writer.writerow([_csv_field(v) for v in obj.values()])
        elif text:
            print(text, file=self.stdout)

    def line(self, text: str) -> None:
        """A line of table-format output (nothing in the other formats, where records
        carry the data)."""
        if self.fmt == "table":
            print(text, file=self.stdout)

    def formatted(self, chunks: Iterable[Sequence[str]]) -> None:
        """Rows already formatted for this format (``ltx sql`` has SQLite make CSV), in
        chunks of lines."""
        for chunk in chunks:
            self.stdout.write("\n".join(chunk) + "\n")

    def raw(self, data: bytes) -> None:
        """Bytes as they are on stdout (a page, a database)."""
        self.stdout.flush()
        self.stdout.buffer.write(data)
        self.stdout.buffer.flush()

    def note(self, text: str) -> None:
        """A message for the person at the terminal (stderr)."""
        print(text, file=self.stderr)

    def error(self, kind: str, message: str, code: int) -> None:
        """An error: one line of text, or one JSON object in the JSON formats."""
        if self.json_mode:
            obj = {"error": {"type": kind, "message": message, "exit_code": code}}
            print(json.dumps(obj), file=self.stderr)
        else:
            print(message, file=self.stderr)


def write_csv(out: Output, rows: Iterable[Sequence[Any]]) -> None:
    """CSV rows straight to the writer, taken 1,024 at a time: a chunk without blobs (one
    scan in C) is written as it is, a chunk with one gets its blobs as x'..'."""
    writer = csv.writer(out.stdout, lineterminator="\n")
    it = iter(rows)
    while chunk := list(itertools.islice(it, 1024)):
        if bytes in set(map(type, itertools.chain.from_iterable(chunk))):
            writer.writerows([_csv_field(v) for v in row] for row in chunk)
        else:
            writer.writerows(chunk)


def _csv_field(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value)
    return "" if value is None else text_cell(value)


class Progress:
    """A one-line progress bar on stderr; silent when not a TTY unless forced."""

    def __init__(self, label: str, stream: TextIO | None = None, *, force: bool = False) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = force or self.stream.isatty()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.enabled or (done < total and now - self._last < 0.1):
            return
        self._last = now
        frac = done / total if total else 1.0
        bar = "#" * int(frac * 30)
        self.stream.write(f"\r{self.label} [{bar:<30}] {frac:6.1%} {done}/{total}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()
