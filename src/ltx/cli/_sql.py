"""``ltx sql``: statements run in order, each result streamed under its own header; SQLite
errors are one line naming the error; without SQL, an interactive shell that moves in time."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import re
from typing import Any

from ltx.cli._output import Output
from ltx.cli._targets import target
from ltx.errors import LTXError, UsageError

__all__ = ["SQL_ERRORS", "cmd_sql", "parse_params"]

try:
    import apsw

    SQL_ERRORS: tuple[type[BaseException], ...] = (apsw.Error,)
except ImportError:  # pragma: no cover - without the sqlite extra
    SQL_ERRORS = ()


def parse_params(items: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs as bindings: integers and reals as numbers, the rest as text
    (as the sqlite3 shell's ``.parameter set`` reads an unquoted literal)."""
    out: dict[str, Any] = {}
    for item in items:
        name, eq, value = item.partition("=")
        name = name.lstrip(":@$")
        if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise UsageError(f"--param wants NAME=VALUE, got {item!r}")
        out[name] = value
        if re.fullmatch(r"[+-]?\d+", value):
            out[name] = int(value)
        elif re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", value):
            out[name] = float(value)
    return out


def split_statements(sql: str) -> list[str]:
    """The statements of ``sql`` in order, cut where SQLite says a statement is complete
    (so a ``;`` inside a string, a comment or a trigger body does not cut)."""
    out, start = [], 0
    for i, ch in enumerate(sql):
        if ch == ";" and apsw.complete(sql[start : i + 1]):
            out.append(sql[start : i + 1])
            start = i + 1
    out.append(sql[start:])
    return [s for s in out if s.strip().rstrip(";").strip()]


def _columns(cursor: Any, sql: str, bindings: Any) -> bool:
    # Runs before the statement steps: apsw forgets the columns once a statement is done.
    try:
        cursor.ltx_columns = [d[0] for d in cursor.description]
    except (apsw.Error, MemoryError):  # a PRAGMA the VFS answered: no column names
        cursor.ltx_columns = None
    return True


class _Cursor(apsw.Cursor):
    ltx_columns: list[str] | None = None


def run_sql(con: Any, sql: str, params: dict[str, Any], out: Output) -> None:
    """Run ``sql`` (one or more statements, in order) and stream each result set through
    ``out`` under its own header."""
    with out.group():
        for statement in split_statements(sql):
            if out.fmt == "csv" and _csv_by_sqlite(con, statement, params, out):
                continue
            cursor = _Cursor(con)
            cursor.exec_trace = _columns
            rows = iter(cursor.execute(statement, params or None))
            first = next(rows, None)
            names = cursor.ltx_columns
            if not names and first is not None:
                names = [f"column{i + 1}" for i in range(len(first))]
            if not names:
                continue
            sheet = out.sheet([(n, n, 0) for n in names], head={"statement": _bare(statement)})
            if first is not None:
                sheet.add_rows(itertools.chain([first], rows))
            sheet.close()


def _bare(statement: str) -> str:
    return statement.strip().rstrip(";").strip()


def _csv_cell(c: str) -> str:
    """SQL for one CSV field as ``Output`` writes them: blobs x'..', NULL empty, text
    quoted when it holds a comma, a quote or a line break."""
    blob = "'x''' || lower(hex(" + c + ")) || ''''"
    quoted = "'\"' || replace(" + c + ", '\"', '\"\"') || '\"'"
    special = c + " GLOB '*[,\"' || char(10, 13) || ']*'"
    return (
        f"CASE typeof({c}) WHEN 'null' THEN '' WHEN 'integer' THEN {c} WHEN 'real' THEN {c} "
        f"WHEN 'blob' THEN {blob} ELSE CASE WHEN {special} THEN {quoted} ELSE {c} END END"
    )


def _csv_by_sqlite(con: Any, statement: str, params: dict[str, Any], out: Output) -> bool:
    """A query's CSV made by SQLite itself, one text per row (several times faster than
    Python's csv module); False, having run nothing, when it is not a query."""
    probe = _Cursor(con)
    probe.exec_trace = lambda cursor, sql, bindings: _columns(cursor, sql, bindings) and False
    with contextlib.suppress(apsw.ExecTraceAbort):
        probe.execute(statement, params or None)
    names = probe.ltx_columns
    if not names:
        return False
    cols = [f"c{i}" for i in range(len(names))]
    line = " || ',' || ".join(_csv_cell(c) for c in cols)
    body = _bare(statement)
    wrapped = f"WITH q({', '.join(cols)}) AS (\n{body}\n) SELECT '' || {line} FROM q"
    cursor, prepared = apsw.Cursor(con), []

    def mark(*_: Any) -> bool:
        prepared.append(True)  # SQLite took the wrapped query: errors from now on are real
        return True

    cursor.exec_trace = mark
    try:
        rows = cursor.execute(wrapped, params or None)
    except apsw.SQLError:
        if prepared:
            raise
        return False  # not a query SQLite can wrap (PRAGMA, EXPLAIN ...): run it plainly
    out.sheet([(n, n, 0) for n in names]).close()
    out.formatted(iter(lambda: [r[0] for r in itertools.islice(rows, 4096)], []))
    return True


def _shell(con: Any) -> None:
    import apsw.shell

    class Shell(apsw.shell.Shell):
        """apsw's shell with readline history in ~/.ltx_sql_history and time travel."""

        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.history_file = "~/.ltx_sql_history"

        def command_txid(self, cmd: list[str]) -> None:
            """txid ?TXID?: show the TXID read, or move to TXID (16 hex digits, 'latest')"""
            if cmd:
                con.execute("PRAGMA litestream_txid = " + _quote(cmd[0]))
            self.write(self.stdout, f"txid {con.txid:016x} ({con.timestamp.isoformat()})\n")  # type: ignore[no-untyped-call]

        def command_timestamp(self, cmd: list[str]) -> None:
            """timestamp ?TIME?: show the time read, or move to TIME (RFC 3339, '5 minutes
            ago', 'latest')"""
            if cmd:
                con.execute("PRAGMA litestream_time = " + _quote(" ".join(cmd)))
            self.write(self.stdout, f"txid {con.txid:016x} ({con.timestamp.isoformat()})\n")  # type: ignore[no-untyped-call]

    Shell(db=con).cmdloop()  # type: ignore[no-untyped-call]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def cmd_sql(args: argparse.Namespace, out: Output) -> int:
    if not SQL_ERRORS:
        raise LTXError("ltx sql needs the sqlite extra: pip install 'ltx[sqlite]'")
    from ltx.sqlite import connect

    params = parse_params(args.param)
    con = connect(args.url, env=args.env, **target(args), verify_files=args.verify)
    try:
        if args.sql is None:
            _shell(con)
        else:
            run_sql(con, args.sql, params, out)
        return 0
    finally:
        con.close(True)  # force: a cursor an error stopped must not turn into BusyError
