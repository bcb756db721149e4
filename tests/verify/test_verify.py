"""``Replica.verify`` and ``ltx verify``: clean on real replicas, names the file when not."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

import ltx
from ltx.codec import format_filename
from tests.helpers import image_pages

PS = 4096


def _copy(src, dst):
    shutil.copytree(src, dst, copy_function=shutil.copy2)
    return dst


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "ltx", *args], capture_output=True, text=True)


@pytest.mark.interop
def test_clean_on_what_litestream_writes(recorded_replicas):
    for ps in (1024, 4096):
        _, url = recorded_replicas(ps)
        report = ltx.open(url).verify(deep=True)
        assert report.ok, report.problems
        assert report.files > 0 and report.points > 0


@pytest.fixture
def real(recorded_replicas, tmp_path):
    _, url = recorded_replicas(4096)
    return _copy(url[len("file://") :], tmp_path / "copy")


@pytest.mark.interop
def test_a_flipped_byte_in_any_file_is_named(real):
    for path in sorted(real.rglob("*.ltx"))[:6]:
        raw = bytearray(path.read_bytes())
        st = path.stat()
        raw[len(raw) // 2] ^= 0x40
        path.write_bytes(bytes(raw))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        report = ltx.open(real.as_uri()).verify()
        assert not report.ok and any(p.path == str(path) for p in report.problems), path
        raw[len(raw) // 2] ^= 0x40
        path.write_bytes(bytes(raw))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.interop
def test_truncated_file_is_named(real):
    path = sorted(real.rglob("ltx/0/*.ltx"))[-1]
    path.write_bytes(path.read_bytes()[:-24])
    report = ltx.open(real.as_uri()).verify()
    assert [p.path for p in report.problems if p.kind == "format"] == [str(path)]


def _replica(tmp_path, steps=5):
    db = tmp_path / "src.db"
    con = sqlite3.connect(db, isolation_level=None)
    con.execute(f"PRAGMA page_size={PS}")
    con.execute("CREATE TABLE p (id INTEGER PRIMARY KEY)")
    con.execute("CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p(id))")
    r = ltx.open((tmp_path / "rep").as_uri())
    prev: dict[int, bytes] = {}
    for i in range(steps):
        con.execute("INSERT INTO p (id) VALUES (?)", (i,))
        con.execute("INSERT INTO c (p) VALUES (?)", (i,))
        cur = image_pages(db.read_bytes(), PS)
        r.append({n: d for n, d in cur.items() if prev.get(n) != d}, len(cur))
        prev = cur
    con.close()
    return tmp_path / "rep", db


def test_missing_range_at_the_head_is_named(tmp_path):
    root, _ = _replica(tmp_path)
    (root / "ltx" / "0" / format_filename(4, 4)).unlink()
    report = ltx.open(root.as_uri()).verify()
    messages = " ".join(p.message for p in report.problems)
    assert "missing TXIDs 0000000000000004-0000000000000004" in messages
    assert "latest state 0000000000000005 is unreachable" in messages


def test_header_that_disagrees_with_its_name_is_named(tmp_path):
    root, _ = _replica(tmp_path)
    l0 = root / "ltx" / "0"
    (l0 / format_filename(5, 5)).rename(l0 / format_filename(6, 6))
    report = ltx.open(root.as_uri()).verify()
    assert any(
        p.kind == "format" and p.path.endswith(format_filename(6, 6)) and "disagree" in p.message
        for p in report.problems
    ), report.problems


def test_deep_finds_a_database_corrupted_before_replication(tmp_path):
    root, db = _replica(tmp_path)
    assert ltx.open(root.as_uri()).verify(deep=True).ok
    # Corrupt the source's b-tree (a page's cell pointer) and replicate that state.
    image = bytearray(db.read_bytes())
    image[2 * PS + 8 + 1] ^= 0xFF  # page 3: the first cell pointer of a table leaf
    cur = image_pages(bytes(image), PS)
    r = ltx.open(root.as_uri())
    r.append({3: cur[3]}, len(cur))
    shallow = r.verify()
    assert shallow.ok  # every file is a valid LTX file: only SQLite can tell
    deep = r.verify(deep=True)
    assert not deep.ok and all(p.kind == "integrity" for p in deep.problems)


def test_cli_verify_exit_codes_json_and_a_prefix_of_many(tmp_path):
    root, _ = _replica(tmp_path)
    ok = _cli("verify", root.as_uri())
    assert ok.returncode == 0 and ": ok (" in ok.stdout
    many = tmp_path / "many"
    _copy(root, many / "app1")
    _copy(root, many / "nested" / "app2")
    (many / "nested" / "app2" / "ltx" / "0" / format_filename(2, 2)).unlink()
    out = _cli("verify", many.as_uri(), "--json")
    assert out.returncode == 1, out.stderr
    got = json.loads(out.stdout)
    assert [r["ok"] for r in got["replicas"]] == [True, False]
    assert got["replicas"][1]["url"].endswith("nested/app2")
    nothing = _cli("verify", (tmp_path / "none").as_uri())
    assert nothing.returncode == 1 and "looked for" in nothing.stderr
