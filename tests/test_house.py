"""The house rules hold: one home per format rule, the scheme registry, typed errors."""

from __future__ import annotations

import io

import pytest
from hypothesis import given

import ltx
from ltx.codec import FileIndex, Header, encode_pages, read_file_index
from ltx.storage import REFUSED, SCHEMES, parse_url
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
