"""Hostile replicas: never a wrong page, bounded memory, nothing outside the root."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import textwrap

import pytest

import ltx
from ltx.codec import HEADER_FLAG_NO_CHECKSUM, Header, encode_pages, format_filename
from ltx.replica import Replica
from ltx.storage import RetryPolicy, open_store
from ltx.testing.faults import FaultyFileSystem

PS = 512
TS = 1_790_000_000_000


def _put(root, level: int, lo: int, hi: int, raw: bytes, ts: int = TS) -> str:
    folder = root / "ltx" / str(level)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / format_filename(lo, hi)
    path.write_bytes(raw)
    os.utime(path, ns=(ts * 1_000_000, ts * 1_000_000))
    return str(path)


def _l0(
    lo: int, pages: dict[int, bytes], commit: int, ts: int = TS, hi: int | None = None
) -> bytes:
    h = Header(
        flags=HEADER_FLAG_NO_CHECKSUM,
        page_size=PS,
        commit=commit,
        min_txid=lo,
        max_txid=hi or lo,
        timestamp=ts,
    )
    return encode_pages(h, pages)


def _chain(root) -> None:
    """TXID 1 (two pages) and TXID 2 (page 2 changed)."""
    _put(root, 0, 1, 1, _l0(1, {1: b"a" * PS, 2: b"b" * PS}, 2))
    _put(root, 0, 2, 2, _l0(2, {2: b"c" * PS}, 2, ts=TS + 1000))


def test_header_txids_must_agree_with_the_name(tmp_path):
    root = tmp_path / "rep"
    _chain(root)
    # ltx/0/...03-...03.ltx holding a header that says 7-7.
    _put(root, 0, 3, 3, _l0(7, {2: b"x" * PS}, 2, ts=TS + 2000))
    r = ltx.open(root.as_uri())
    assert r.page_at(2, 2) == b"c" * PS
    with pytest.raises(ltx.HeaderFieldError, match="disagree with the file name") as exc:
        r.page_at(2, 3)
    assert exc.value.path.endswith("0000000000000003-0000000000000003.ltx")
    with pytest.raises(ltx.HeaderFieldError):
        r.restore(tmp_path / "out.db", 3)
    assert not (tmp_path / "out.db").exists()


def test_page_size_must_be_the_replicas(tmp_path):
    root = tmp_path / "rep"
    _chain(root)
    h = Header(flags=2, page_size=1024, commit=2, min_txid=3, max_txid=3, timestamp=TS + 2000)
    _put(root, 0, 3, 3, encode_pages(h, {2: b"z" * 1024}))
    with pytest.raises(ltx.HeaderFieldError, match="page size"):
        ltx.open(root.as_uri()).page_at(1, 3)


def test_level9_file_must_be_a_snapshot(tmp_path):
    root = tmp_path / "rep"
    _chain(root)
    # A level-9 name 1-2 holding an increment 2-2: the name claims a snapshot.
    _put(root, 9, 1, 2, _l0(2, {2: b"c" * PS}, 2, ts=TS + 5000))
    with pytest.raises(ltx.HeaderFieldError):
        ltx.open(root.as_uri()).page_at(1, 2)


_MEMORY_PROBE = textwrap.dedent(
    """
    import resource, sys
    import ltx
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        ltx.open(sys.argv[1]).page_at(1, int(sys.argv[2]))
        print("SERVED")
    except ltx.LTXError as exc:
        print(type(exc).__name__, exc)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("GROWTH_KIB", after - before)
    """
)


@pytest.mark.parametrize("commit", [2**26, 2**32 - 1])
def test_a_hostile_commit_does_not_drive_memory(tmp_path, commit):
    root = tmp_path / "rep"
    _chain(root)
    raw = _l0(3, {1: b"q" * PS}, commit, ts=TS + 2000)
    assert len(raw) < 400
    _put(root, 0, 3, 3, raw)
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, root.as_uri(), "3"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "SERVED" not in out and "FormatError" in out, out
    growth = int(out.split("GROWTH_KIB")[1])
    assert growth < 64 * 1024, out


def test_unrepresentable_timestamps_are_refused_and_compaction_writes_nothing(tmp_path):
    root = tmp_path / "rep"
    _chain(root)
    raw = bytearray(_l0(3, {2: b"t" * PS}, 2, ts=TS + 2000))
    raw[32:40] = (2**63 - 1).to_bytes(8, "big")
    _put(root, 0, 3, 3, bytes(raw))
    with pytest.raises(ltx.HeaderFieldError, match="timestamp"):
        Header.from_bytes(bytes(raw))
    r = ltx.open(root.as_uri())
    later = dt.datetime.fromtimestamp(TS / 1000 + 3600, dt.timezone.utc)
    for _ in range(2):  # a rerun fails the same way and still writes nothing
        with pytest.raises(ltx.FormatError):
            r.compact(now=later)
        assert sorted(p.name for p in root.glob("ltx/*")) == ["0"]


def test_symlinked_level_folder_is_neither_listed_nor_written_through(tmp_path):
    root = tmp_path / "rep"
    _chain(root)
    outside = tmp_path / "outside"
    outside.mkdir()
    decoy = _l0(1, {1: b"d" * PS, 2: b"e" * PS}, 2, hi=2)
    (outside / format_filename(1, 2)).write_bytes(decoy)
    (root / "ltx" / "1").symlink_to(outside, target_is_directory=True)
    store = open_store(root.as_uri())
    assert [f.level for f in store.list_files()] == [0, 0]
    assert store.skipped and store.skipped[0].endswith(format_filename(1, 2))
    with pytest.raises(ltx.AccessDeniedError, match="outside the replica root"):
        store.write(1, 1, 2, decoy, timestamp_ms=TS)
    assert sorted(p.name for p in outside.iterdir()) == [format_filename(1, 2)]


def test_snapshot_replans_when_a_file_vanishes_while_indexing(tmp_path):
    root = tmp_path / "rep"
    _chain(root)
    base = open_store(root.as_uri())

    class VanishOnce(FaultyFileSystem):
        gone = False

        def __getattr__(self, name):
            attr = super().__getattr__(name)
            if name != "cat_file":
                return attr

            def cat_file(path, *a, **k):
                if not VanishOnce.gone and path.endswith(format_filename(2, 2)):
                    VanishOnce.gone = True
                    raise FileNotFoundError(path)
                return attr(path, *a, **k)

            return cat_file

    r = Replica(open_store(root.as_uri(), filesystem=VanishOnce(base.fs)))
    assert r.view().page(2) == b"c" * PS


def test_restore_cleans_leftovers_of_a_killed_restore(tmp_path):
    root = tmp_path / "rep"
    _chain(root)
    out = tmp_path / "app.db"
    dead = tmp_path / ".app.db.ltx-restore-999999999-0123456789ab.tmp"
    dead.write_bytes(b"x" * 4096)
    other = tmp_path / ".other.db.ltx-restore-999999999-0123456789ab.tmp"
    other.write_bytes(b"y")
    ltx.open(root.as_uri()).restore(out)
    assert not dead.exists() and other.exists()
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_compaction_removes_stale_temp_files(tmp_path):
    root = tmp_path / "rep"
    _chain(root)
    stale = root / "ltx" / "0" / f"{format_filename(3, 3)}.tmp-{'a' * 32}"
    fresh = root / "ltx" / "0" / f"{format_filename(4, 4)}.tmp-{'b' * 32}"
    import time

    for p, age in ((stale, 7200), (fresh, 60)):
        p.write_bytes(b"partial")
        t = time.time() - age  # temp files age by the wall clock, not the planning time
        os.utime(p, (t, t))
    ltx.open(root.as_uri()).compact(now=dt.datetime.fromtimestamp(TS / 1000, dt.timezone.utc))
    assert not stale.exists() and fresh.exists()


SECRETS = ("se/cr+etKEY", "SECRETX", "SIGSECRET", "PWSECRET")


def test_secrets_never_leak(tmp_path, caplog):
    urls = [
        "s3://AKIAEXAMPLE:se/cr+etKEY@bucket/p?endpoint=http://127.0.0.1:9&region=us-east-1",
        "s3://bucket/p?endpoint=http://KEYX:SECRETX@127.0.0.1:9&region=us-east-1",
        "s3://bucket/p?sig=SIGSECRET&X-Amz-Signature=SIGSECRET",
        "webdav://user:PWSECRET@127.0.0.1:9/p?passwd=PWSECRET&auth=PWSECRET",
        "abs://acct:se/cr+etKEY@c/p?endpoint=http://127.0.0.1:9/acct",
        "abs://acct@c/p?endpoint=http://127.0.0.1:9/acct?sv=1%26sig=SIGSECRET&sig=SIGSECRET",
    ]
    seen: list[str] = []
    caplog.set_level(logging.DEBUG)
    for url in urls:
        try:
            r = ltx.open(url, retry=RetryPolicy(attempts=2, base_delay=0.01), env={})
            seen += [repr(r), repr(r.store), r.store.url]
            r.history()
        except Exception as exc:  # every failure, typed or not, is searched
            seen += [str(exc), repr(exc), type(exc).__name__]
            cause = exc.__cause__
            while cause is not None:
                seen.append(str(cause))
                cause = cause.__cause__
        cli = subprocess.run(
            [sys.executable, "-m", "ltx", "ls", url, "--timeout", "2"],
            capture_output=True,
            text=True,
            env={**os.environ, "LTX_TEST": "1"},
        )
        seen += [cli.stdout, cli.stderr]
        assert cli.returncode != 0 and "Traceback" not in cli.stderr
    seen += [rec.getMessage() for rec in caplog.records]
    blob = "\n".join(seen)
    for secret in SECRETS:
        assert secret not in blob, secret


def test_stores_without_temp_files_list_nothing_for_them(monkeypatch):
    """Object stores write with one conditional PUT: compaction's sweep of interrupted
    writes costs them no listing (file://, SFTP and WebDAV still sweep, as above)."""
    store = ltx.open("memory://no-temps").store
    listed: list[object] = []
    monkeypatch.setattr(store, "_ls", lambda *a, **k: listed.append(a) or [])
    assert store.remove_stale_temps(dt.datetime.now(dt.timezone.utc)) == []
    assert listed == []
