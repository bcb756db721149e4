"""``ltx sql`` as a tool: SQLite errors in one line, several statements each under its own
header, streamed output in bounded memory, blobs one way per format, bound parameters."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

import ltx
from tests.cli.test_cli import _wal_history, run
from tests.helpers import image_pages

pytest.importorskip("apsw")
from ltx.cli._sql import parse_params, split_statements


def _corrupt_replica(tmp_path) -> str:
    """A replica whose LTX files are sound but whose table b-tree page is garbage."""
    db = tmp_path / "c.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA page_size=4096")
    con.execute("CREATE TABLE t (v)")
    con.executemany("INSERT INTO t VALUES (?)", [("x" * 50,)] * 20)
    con.commit()
    con.close()
    pages = image_pages(db.read_bytes(), 4096)
    pages[2] = b"\x0d" + b"\xff" * 4095
    url = (tmp_path / "corrupt").as_uri()
    ltx.open(url).append(pages, len(pages))
    return url


def test_sqlite_errors_are_one_line_naming_the_error(tmp_path):
    url, _ = _wal_history(tmp_path)
    cases = [
        (url, "select * from nope", "SQLError"),
        (url, "delete from t", "ReadOnlyError"),
        (_corrupt_replica(tmp_path), "select * from t", "CorruptError"),
    ]
    for where, sql, kind in cases:
        out = run("sql", where, sql)
        assert out.returncode == 1, out.stderr
        assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
        assert kind in out.stderr, out.stderr
        as_json = json.loads(run("sql", where, sql, "--json").stderr)["error"]
        assert as_json["type"] == kind and as_json["exit_code"] == 1


def test_several_statements_each_under_their_own_header(tmp_path):
    url, _ = _wal_history(tmp_path)
    sql = "select 1 as a; select 'x;y' as b, 2 as c"
    table = run("sql", url, sql, check=True).stdout.splitlines()
    assert table == ["a", "1", "", "b    c", "x;y  2"]
    results = json.loads(run("sql", url, sql, "--json", check=True).stdout)
    assert [r["columns"] for r in results] == [["a"], ["b", "c"]]
    assert [r["rows"] for r in results] == [[[1]], [["x;y", 2]]]
    lines = run("sql", url, sql, "--format", "jsonl", check=True).stdout.splitlines()
    assert [json.loads(line) for line in lines] == [{"a": 1}, {"b": "x;y", "c": 2}]
    assert split_statements("select ';'; -- c;\nselect 2;  ") == [
        "select ';';",
        " -- c;\nselect 2;",
    ]


def test_blobs_one_way_per_format(tmp_path):
    url, _ = _wal_history(tmp_path)
    sql = "select x'01ff' as b, null as n"
    assert run("sql", url, sql, check=True).stdout.splitlines()[1] == "x'01ff'  NULL"
    assert run("sql", url, sql, "--format", "csv", check=True).stdout == "b,n\nx'01ff',\n"
    got = json.loads(run("sql", url, sql, "--format", "jsonl", check=True).stdout)
    assert got == {"b": {"$base64": "Af8="}, "n": None}


def test_params_bind_and_options_sit_anywhere(tmp_path):
    url, counts = _wal_history(tmp_path)
    out = run(
        "sql", url, "select count(*) as n, :s as s, :f * 2 as f from t where id <= :k",
        "--param", "k=10", "--param", "s=hi", "--param", "f=1.5", "--format", "csv",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1] == "10,hi,3.0"
    assert parse_params(["a=007", "b=x=y", "c=-2e3"]) == {"a": 7, "b": "x=y", "c": -2000.0}
    bad = run("sql", url, "select 1", "--param", "nope")
    assert bad.returncode == 1 and "NAME=VALUE" in bad.stderr
    moved = run("sql", url, "--txid", "0x1", "select count(*) from t", "--format", "csv")
    assert moved.stdout.splitlines()[1] == str(counts[0])


@pytest.mark.slow
def test_output_streams_in_bounded_memory(tmp_path):
    """Many rows print while they are read: peak memory does not grow with the result."""
    url, _ = _wal_history(tmp_path)
    many = "with recursive c(i) as (select 1 union all select i+1 from c where i < {n}) "
    many += "select i, printf('%.200c', 'x') from c"
    code = (
        "import resource, sys; from ltx.cli import main; "
        "sys.stdout = open('/dev/null', 'w'); rc = main(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)"
    )
    peaks = {}
    for fmt in ("csv", "json"):
        for n in (10, 300_000):
            out = subprocess.run(
                [sys.executable, "-c", code, "sql", url, many.format(n=n), "--format", fmt],
                capture_output=True,
                text=True,
            )
            assert out.returncode == 0, out.stderr
            peaks[fmt, n] = int(out.stderr.split()[-1])
        # 300,000 rows of 200 bytes are 60 MB: held in memory, the peak would show it.
        assert peaks[fmt, 300_000] - peaks[fmt, 10] < 20_000, (fmt, peaks)


def test_shell_moves_in_time(tmp_path):
    url, counts = _wal_history(tmp_path)
    script = ".txid 0000000000000001\nselect count(*) from t;\n.timestamp latest\n.tables\n"
    out = run("sql", url, input=script)
    assert out.returncode == 0, out.stderr
    assert "txid 0000000000000001" in out.stdout and str(counts[0]) in out.stdout
    assert "txid 0000000000000004" in out.stdout and "\nt" in out.stdout
