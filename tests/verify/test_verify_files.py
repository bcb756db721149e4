"""Fail closed when asked: ``verify_files`` checks a file whole before serving its pages."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

import ltx
from ltx.codec import decode
from ltx.errors import ChecksumMismatchError
from tests.changes.test_diff_util import append_images
from tests.helpers import image_pages, sqlite_history

PS = 4096


def _replica(tmp_path: Path) -> tuple[Path, list[bytes]]:
    root = tmp_path / "rep"
    images = sqlite_history(tmp_path / "src.db", page_size=PS, steps=5)
    append_images(ltx.open(root.as_uri()), images, PS)
    return root, images


def _corrupt_page(path: Path, pgno: int) -> bytes:
    """Flip the last byte of page ``pgno`` in ``path``; frames and index stay sound, the
    file checksum (kept from the original) no longer matches. Returns the new page."""
    raw = path.read_bytes()
    got = decode(raw)
    page = bytearray(got.pages[pgno])
    page[-1] ^= 0x01
    buf = io.BytesIO()
    enc = ltx.Encoder(buf, got.header)
    for p in sorted(got.pages):
        enc.write_page(p, bytes(page) if p == pgno else got.pages[p])
    enc.close()
    path.write_bytes(buf.getvalue()[:-8] + raw[-8:])
    return bytes(page)


@pytest.fixture
def corrupt(tmp_path: Path) -> tuple[Path, int, Path]:
    """A replica whose newest file serves a changed table page under a stale checksum."""
    root, _ = _replica(tmp_path)
    newest = sorted((root / "ltx" / "0").glob("*.ltx"))[-1]
    pgno = max(p for p in decode(newest.read_bytes()).pages if p > 1)
    _corrupt_page(newest, pgno)
    return root, pgno, newest


def test_page_reads_do_not_see_the_file_checksum(corrupt: tuple[Path, int, Path]) -> None:
    root, pgno, _ = corrupt
    assert ltx.open(root.as_uri()).page_at(pgno)  # served: only the file checksum knows


def test_verify_files_refuses_every_page_of_a_bad_file(corrupt: tuple[Path, int, Path]) -> None:
    root, pgno, newest = corrupt
    r = ltx.open(root.as_uri(), verify_files=True)
    for p in (pgno, 1):  # the changed page, and an intact page of the same file
        with pytest.raises(ChecksumMismatchError) as err:
            r.page_at(p)
        assert err.value.path == str(newest)


def test_each_file_is_verified_once_and_kept_with_the_cache(tmp_path: Path) -> None:
    root, images = _replica(tmp_path)
    cache = tmp_path / "cache"
    r = ltx.open(root.as_uri(), verify_files=True, cache_dir=cache)
    pages = len(images[-1]) // PS
    for _ in range(2):
        assert [r.page_at(p) for p in range(1, pages + 1)] == list(
            image_pages(images[-1], PS).values()
        )
    used = {r.page_map().locate(p).file.path for p in range(1, pages + 1)}
    assert r.reader.files_verified == len(used)
    again = ltx.open(root.as_uri(), verify_files=True, cache_dir=cache)
    again.page_at(1)
    assert again.reader.files_verified == 0  # the outcome was kept in cache_dir


def test_connect_with_verify_files_fails_closed(corrupt: tuple[Path, int, Path]) -> None:
    pytest.importorskip("apsw")
    from ltx.sqlite import connect

    root, _, newest = corrupt
    with pytest.raises(ChecksumMismatchError) as err:  # page 1 is in the bad file
        con = connect(root.as_uri(), verify_files=True)
        con.execute("SELECT count(*), sum(length(v)) FROM t").fetchall()
    assert err.value.path == str(newest)
    plain = connect(root.as_uri())
    assert plain.execute("SELECT count(*) FROM t").fetchall()  # served without a word
    plain.close()
    assert newest.exists()


def test_connect_refuses_a_replica_opened_without_it(tmp_path: Path) -> None:
    pytest.importorskip("apsw")
    from ltx.errors import UsageError
    from ltx.sqlite import connect

    root, _ = _replica(tmp_path)
    with pytest.raises(UsageError, match="verify_files=True"):
        connect(ltx.open(root.as_uri()), verify_files=True)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ltx", *args], capture_output=True, text=True)


def test_cli_page_verifies_by_default_and_sql_when_asked(corrupt: tuple[Path, int, Path]) -> None:
    root, pgno, newest = corrupt
    bad = _cli("page", root.as_uri(), str(pgno))
    assert bad.returncode != 0 and "checksum" in bad.stderr and newest.name in bad.stderr
    assert _cli("page", root.as_uri(), str(pgno), "--no-verify").returncode == 0
    pytest.importorskip("apsw")
    sql = _cli("sql", root.as_uri(), "SELECT count(*) FROM t", "--verify")
    assert sql.returncode != 0 and "checksum" in sql.stderr, sql.stderr
    assert _cli("sql", root.as_uri(), "SELECT count(*) FROM t").returncode == 0
