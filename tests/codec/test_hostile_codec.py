"""Hostile inputs to the codec: each case reproduces a way a bad file once got through.

Legacy LZ4-frame bombs and floods of tiny blocks (bounded output, linear walk), cut
and spliced files read by random access (never a different index), pages yielded
before verification (``verified_pages``), and sizes checked before anything is read.
Time and memory are measured in a fresh interpreter (``tests.fuzz.hostile.measure``).
"""

from __future__ import annotations

import io
import tempfile
import time

import lz4.frame
import pytest
from hypothesis import HealthCheck, given, settings

import ltx
from ltx.codec import (
    Decoder,
    FileIndex,
    Header,
    PageIndex,
    _decoder,
    encode_pages,
    lock_pgno,
    read_file_index,
    read_page,
    read_page_index,
)
from ltx.codec._decoder import verified_pages
from ltx.codec._frame import (
    LegacyFrameReader,
    decompress_legacy_frame,
    legacy_frame_bound,
    max_frame_size,
)
from ltx.codec._page_index import encode_uvarint
from ltx.testing import ltx_files
from tests.codec.test_codec_vectors import REAL_L0_HEX, V3_HEX
from tests.fuzz import hostile as H

REAL_L0 = bytes.fromhex(REAL_L0_HEX)
MIB = 1 << 20


def _rr(raw: bytes):
    return lambda start, end: raw[start:end]


def _snapshot(page_size: int, count: int) -> bytes:
    """A NoChecksum snapshot of pages 1..count."""
    header = Header(flags=2, page_size=page_size, commit=count, min_txid=1, max_txid=1)
    return encode_pages(header, H.page_set(page_size, count))


def _stream(raw: bytes, **kw) -> dict[int, bytes]:
    return {ph.pgno: data for ph, data in Decoder(io.BytesIO(raw), **kw)}


# -- 1. legacy LZ4-frame pages: bounded output, linear walk --------------------------------


def test_legacy_bomb_is_refused_fast_in_bounded_memory(tmp_path):
    """A 1 MiB frame inflating to 256 MiB used 518 MiB and a full inflate before refusal."""
    path = tmp_path / "bomb.ltx"
    path.write_bytes(H.legacy_file(H.legacy_header(), {1: H.bomb_frame(256 * MIB)}, {}))
    for body in (
        "for _ in Decoder(open(path, 'rb')): pass",
        "list(verified_pages(open(path, 'rb')))",
    ):
        got = H.measure(body, path)
        assert got.error == "FrameError"
        assert got.cpu < 1.0 and got.rss_mib < 64, got


def test_legacy_bomb_within_the_frame_bound_is_refused_by_random_access(tmp_path):
    """A bomb small enough to pass the index's size check still inflates one page only."""
    frame = H.bomb_frame(64 * MIB)
    assert len(frame) + 6 <= max_frame_size(4096)
    path = tmp_path / "bomb64.ltx"
    path.write_bytes(H.legacy_file(H.legacy_header(), {1: frame}, {}))
    got = H.measure(
        "fi = read_file_index(read_range, size)\n"
        "off, n = fi.index.find(1)\n"
        "read_page(read_range, off, n, 4096, pgno=1)",
        path,
    )
    assert got.error == "FrameError" and got.cpu < 1.0 and got.rss_mib < 64, got
    with pytest.raises(ltx.FrameError, match="more than 4096"):
        decompress_legacy_frame(frame, 4096)


@pytest.mark.parametrize("frame_of", [H.tiny_block_frame, H.empty_block_frame])
def test_frames_of_tiny_blocks_are_refused_in_linear_time(frame_of):
    """8 MiB of 1-byte (or empty) blocks took 41 s (50 s): the walk restarted per read."""
    raw = H.legacy_file(H.legacy_header(), {1: frame_of(8 * MIB)}, {})
    t0 = time.process_time()
    with pytest.raises(ltx.FrameError) as exc:
        _stream(raw)
    assert time.process_time() - t0 < 2.0
    assert exc.value.offset == 106 and exc.value.path is None
    t0 = time.process_time()
    with pytest.raises(ltx.FormatError):
        read_file_index(_rr(raw), len(raw))
    with pytest.raises(ltx.FrameError):
        decompress_legacy_frame(frame_of(8 * MIB), 4096)
    assert time.process_time() - t0 < 2.0


def test_the_legacy_bound_admits_the_longest_frame_an_encoder_writes():
    """One block per byte, block and content checksums: ~9 bytes a byte, under the bound."""
    page = H.page_set(4096, 1)[1]
    comp = lz4.frame.LZ4FrameCompressor(block_checksum=True, content_checksum=True, auto_flush=True)
    frame = comp.begin() + b"".join(comp.compress(page[i : i + 1]) for i in range(4096))
    frame += comp.flush()
    assert 8 * 4096 < len(frame) <= legacy_frame_bound(4096)
    assert decompress_legacy_frame(frame, 4096) == page
    raw = H.legacy_file(H.legacy_header(), {1: frame}, {1: page})
    assert _stream(raw, read_size=1000) == {1: page}
    assert [d for _, d in verified_pages(io.BytesIO(raw))] == [page]
    fi = read_file_index(_rr(raw), len(raw))
    assert read_page(_rr(raw), *fi.index.find(1), 4096, pgno=1) == page


@pytest.mark.parametrize("read_size", [1, 3, 7, 100, 1 << 16])
def test_legacy_frames_stream_at_any_read_size(read_size):
    raw, pages = H.legacy_page_file()
    assert _stream(raw, read_size=read_size) == pages
    fi = read_file_index(_rr(raw), len(raw))
    for pgno, off, size in fi.index:
        assert read_page(_rr(raw), off, size, 4096, pgno=pgno) == pages[pgno]


def test_legacy_frame_rules():
    page = b"p" * 512
    frame = lz4.frame.compress(page)
    assert decompress_legacy_frame(frame, 512) == page
    for bad, match in [
        (frame[:-1], "cut short"),
        (frame[:3], "cut short"),
        (frame + b"x", "1 bytes follow"),
        (b"\x00" * 4 + frame[4:], "magic"),
        (lz4.frame.compress(page[:511]), "decodes to 511 bytes"),
        (lz4.frame.compress(page + b"!"), "more than 512"),
        (frame[:10] + bytes([frame[10] ^ 0xFF]) + frame[11:], "does not decode"),
    ]:
        with pytest.raises(ltx.FrameError, match=match):
            decompress_legacy_frame(bad, 512)
    reader = LegacyFrameReader(512)
    assert reader.feed(frame[:2]) == 0 and reader.page is None
    assert sum(reader.feed(frame[i : i + 5]) for i in range(0, len(frame), 5)) == len(frame)
    assert reader.page == page and reader.length == len(frame)


def test_truncated_legacy_frame_is_a_truncated_error():
    raw, _ = H.legacy_page_file(count=1)
    cut = raw[: 106 + 20]
    with pytest.raises(ltx.TruncatedError, match="legacy LZ4 frame of pgno 1") as exc:
        _stream(cut, read_size=7)
    assert exc.value.offset == len(cut)


# -- 2. random access refuses cut and spliced files ----------------------------------------


def test_truncated_real_snapshot_is_not_a_file_without_pages():
    """Litestream's 4-page snapshot cut at size-24 read as ``<PageIndex 0 pages>``."""
    cut = REAL_L0[:-24]
    for read in (read_page_index, read_file_index):
        with pytest.raises(ltx.PageIndexError):
            read(_rr(cut), len(cut))


def _refused_or_same(raw: bytes, original: FileIndex, *, tails=(64, 200, 1 << 16)) -> None:
    for read in (read_page_index, read_file_index):
        for tail in tails:
            try:
                got = read(_rr(raw), len(raw), tail=tail)
            except ltx.FormatError:
                continue
            assert got.index == original.index and got.trailer == original.trailer, (
                f"{read.__name__}(tail={tail}) read {len(raw)} bytes as another file"
            )


def _every_cut(raw: bytes) -> None:
    original = read_file_index(_rr(raw), len(raw))
    for n in range(len(raw)):
        _refused_or_same(raw[:n], original)
    for k in (1, 6, 8, 24):
        for n in range(len(raw) - k):
            _refused_or_same(raw[:n] + raw[n + k :], original, tails=(1 << 16,))


def _sample_files() -> list[bytes]:
    snap = Header(flags=2, page_size=512, commit=4, min_txid=1, max_txid=1)
    l0 = Header(flags=2, page_size=1024, commit=9, min_txid=5, max_txid=5)
    return [
        REAL_L0,
        encode_pages(snap, H.page_set(512, 4)),
        encode_pages(l0, {p: d for p, d in H.page_set(1024, 9).items() if p % 3}),
        H.legacy_page_file(512, 2)[0],
    ]


@pytest.mark.parametrize("which", range(4))
def test_every_cut_of_a_file_is_refused_or_read_unchanged(which):
    _every_cut(_sample_files()[which])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ltx_files(max_commit=4))
def test_every_truncation_of_a_generated_file_is_refused_or_unchanged(drawn):
    raw, _ = drawn
    original = read_file_index(_rr(raw), len(raw))
    for n in range(len(raw)):
        _refused_or_same(raw[:n], original)


def test_index_must_agree_with_commit():
    snap = _snapshot(512, 3)
    l0 = encode_pages(
        Header(flags=2, page_size=512, commit=9, min_txid=4, max_txid=4),
        {2: b"x" * 512, 7: b"y" * 512},
    )
    for raw, commit, match in [
        (snap, 4, "snapshot ends at pgno 3, commit is 4"),
        (snap, 2, "out-of-bounds"),
        (l0, 6, "out-of-bounds"),
    ]:
        bad = H.with_commit(raw, commit)
        for read in (read_page_index, read_file_index):
            with pytest.raises(ltx.PageIndexError, match=match):
                read(_rr(bad), len(bad))
    assert list(read_file_index(_rr(l0), len(l0)).index.pgnos) == [2, 7]


def test_zero_pages_only_where_the_format_allows():
    v3 = bytes.fromhex(V3_HEX)  # an L1+ file with no pages: valid
    assert len(read_file_index(_rr(v3), len(v3)).index) == 0
    empty_db = encode_pages(Header(page_size=512, commit=0, min_txid=1, max_txid=1), {})
    assert len(read_file_index(_rr(empty_db), len(empty_db)).index) == 0
    bad = H.with_commit(empty_db, 1)
    with pytest.raises(ltx.PageIndexError, match="snapshot ends at pgno 0, commit is 1"):
        read_file_index(_rr(bad), len(bad))


def test_index_may_not_name_the_lock_page():
    lock = lock_pgno(512)
    h = Header(flags=2, page_size=512, commit=lock + 1, min_txid=3, max_txid=3)
    raw = encode_pages(h, {lock + 1: b"z" * 512})
    old, new = encode_uvarint(lock + 1), encode_uvarint(lock)
    assert len(old) == len(new) and raw.count(old) == 1
    bad = raw.replace(old, new)
    with pytest.raises(ltx.PageIndexError, match="lock page"):
        read_file_index(_rr(bad), len(bad))


def test_index_frames_must_tile_the_page_block():
    raw = encode_pages(
        Header(flags=2, page_size=512, commit=2, min_txid=2, max_txid=2), H.page_set(512, 2)
    )
    fi = read_file_index(_rr(raw), len(raw))
    (p1, o1, s1), (p2, o2, s2) = list(fi.index)
    for entries in ([(p1, o1 + 1, s1 - 1), (p2, o2, s2)], [(p1, o1, s1), (p2, o2 + 1, s2 - 1)]):
        idx = PageIndex()
        for e in entries:
            idx.append(*e)
        enc = idx.encode()
        bad = raw[: len(raw) - 16 - len(enc)] + enc + raw[-16:]
        with pytest.raises(ltx.PageIndexError, match="bad offset/size"):
            read_file_index(_rr(bad), len(bad))


# -- 3. verified pages ---------------------------------------------------------------------


def test_decoder_yields_before_verifying_but_verified_pages_does_not():
    raw = bytearray(_snapshot(512, 2))
    raw[-1] ^= 1
    dec = Decoder(io.BytesIO(bytes(raw)))
    assert next(dec)[0].pgno == 1  # the documented streaming contract
    with pytest.raises(ltx.ChecksumMismatchError):
        list(dec)
    gen = verified_pages(io.BytesIO(bytes(raw)), name="f.ltx")
    with pytest.raises(ltx.ChecksumMismatchError) as exc:
        next(gen)
    assert exc.value.path == "f.ltx"


@pytest.mark.parametrize("which", range(4))
def test_a_flipped_byte_anywhere_yields_nothing_or_the_same_pages(which):
    raw = _sample_files()[which]
    want = _stream(raw)
    for pos in range(len(raw)):
        bad = bytearray(raw)
        bad[pos] ^= 0x41
        got = []
        try:
            for ph, data in verified_pages(io.BytesIO(bytes(bad))):
                got.append((ph.pgno, data))
        except ltx.LTXError:
            assert got == [], f"flip at {pos} yielded pages before failing"
            continue
        assert dict(got) == want  # a flip that leaves every page the same (LZ4 slack)


@settings(max_examples=25, deadline=None)
@given(ltx_files())
def test_verified_pages_equal_the_decoder(drawn):
    raw, model = drawn
    assert list(verified_pages(io.BytesIO(raw))) == list(Decoder(io.BytesIO(raw)))
    assert {ph.pgno: d for ph, d in verified_pages(io.BytesIO(raw))} == model.pages


def test_verified_pages_spill_to_disk_and_to_a_given_spool(monkeypatch):
    raw = _snapshot(4096, 40)
    want = list(Decoder(io.BytesIO(raw)))
    monkeypatch.setattr(_decoder, "_SPOOL_IN_MEMORY", 10_000)
    assert list(verified_pages(io.BytesIO(raw))) == want
    with tempfile.TemporaryFile() as spool:
        spool.write(b"caller data")
        assert list(verified_pages(io.BytesIO(raw), spool=spool)) == want
        assert not spool.closed
        spool.seek(0)
        assert spool.read(11) == b"caller data"


# -- 4. sizes checked against the file before reading or allocating ------------------------


@pytest.mark.parametrize("value", [0, 1 << 63, (1 << 64) - 1, 10**6])
def test_absurd_index_size_is_refused_without_reading_more(value):
    raw = _snapshot(512, 3)
    big = raw[:100] + bytes(200_000) + raw[100:]  # long enough that the tail is not the file
    bad = H.with_index_size(big, value)
    for read in (read_page_index, read_file_index):
        rr, reads = H.recording(bad)
        with pytest.raises(ltx.PageIndexError):
            read(rr, len(bad), tail=4096)
        assert all(0 <= s <= e <= len(bad) for s, e in reads)
        assert sum(e - s for s, e in reads) <= 4096 + 100 + 600


def test_huge_commit_reads_no_more_than_the_file():
    raw = _snapshot(512, 3)
    bad = H.with_commit(raw, (1 << 32) - 1)
    rr, reads = H.recording(bad)
    with pytest.raises(ltx.PageIndexError, match="snapshot ends"):
        read_file_index(rr, len(bad), tail=64)
    assert sum(e - s for s, e in reads) <= len(bad)


def test_index_with_absurd_offsets_and_sizes_is_refused():
    raw = encode_pages(
        Header(flags=2, page_size=512, commit=1, min_txid=2, max_txid=2), {1: b"q" * 512}
    )
    old = read_file_index(_rr(raw), len(raw)).index.encode()
    for offset, size in [(100, 1 << 40), (1 << 60, 20), (100, 3), (100, 0), (99, 20)]:
        enc = bytearray(b"\x01" + encode_uvarint(offset) + encode_uvarint(size) + b"\x00")
        enc += len(enc).to_bytes(8, "big")
        bad = raw[: len(raw) - 16 - len(old)] + bytes(enc) + raw[-16:]
        with pytest.raises(ltx.FormatError):
            read_page_index(_rr(bad), len(bad))


def test_index_claiming_more_entries_than_bytes_is_refused():
    """A million 3-byte entries, contiguous, in a file too short for their frames."""
    raw = encode_pages(
        Header(flags=2, page_size=512, commit=1, min_txid=2, max_txid=2), {1: b"q" * 512}
    )
    entries = bytearray()
    offset = 100
    for pgno in range(1, 100_001):
        entries += encode_uvarint(pgno) + encode_uvarint(offset) + encode_uvarint(12)
        offset += 12
    entries.append(0)
    old = read_file_index(_rr(raw), len(raw)).index.encode()
    bad = raw[: len(raw) - 16 - len(old)] + entries + len(entries).to_bytes(8, "big") + raw[-16:]
    with pytest.raises(ltx.PageIndexError, match="past the page block"):
        read_page_index(_rr(bad), len(bad))
    rr, reads = H.recording(bad)  # with the header known, refused from the sizes alone
    with pytest.raises(ltx.PageIndexError, match="larger than the file allows"):
        read_file_index(rr, len(bad))
    assert sum(e - s for s, e in reads) < 200


def test_read_page_refuses_impossible_sizes_before_reading():
    rr, reads = H.recording(REAL_L0)
    for offset, size in [(100, 1 << 31), (100, 5), (0, 272), (100, max_frame_size(4096) + 1)]:
        with pytest.raises(ltx.FrameError):
            read_page(rr, offset, size, 4096)
    assert reads == []


def test_cached_file_index_is_held_to_the_file_rules():
    fi = read_file_index(_rr(REAL_L0), len(REAL_L0))
    good = fi.to_bytes()
    assert FileIndex.from_bytes(good, len(REAL_L0)) == fi
    with pytest.raises(ltx.PageIndexError):
        FileIndex.from_bytes(good, len(REAL_L0) + 1)  # the frames no longer tile the file
    with pytest.raises(ltx.PageIndexError, match="size field"):
        FileIndex.from_bytes(good[:-1] + bytes([good[-1] ^ 1]), len(REAL_L0))
    flipped = bytearray(good)
    flipped[13] ^= 0xFF  # header Commit: 4 -> 0xFF...; the snapshot no longer ends there
    with pytest.raises(ltx.FormatError):
        FileIndex.from_bytes(bytes(flipped), len(REAL_L0))


HOSTILE_HEADERS = {
    "commit-2^32-1-snapshot": lambda raw: H.with_commit(raw, (1 << 32) - 1),
    "index-size-2^63": lambda raw: H.with_index_size(raw, 1 << 63),
    "index-size-file": lambda raw: H.with_index_size(raw, len(raw) - 24 - 106),
    "page-size-65536": lambda raw: raw[:8] + (65536).to_bytes(4, "big") + raw[12:],
}


@pytest.mark.parametrize("case", sorted(HOSTILE_HEADERS))
def test_hostile_headers_cost_bounded_memory(case, tmp_path):
    raw = _snapshot(512, 3)
    path = tmp_path / f"{case}.ltx"
    path.write_bytes(HOSTILE_HEADERS[case](raw))
    got = H.measure(
        """
        for read in (read_page_index, read_file_index):
            try:
                fi = read(read_range, size)
                for pgno, off, n in fi.index:
                    read_page(read_range, off, n, fi.header.page_size, pgno=pgno)
            except ltx.LTXError:
                pass
        try:
            list(verified_pages(open(path, 'rb')))
        except ltx.LTXError:
            pass
        for _ in Decoder(open(path, 'rb')):
            pass
        """,
        path,
    )
    assert got.error is not None and got.rss_mib < 64 and got.cpu < 1.0, got
