"""Property tests of the codec's invariants, using the strategies users get in ltx.testing."""

from __future__ import annotations

import contextlib
import io

from hypothesis import assume, example, given
from hypothesis import strategies as st

import ltx
from ltx.codec import crc64, decode, read_file_index, read_page, read_page_index
from ltx.codec._checksum import crc64_pure
from ltx.testing import ltx_files


def _decode_all(data: bytes):
    dec = ltx.Decoder(io.BytesIO(data))
    pages = {ph.pgno: page for ph, page in dec}
    return dec.header, pages, dec.trailer


@given(ltx_files())
def test_round_trip(file):
    data, model = file
    header, pages, trailer = _decode_all(data)
    assert header == model.header
    assert pages == model.pages
    assert trailer.post_apply_checksum == model.post_apply_checksum


@given(ltx_files(page_size=65536, max_commit=3))
def test_round_trip_large_pages(file):
    data, model = file
    assert decode(data).pages == model.pages


@given(ltx_files(), st.data())
def test_any_single_byte_flip_is_detected(file, data):
    raw, model = file
    pos = data.draw(st.integers(0, len(raw) - 1), label="pos")
    bit = data.draw(st.integers(1, 255), label="xor")
    bad = bytearray(raw)
    bad[pos] ^= bit
    try:
        header, pages, trailer = _decode_all(bytes(bad))
    except ltx.LTXError:
        return
    # The file checksum hashes decompressed pages, not the LZ4 bytes, so a flip inside
    # a compressed block can only go unnoticed if the block still yields the very same
    # page (e.g. a match offset change inside a run of equal bytes). No wrong data.
    assert header == model.header
    assert pages == model.pages
    assert trailer.post_apply_checksum == model.post_apply_checksum


@given(ltx_files(), st.data())
def test_truncation_at_any_offset_raises(file, data):
    raw, _ = file
    cut = data.draw(st.integers(0, len(raw) - 1))
    try:
        _decode_all(raw[:cut])
    except ltx.LTXError:
        return
    raise AssertionError(f"truncated file of {cut}/{len(raw)} bytes decoded")


@given(ltx_files(), st.binary(min_size=1, max_size=32))
def test_trailing_garbage_raises(file, junk):
    raw, _ = file
    try:
        _decode_all(raw + junk)
    except ltx.LTXError:
        return
    raise AssertionError("trailing bytes accepted")


@given(st.binary(max_size=2048))
@example(b"LTX1" + bytes(96))
def test_junk_only_raises_ltx_errors(junk):
    with contextlib.suppress(ltx.LTXError):
        _decode_all(junk)


@given(ltx_files(), st.binary(min_size=1, max_size=300), st.data())
def test_spliced_junk_only_raises_ltx_errors(file, junk, data):
    raw, _ = file
    at = data.draw(st.integers(0, len(raw)))
    spliced = raw[:at] + junk + raw[at:]
    with contextlib.suppress(ltx.LTXError):
        _decode_all(spliced)
    with contextlib.suppress(ltx.LTXError):
        read_page_index(lambda s, e: spliced[s:e], len(spliced))


@given(ltx_files(), st.sampled_from([64, 200, 1 << 16]))
def test_random_access_equals_streaming(file, tail):
    raw, model = file
    calls = []

    def rr(start, end):
        calls.append((start, end))
        return raw[start:end]

    fi = read_page_index(rr, len(raw), tail=tail)
    assert len(calls) <= 2
    calls.clear()
    fi2 = read_file_index(rr, len(raw), tail=tail)
    assert len(calls) <= 2
    assert fi2.header == model.header and fi.index == fi2.index
    assert list(fi.index.pgnos) == sorted(model.pages)
    for pgno, offset, size in fi.index:
        calls.clear()
        assert read_page(rr, offset, size, model.header.page_size, pgno=pgno) == model.pages[pgno]
        assert len(calls) == 1


@given(st.binary(max_size=4096), st.binary(max_size=64))
def test_fast_crc_equals_pure(data, more):
    assume(True)
    assert crc64(data, 0) == crc64_pure(data)
    assert crc64(more, crc64(data, 0)) == crc64_pure(data + more)
