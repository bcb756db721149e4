"""The house rules hold: one home per format rule, the scheme registry, typed errors."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest
from hypothesis import given

import ltx
from ltx.codec import FileIndex, Header, encode_pages, read_file_index, sqlite_page_size
from ltx.storage import (
    DECIMAL,
    HEX,
    REFUSED,
    SCHEMES,
    SchemeSpec,
    available_schemes,
    open_store,
    parse_url,
    register_scheme,
)
from ltx.storage._memory import MemoryBackend
from ltx.storage._retry import classify
from ltx.testing import ltx_files


@given(ltx_files())
def test_file_index_bytes_round_trip(drawn):
    raw, model = drawn
    fi = read_file_index(lambda s, e: raw[s:e], len(raw))
    back = FileIndex.from_bytes(fi.to_bytes(), len(raw))
    assert back == fi
    assert list(back.index.pgnos) == sorted(model.pages)


def test_file_index_bytes_damage_is_a_format_error():
    h = Header(flags=2, page_size=512, commit=2, min_txid=1, max_txid=1)
    raw = encode_pages(h, {1: b"a" * 512, 2: b"b" * 512})
    good = read_file_index(lambda s, e: raw[s:e], len(raw)).to_bytes()
    for bad in (b"", b"\x07" + good[1:], good[:50], good + b"x"):
        with pytest.raises(ltx.FormatError):
            FileIndex.from_bytes(bad, len(raw))


_SMALL = Header(flags=2, page_size=512, commit=1, min_txid=1, max_txid=1)


def test_encode_pages_equals_the_encoder_and_drops_the_lock_page():
    ps = 512
    lock = 1_073_741_824 // ps + 1
    h = Header(flags=2, page_size=ps, commit=lock + 1, min_txid=2, max_txid=2)
    pages = {lock - 1: b"x" * ps, lock: b"y" * ps, lock + 1: b"z" * ps}
    buf = io.BytesIO()
    enc = ltx.Encoder(buf, h)
    enc.write_page(lock - 1, pages[lock - 1])
    enc.write_page(lock + 1, pages[lock + 1])
    enc.close()
    assert encode_pages(h, pages) == buf.getvalue()
    assert encode_pages(h, sorted(pages.items())) == buf.getvalue()


@pytest.mark.parametrize(
    ("prev", "pgno", "snapshot", "problem"),
    [
        (0, 1, True, None),
        (1, 3, True, "contiguous"),
        (3, 2, False, "out-of-order"),
        (0, 0, False, "required"),
        (0, 9, False, "out-of-bounds"),
    ],
)
def test_page_order_rule_has_one_home(prev, pgno, snapshot, problem):
    h = Header(flags=2, page_size=512, commit=8, min_txid=1 if snapshot else 3, max_txid=3)
    got = h.page_order_problem(prev, pgno)
    assert (got is None) if problem is None else (problem in got)


def test_every_scheme_has_one_spec_and_layout():
    assert {"file", "memory", "s3", "s3a", "gs", "gcs", "webdav", "webdavs", "sftp"} <= set(SCHEMES)
    assert SCHEMES["s3"].layout.name == "hex" and SCHEMES["sftp"].layout.name == "decimal"
    assert all(spec.conditional_create for name, spec in SCHEMES.items())
    for scheme in REFUSED:
        with pytest.raises(ltx.UsageError, match=f"{scheme}:// is not supported"):
            parse_url(f"{scheme}://bucket/path")


def test_the_registry_is_read_only_and_takes_new_schemes():
    with pytest.raises(TypeError):
        SCHEMES["evil"] = SCHEMES["file"]  # type: ignore[index]
    spec = SchemeSpec(schemes=("ltx-test-mem",), protocol="memory", backend=MemoryBackend)
    register_scheme(spec)
    register_scheme(spec)  # the same spec again is no change
    assert SCHEMES["ltx-test-mem"] is spec and "ltx-test-mem" in available_schemes()
    with pytest.raises(ltx.UsageError, match="already registered"):
        register_scheme(SchemeSpec(schemes=("file",), protocol="memory"))
    with pytest.raises(ltx.UsageError, match="URL scheme"):
        register_scheme(SchemeSpec(schemes=("9x",), protocol="memory"))
    store = open_store("ltx-test-mem://house/registry")
    store.write(0, 1, 1, encode_pages(_SMALL, {1: b"a" * 512}), timestamp_ms=0)
    assert [f.max_txid for f in store.list_files()] == [1]
    assert store.layout is DECIMAL and SCHEMES["file"].layout is DECIMAL


@pytest.mark.parametrize("layout", [DECIMAL, HEX])
def test_the_layout_owns_level_folders_and_file_paths(layout):
    for level in range(10):
        folder = layout.level_dir(level)
        assert layout.parse_level_dir(folder.rsplit("/", 1)[-1]) == level
        rel = "a/b/" + layout.file_path(level, 2, 3)
        assert layout.replica_root_of(rel) == "a/b"
        assert layout.replica_root_of(layout.file_path(level, 2, 3)) == ""
    assert layout.replica_root_of("a/" + layout.level_dir(0) + "/x.ltx") is None
    assert layout.replica_root_of("0000000000000001-0000000000000001.ltx") is None
    assert layout.parse_level_dir("10") is None and layout.parse_level_dir("000a") is None
    other = HEX if layout is DECIMAL else DECIMAL
    assert other.replica_root_of(layout.file_path(0, 1, 1)) is None
    with pytest.raises(ltx.UsageError):
        layout.level_dir(10)


def test_unknown_and_secret_query_parameters_are_refused():
    with pytest.raises(ltx.UsageError, match="known: endpoint"):
        parse_url("s3://b/p?regoin=us-east-1")
    with pytest.raises(ltx.UsageError, match="LITESTREAM_ACCESS_KEY_ID") as exc:
        parse_url("s3://b/p?access-key-id=AKIA&secret-access-key=SHH")
    assert "SHH" not in str(exc.value) and "AKIA" not in str(exc.value)


def _client_error(code: str, status: int) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject",
    )


def test_errors_are_classified_by_type_and_status_not_by_text():
    assert classify(_client_error("SlowDown", 503)) == "transient"
    assert classify(_client_error("Weird", 500)) == "transient"
    assert classify(_client_error("NoSuchKey", 404)) == "not_found"
    assert classify(_client_error("PreconditionFailed", 412)) == "conflict"
    wrapped = OSError(5, "s3fs wrapper")
    wrapped.__cause__ = _client_error("InternalError", 500)
    assert classify(wrapped) == "transient"
    assert classify(ConnectionResetError()) == "transient"
    assert classify(FileNotFoundError("x")) == "not_found"
    assert classify(RuntimeError("HTTP 500 in the message only")) == "permanent"


SRC = Path(ltx.__file__).parent
_SQLITE_HOME = "sqlitefmt/header.py"
#: Literals that state a format rule, and the one file allowed to state each.
RULE_LITERALS = {
    "the SQLite magic": (r"SQLite format 3", _SQLITE_HOME),
    "the lock page (PENDING_BYTE)": (
        r"0x40000000|\b1_?073_?741_?824\b|\b2\s*\*\*\s*30\b|\(1\s*<<\s*30\)\s*//",
        _SQLITE_HOME,
    ),
    "the page-size decoding (1 means 65536)": (
        r"\b65536\s+if\b|==\s*1\s+else\s+65536",
        _SQLITE_HOME,
    ),
    "the page-size check": (r"\b512\s*<=|<=\s*65536\b", _SQLITE_HOME),
    "the Unix epoch": (
        r"datetime\(\s*1970\b|fromtimestamp\(\s*0\s*[,)]|utcfromtimestamp",
        "times.py",
    ),
}


def _code(path: Path) -> str:
    """The file's source with comments and docstrings blanked (they may name a rule)."""
    lines = path.read_text().splitlines(keepends=True)
    blank: list[tuple[tuple[int, int], tuple[int, int]]] = []
    prev = tokenize.NEWLINE
    with path.open("rb") as fh:
        for tok in tokenize.tokenize(fh.readline):
            docstring = tok.type == tokenize.STRING and prev in (
                tokenize.NEWLINE,
                tokenize.INDENT,
                tokenize.DEDENT,
                tokenize.ENCODING,
            )
            if tok.type == tokenize.COMMENT or docstring:
                blank.append((tok.start, tok.end))
            if tok.type not in (tokenize.NL, tokenize.COMMENT):
                prev = tok.type
    for (r0, c0), (r1, c1) in reversed(blank):
        if r0 == r1:
            line = lines[r0 - 1]
            lines[r0 - 1] = line[:c0] + " " * (c1 - c0) + line[c1:]
        else:
            lines[r0 - 1] = lines[r0 - 1][:c0] + "\n"
            for r in range(r0, r1 - 1):
                lines[r] = "\n"
            lines[r1 - 1] = " " * c1 + lines[r1 - 1][c1:]
    return "".join(lines)


def rule_restatements(root: Path) -> list[str]:
    """``file:line: rule`` for every rule literal found outside its home under ``root``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        code = _code(path)
        for rule, (pattern, home) in RULE_LITERALS.items():
            if rel == home:
                continue
            lines = {code.count("\n", 0, m.start()) + 1 for m in re.finditer(pattern, code)}
            found += [f"{rel}:{line}: {rule}" for line in sorted(lines)]
    return sorted(found, key=lambda f: (f.split(":")[0], int(f.split(":")[1])))


def test_each_sqlite_rule_and_the_epoch_have_one_home():
    assert rule_restatements(SRC) == []
    for rule in ("the SQLite magic", "the lock page (PENDING_BYTE)", "the Unix epoch"):
        pattern, home = RULE_LITERALS[rule]
        assert re.search(pattern, _code(SRC / home)), f"{rule} left its home {home}"


def test_the_house_scan_catches_a_second_home(tmp_path):
    (tmp_path / "copy.py").write_text(
        '"""Docstrings and comments may name SQLite format 3 and 0x40000000."""\n'
        "import datetime as dt  # since datetime(1970, 1, 1)\n"
        'MAGIC = b"SQLite format 3\\x00"\n'
        "LOCK = (1 << 30) // 4096 + 1\n"
        "SIZE = 65536 if raw == 1 else raw\n"
        "OK = 512 <= raw <= 65536\n"
        "E = dt.datetime.fromtimestamp(0, dt.timezone.utc)\n"
    )
    got = rule_restatements(tmp_path)
    assert [g.split(": ", 1)[1] for g in got] == [
        "the SQLite magic",
        "the lock page (PENDING_BYTE)",
        "the page-size decoding (1 means 65536)",
        "the page-size check",
        "the Unix epoch",
    ]
    assert [g.split(":")[1] for g in got] == ["3", "4", "5", "6", "7"]


@pytest.mark.parametrize(
    ("head", "offset"),
    [
        (b"", 0),
        (b"SQLite format 3\x00" + b"\x00" * 10, 0),
        (b"SQLite format 2\x00" + b"\x00" * 84, 0),
        (b"SQLite format 3\x00" + (1000).to_bytes(2, "big") + b"\x00" * 82, 16),
    ],
    ids=["empty", "short", "magic", "page-size"],
)
def test_a_bad_sqlite_header_raises_one_error_type_at_every_entry(tmp_path, head, offset):
    from ltx.dbfile import checksum_db
    from ltx.legacy._apply import _header_page_size
    from ltx.legacy._names import LegacyObject
    from ltx.sqlitefmt.header import header_page_size, read_header
    from ltx.times import EPOCH

    snap = LegacyObject("g/snapshots/0.snapshot.lz4", "g", "snapshot", 0, 0, 1, EPOCH)
    db = tmp_path / "bad.db"
    db.write_bytes(head)
    calls = [
        lambda: header_page_size(head),
        lambda: read_header(head),
        lambda: sqlite_page_size(head),
        lambda: ltx.codec.checksum_database(io.BytesIO(head)),
        lambda: checksum_db(db),
        lambda: _header_page_size(snap, head or b"x"),
    ]
    for call in calls:
        with pytest.raises(ltx.DatabaseFormatError) as err:
            call()
        assert err.value.offset == offset
        assert not isinstance(err.value, (ltx.TruncatedError, ltx.errors.LegacyFormatError))


def test_page_size_decoding_has_one_home():
    from ltx.sqlitefmt.header import header_page_size

    page1 = bytearray(b"SQLite format 3\x00" + b"\x00" * 84)
    page1[16:18] = (1).to_bytes(2, "big")
    assert header_page_size(bytes(page1)) == sqlite_page_size(bytes(page1)) == 65536
