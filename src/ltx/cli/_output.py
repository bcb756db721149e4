"""The one output layer of the CLI: every command hands it rows or a record, and it
prints them as text or JSON; progress, retries and hints go to stderr."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

__all__ = ["Output", "Progress", "Column"]

Column = tuple[str, str, int]
"""(key, heading, width); a negative width right-aligns."""


class Output:
    """Text or JSON on stdout; notes on stderr in both modes."""

    def __init__(
        self, *, json_mode: bool = False, stdout: TextIO | None = None, stderr: TextIO | None = None
    ) -> None:
        self.json_mode = json_mode
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    def rows(self, rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> None:
        """A table: JSON array of objects, or aligned columns with a heading line."""
        if self.json_mode:
            self._json(list(rows))
            return

        def cell(value: Any, width: int) -> str:
            text = str(value)
            return text.rjust(-width) if width < 0 else text.ljust(width)

        print(" ".join(cell(h, w) for _, h, w in columns).rstrip(), file=self.stdout)
        for row in rows:
            print(" ".join(cell(row[k], w) for k, _, w in columns).rstrip(), file=self.stdout)

    def record(self, obj: dict[str, Any], text: str) -> None:
        """One result: the object as JSON, or ``text``."""
        if self.json_mode:
            self._json(obj)
        else:
            print(text, file=self.stdout)

    def line(self, text: str) -> None:
        """A line of text output (nothing in JSON mode, where records carry the data)."""
        if not self.json_mode:
            print(text, file=self.stdout)

    def note(self, text: str) -> None:
        """A message for the person at the terminal (stderr)."""
        print(text, file=self.stderr)

    def _json(self, value: Any) -> None:
        json.dump(value, self.stdout, indent=1)
        self.stdout.write("\n")


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
