"""The CLI as a user types it: never misleading, one line per error, JSON on request."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

import ltx
from tests.helpers import image_pages

PS = 4096


def run(*args: str, check: bool = False, **kw) -> subprocess.CompletedProcess[str]:
    kw.setdefault("text", True)
    out = subprocess.run([sys.executable, "-m", "ltx", *args], capture_output=True, **kw)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def _wal_history(tmp_path) -> tuple[str, list[int]]:
    """A replica of a WAL-mode database; returns its URL and the row count at each TXID."""
    db = tmp_path / "src.db"
    con = sqlite3.connect(db, isolation_level=None)
    con.execute(f"PRAGMA page_size={PS}")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    replica = ltx.open((tmp_path / "rep").as_uri())
    prev: dict[int, bytes] = {}
    counts = []
    for step in range(4):
        con.executemany("INSERT INTO t (v) VALUES (?)", [(f"r{step}-{i}",) for i in range(30)])
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cur = image_pages(db.read_bytes(), PS)
        replica.append({p: d for p, d in cur.items() if prev.get(p) != d}, len(cur))
        prev = cur
        counts.append(con.execute("SELECT count(*) FROM t").fetchone()[0])
    con.close()
    return (tmp_path / "rep").as_uri(), counts


def _rows(path) -> int:
    con = sqlite3.connect(path)
    try:
        return int(con.execute("SELECT count(*) FROM t").fetchone()[0])
    finally:
        con.close()


def test_restore_overwrite_removes_a_stale_wal(tmp_path):
    url, counts = _wal_history(tmp_path)
    app = tmp_path / "app.db"
    run("restore", url, "-o", str(app), check=True)
    assert _rows(app) == counts[-1]
    # The application writes on: its -wal holds frames the replica never saw.
    con = sqlite3.connect(app, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.executemany("INSERT INTO t (v) VALUES (?)", [("later",)] * 500)
    wal = (tmp_path / "app.db-wal").read_bytes()
    shm = (tmp_path / "app.db-shm").read_bytes()
    con.close()
    (tmp_path / "app.db-wal").write_bytes(wal)
    (tmp_path / "app.db-shm").write_bytes(shm)
    out = run("restore", url, "-o", str(app), "--txid", "0000000000000002", "--overwrite")
    assert out.returncode == 0, out.stderr
    assert not (tmp_path / "app.db-wal").exists() and not (tmp_path / "app.db-shm").exists()
    assert _rows(app) == counts[1]
    con = sqlite3.connect(app)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


def test_restore_refusal_names_the_flag_and_files_get_the_umask(tmp_path):
    url, _ = _wal_history(tmp_path)
    app = tmp_path / "app.db"
    run("restore", url, "-o", str(app), check=True)
    mask = os.umask(0)
    os.umask(mask)
    assert app.stat().st_mode & 0o777 == 0o666 & ~mask
    again = run("restore", url, "-o", str(app))
    assert again.returncode == 1 and "--overwrite" in again.stderr


@pytest.mark.parametrize(
    ("txid", "ok"),
    [("0000000000000002", True), ("0x2", True), ("0X02", True), ("2", False), ("14", False)],
)
def test_txid_forms(tmp_path, txid, ok):
    url, _ = _wal_history(tmp_path)
    out = run("page", url, "1", "--txid", txid)
    if ok:
        assert out.returncode == 0, out.stderr
    else:
        assert out.returncode == 2 and "16 hex digits" in out.stderr


def test_nothing_found_says_what_was_looked_for(tmp_path):
    missing = (tmp_path / "nope").as_uri()
    for cmd in ("ls", "history"):
        out = run(cmd, missing)
        assert out.returncode == 1 and out.stdout == ""
        assert "looked for ltx/0..ltx/9 and generations/" in out.stderr
        assert str(tmp_path / "nope") in out.stderr
    db = tmp_path / "app.db"
    db.write_bytes(b"SQLite format 3\x00")
    out = run("history", db.as_uri())
    assert out.returncode == 1 and "names a file" in out.stderr


def test_bad_input_is_one_line_and_debug_shows_the_traceback(tmp_path):
    url, _ = _wal_history(tmp_path)
    for when in ("next tuesday", "2020-13-45", "99999999999 days ago"):
        out = run("page", url, "1", "--timestamp", when)
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and when in out.stderr
    debug = run("--debug", "page", url, "1", "--timestamp", "next tuesday")
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    secret = run("ls", "s3://AKIA:abc/def@bucket/p?region=us-east-1", "--timeout", "1")
    assert "Traceback" not in secret.stderr and "abc/def" not in secret.stderr
    unknown = run("ls", "s3://bucket/p?regoin=eu")
    assert unknown.returncode == 1 and "known: endpoint" in unknown.stderr


def test_unreachable_endpoint_says_it_retries_and_gives_up_in_time(tmp_path):
    t0 = time.monotonic()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    url = "s3://bucket/p?endpoint=http://127.0.0.1:9&region=us-east-1"
    out = run("ls", url, "--timeout", "3", env=env)
    assert time.monotonic() - t0 < 20
    assert out.returncode == 1
    assert "retrying" in out.stderr and "127.0.0.1:9" in out.stderr


def test_pipes_versions_help_and_page_zero(tmp_path):
    url, _ = _wal_history(tmp_path)
    piped = subprocess.run(
        f"{sys.executable} -m ltx page {url} 1 | head -1",
        shell=True,
        capture_output=True,
        text=True,
    )
    assert piped.stdout.startswith("00000000") and "Broken pipe" not in piped.stderr
    assert run("--version", check=True).stdout.startswith("ltx ")
    helped = run("ls", "--help", check=True).stdout
    assert "replica URL" in helped and "print JSON" in helped and "only this level" in helped
    zero = run("page", url, "0")
    assert zero.returncode == 1 and "numbered 1.." in zero.stderr


def test_every_command_speaks_json(tmp_path):
    url, counts = _wal_history(tmp_path)
    files = json.loads(run("ls", url, "--json", check=True).stdout)
    assert [f["max_txid"] for f in files] == [f"{t:016x}" for t in range(1, 5)]
    hist = json.loads(run("history", url, "--json", check=True).stdout)
    assert len(hist) == len(counts)
    page = json.loads(run("page", url, "1", "--json", check=True).stdout)
    assert bytes.fromhex(page["hex"]).startswith(b"SQLite format 3")
    out = tmp_path / "r.db"
    rec = json.loads(run("restore", url, "-o", str(out), "--json", check=True).stdout)
    assert rec["txid"] == "0000000000000004" and _rows(out) == counts[-1]
    dry = json.loads(
        run(
            "compact", url, "--dry-run", "--now", "2100-01-01T00:00:00Z", "--json", check=True
        ).stdout
    )
    assert dry["dry_run"] and dry["steps"]


def test_demo_reads_plainly(tmp_path):
    out = run("demo", "--dir", str(tmp_path / "demo"), check=True).stdout
    assert "TXIDs can be restored exactly" in out
    assert "python -m ltx" not in out


AZ_KEY = "bm90LXRoZS1henVyaXRlLWtleS1hdC1hbGwtMzJieXQ="  # base64, not Azurite's key
AZ_SECRETS = {"LITESTREAM_AZURE_ACCOUNT_KEY": AZ_KEY}


def _one_error_line(stderr: str) -> str:
    """The single line of the error (retry notes aside), checked to hold no secret."""
    lines = [ln for ln in stderr.strip().splitlines() if not ln.startswith("ltx: retrying")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    for secret in (AZ_KEY, AZ_KEY[:12], "SIGSECRET"):
        assert secret not in stderr, stderr
    return lines[0]


def test_azure_unreachable_endpoint_fails_in_time_with_one_line():
    for extra in (AZ_SECRETS, {"LITESTREAM_AZURE_SAS_TOKEN": "sv=2023-01-03&sp=r&sig=SIGSECRET"}):
        t0 = time.monotonic()
        url = "abs://acct@c/p?endpoint=http://127.0.0.1:9/acct"
        out = run("ls", url, "--timeout", "3", env={**os.environ, **extra})
        assert time.monotonic() - t0 < 20
        assert out.returncode == 1 and "retrying" in out.stderr
        assert "127.0.0.1:9" in _one_error_line(out.stderr)


def test_azure_wrong_key_is_denied_at_once_with_one_line(azurite_endpoint):
    url = f"abs://devstoreaccount1@ltx-test/p?endpoint={azurite_endpoint}"
    t0 = time.monotonic()
    out = run("ls", url, "--timeout", "30", env={**os.environ, **AZ_SECRETS})
    assert out.returncode == 1 and "retrying" not in out.stderr
    assert time.monotonic() - t0 < 20
    line = _one_error_line(out.stderr)
    assert "ErrorCode: Authorization" in line or "ErrorCode: Authentication" in line, line
