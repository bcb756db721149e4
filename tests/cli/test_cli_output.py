"""The CLI's output layer: every format on every command, errors as JSON, options anywhere,
and the small refusals a user runs into (issue 17)."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3

import pytest

import ltx
from tests.cli.test_cli import _wal_history, run
from tests.legacy_harness import load_fixture


def _urls(tmp_path) -> str:
    url, _ = _wal_history(tmp_path)
    return url


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "jsonl"])
def test_every_command_takes_every_format(tmp_path, fmt):
    url = _urls(tmp_path)
    cases = [
        ("ls", url),
        ("history", url),
        ("page", url, "1"),
        ("restore", url, "-o", str(tmp_path / f"r-{fmt}.db")),
        ("sql", url, "select count(*) as n from t"),
        ("diff", url, "0x1", "0x2"),
        ("changes", url),
        ("verify", url),
        ("compact", url, "--dry-run"),
    ]
    for args in cases:
        out = run(*args, "--format", fmt)
        assert out.returncode == 0, (args, out.stderr)
        if fmt == "json":
            json.loads(out.stdout)
        elif fmt == "jsonl":
            assert all(json.loads(line) is not None for line in out.stdout.splitlines())
        elif fmt == "csv":
            assert list(csv.reader(io.StringIO(out.stdout))), args


def test_json_is_streamed_as_one_document_and_jsonl_as_lines(tmp_path):
    url = _urls(tmp_path)
    hist = json.loads(run("history", url, "--json", check=True).stdout)
    lines = run("history", url, "--format", "jsonl", check=True).stdout.splitlines()
    assert [json.loads(line) for line in lines] == hist
    rows = list(csv.DictReader(io.StringIO(run("ls", url, "--format", "csv", check=True).stdout)))
    assert [r["max_txid"] for r in rows] == [f"{t:016x}" for t in range(1, 5)]


def test_errors_under_json_are_one_json_object(tmp_path):
    missing = (tmp_path / "nope").as_uri()
    for args in (("ls", missing, "--json"), ("history", missing, "--format", "jsonl")):
        out = run(*args)
        assert out.returncode == 1 and out.stdout == ""
        err = json.loads(out.stderr)["error"]
        assert err["type"] == "NotFoundError" and err["exit_code"] == 1
        assert "looked for" in err["message"]
    bad = run("ls", missing, "--bogus", "--json")
    err = json.loads(bad.stderr)["error"]
    assert bad.returncode == 2 and err["exit_code"] == 2 and "--bogus" in err["message"]


def test_options_anywhere_among_positionals(tmp_path):
    url = _urls(tmp_path)
    out = run("sql", url, "--txid", "0x2", "select count(*) from t", "--format", "csv")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1] == "60"
    out = run("page", url, "--txid", "0x1", "1", "--json")
    assert out.returncode == 0 and bytes.fromhex(json.loads(out.stdout)["hex"])[:6] == b"SQLite"
    missing = run("ls", str(tmp_path / "x"), "--debug")
    assert missing.returncode == 1 and "Traceback" in missing.stderr


def test_small_refusals(tmp_path):
    url = _urls(tmp_path)
    neg = run("ls", url, "--timeout", "-5")
    assert neg.returncode == 2 and "positive" in neg.stderr
    typo = run("changes", url, "--table", "nots")
    assert typo.returncode == 1 and "nots" in typo.stderr
    three = run("page", url, "1", "--txid", "3")
    assert three.returncode == 2 and "0000000000000003" in three.stderr
    assert "decimal" not in three.stderr
    fourteen = run("page", url, "1", "--txid", "14")
    assert "000000000000000e if you meant decimal 14" in fourteen.stderr


def test_restore_to_stdout_and_its_conditions(tmp_path):
    url = _urls(tmp_path)
    piped = run("restore", url, "-o", "-", "--txid", "0x2", text=False)
    assert piped.returncode == 0 and piped.stdout[:16] == b"SQLite format 3\x00"
    assert not (tmp_path / "-").exists()
    db = tmp_path / "p.db"
    db.write_bytes(piped.stdout)
    con = sqlite3.connect(db)
    assert con.execute("select count(*) from t").fetchone() == (60,)
    con.close()
    kept = run("restore", url, "-o", str(db), "--if-db-not-exists")
    assert kept.returncode == 0 and db.read_bytes() == piped.stdout
    none = run(
        "restore", str(tmp_path / "none"), "-o", str(tmp_path / "n.db"), "--if-replica-exists"
    )
    assert none.returncode == 0 and not (tmp_path / "n.db").exists()


def test_03_replicas_in_ls_and_verify(tmp_path):
    root, _ = load_fixture(tmp_path / "replica")
    rows = json.loads(run("ls", str(root), "--json", check=True).stdout)
    assert rows and all(r["level"] is None and r["max_txid"] is None for r in rows)
    assert all(r["generation"] and r["path"] for r in rows)
    verify = run("verify", str(root))
    assert verify.returncode == 1 and "0.3 replica" in verify.stderr
    assert "found generations" not in verify.stderr


def test_write_snapshot_seeds_an_empty_replica(tmp_path):
    db = tmp_path / "seed.db"
    con = sqlite3.connect(db)
    con.execute("create table t (v)")
    con.executemany("insert into t values (?)", [(i,) for i in range(100)])
    con.commit()
    con.close()
    replica = ltx.open((tmp_path / "rep").as_uri())
    info = replica.write_snapshot(db)
    assert info.max_txid == 1 and [p.txid for p in replica.history()] == [1]
    again = ltx.open((tmp_path / "rep").as_uri())
    assert again.view().txid == 1
    out = tmp_path / "back.db"
    again.restore(out)
    assert out.read_bytes() == db.read_bytes()


def test_restore_dry_run_prints_the_plan(tmp_path):
    url = _urls(tmp_path)
    out = tmp_path / "x.db"
    plan = json.loads(run("restore", url, "-o", str(out), "--dry-run", "--json", check=True).stdout)
    assert plan["txid"] == "0000000000000004" and not out.exists()
    assert len(plan["files"]) == plan["requests"] == 4
    assert plan["bytes"] == sum(f["size"] for f in plan["files"]) > 0
    text = run("restore", url, "-o", str(out), "--dry-run", "--txid", "0x2", check=True).stdout
    assert "2 files" in text and "0000000000000002" in text


def test_gs_honours_the_timeout_and_keeps_tracebacks_off_stderr(tmp_path):
    pytest.importorskip("gcsfs")
    url = "gs://bucket/p?endpoint=http://127.0.0.1:9"
    out = run("ls", url, "--timeout", "2")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    # One attempt (gcsfs retries inside it), cut at the deadline rather than gcsfs's ~35 s.
    assert "gave up after 1 attempts" in out.stderr and "FSTimeoutError" in out.stderr


def test_a_replica_named_by_litestream_yml_and_a_database_path(tmp_path, monkeypatch):
    url = _urls(tmp_path)
    rep = tmp_path / "rep"
    cfg = tmp_path / "litestream.yml"
    cfg.write_text(
        "dbs:\n"
        "  - path: /data/other.db\n"
        "    replica: {url: s3://nowhere/x}\n"
        f"  - path: {tmp_path}/app.db\n"
        "    replica:\n"
        "      type: file\n"
        "      path: ${REP_DIR}\n"
    )
    env = {**os.environ, "REP_DIR": str(rep)}
    by_config = run("history", str(tmp_path / "app.db"), "-config", str(cfg), "--json", env=env)
    assert by_config.returncode == 0, by_config.stderr
    assert by_config.stdout == run("history", url, "--json", check=True).stdout
    missing = run("ls", str(tmp_path / "nope.db"), "--config", str(cfg))
    assert (
        missing.returncode == 1
        and "not in" in missing.stderr
        and "litestream.yml" in missing.stderr
    )
    out = tmp_path / "r.db"
    restored = run(
        "restore", "-config", str(cfg), "-o", str(out), str(tmp_path / "app.db"), env=env
    )
    assert restored.returncode == 0, restored.stderr
    assert out.read_bytes()[:16] == b"SQLite format 3\x00"
