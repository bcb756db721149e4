"""Known-answer tests: CRC, checksums, uvarints, names and real Litestream 0.5.17 bytes."""

from __future__ import annotations

import io

import pytest

import ltx
from ltx.codec import (
    CHECKSUM_FLAG,
    DatabaseChecksum,
    Header,
    checksum_database,
    checksum_page,
    crc64,
    decode,
    format_filename,
    lock_pgno,
    parse_filename,
    parse_txid,
    read_page,
    read_page_index,
)
from ltx.codec._checksum import crc64_pure
from ltx.codec._page_index import encode_uvarint

# Real L0 file written by litestream 0.5.17 (shared/research/ltx-format.md §12).
REAL_L0_HEX = (
    "4c54583100000002000010000000000400000000000000010000000000000001000001a20baabb3c000000000000000000000000000000200000000000004060"
    "cbc108e1f76aecdc0000000000000000000000000000000000000000000000000000000000000001000100000106f61253514c69746520666f726d6174203300"
    "100002020040202000000003000000040001000c100015011a000f020007ff0403002e95c80d000000030efb000fc20f530efb2d00070f0200ffffffffffffff"
    "ffffffffffffff6afc0e560306172d2d01617461626c655f6c69746573747265616d5f6c6f636b1000ec04435245415445205441424c45201e00fd0720286964"
    "20494e5445474552296d0207172b2b01811159003873657168004f73657103570006387365715600f502205052494d415259204b45592c207365716f00f9013c"
    "0106170f0f01697461626c657474025200f0127428696420696e7465676572207072696d617279206b65792c20762074657874290000000200010000002e8f0d"
    "000000001000000200ffffffffffffffffffffffffffffffe0000200000200c00000000000000000000000000000000300010000002e8f0d0000000010000002"
    "00ffffffffffffffffffffffffffffffe0000200000200c00000000000000000000000000000000400010000002e8f0d000000001000000200ffffffffffffff"
    "ffffffffffffffffe0000200000200c00000000000000000000000000000000000000164900202f4023803ac033804e403380000000000000000110000000000"
    "00000097a229ce3330ee70"
)
# Go-encoded snapshot with checksums tracked (V2) and an empty file (V3).
V2_HEX = (
    "4c5458310000000000000200000000010000000000000001000000000000000100000000000003e8000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000010001000000181f310100ffda000200000200b03131313131"
    "313131313131000000000000016422000000000000000004eb1a999231044dddbca7facc312144c6"
)
# The research notes print V3 six bytes short; this is the 131-byte file whose length and
# FileChecksum (de449dc4da0db600) the notes give, and which Go's encoder produces.
V3_HEX = (
    "4c545831000000020000020000000003000000000000000500000000000000050000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000010000000000000000de449dc4da"
    "0db600"
)


@pytest.mark.parametrize("fn", [crc64, crc64_pure])
@pytest.mark.parametrize(
    ("data", "want"),
    [
        (b"", 0x0),
        (b"a", 0x3420000000000000),
        (b"abc", 0x3776C42000000000),
        (b"123456789", 0xB90956C775A41001),
        (b"This is a test of the emergency broadcast system.", 0xE7FCF1006B503B61),
    ],
)
def test_crc64_go_iso(fn, data, want):
    assert fn(data, 0) == want


def test_crc64_streaming():
    assert crc64(b"56789", crc64(b"1234", 0)) == 0xB90956C775A41001
    assert crc64_pure(b"56789", crc64_pure(b"1234")) == 0xB90956C775A41001


def test_page_and_database_checksums():
    assert checksum_page(1, b"1" * 512) == 0xEB1A999231044DDD
    assert checksum_page(1, bytes(4096)) == 0xD9328F592D9E733D
    assert checksum_page(2, bytes(4096)) == 0xF7901E47304CA33F
    acc = DatabaseChecksum()
    acc.update([(1, b"2" * 512), (2, b"3" * 512)])
    assert acc.value == 0x8B87423EEEEEEEEE
    acc = DatabaseChecksum()
    acc.update([(1, b"\x81" * 1024), (2, b"\x82" * 1024), (3, b"\x83" * 1024)])
    assert acc.value == 0x8A249272AD9F7DEA
    data = b"\x01" * 512 + b"\x02" * 512 + b"\x03" * 512
    assert checksum_database(io.BytesIO(data), 512) == 0xEFFFFFFFECD99000
    assert checksum_database(io.BytesIO(b""), 512) == 0


def test_database_checksum_skips_lock_page():
    ps = 4096
    lock = lock_pgno(ps)
    assert lock == 262145

    class Pages(io.RawIOBase):
        """Streams 'x'*4096 pages without holding 1 GiB in memory."""

        def __init__(self, n):
            self.left = n * ps

        def readable(self):
            return True

        def readinto(self, b):
            n = min(len(b), self.left)
            b[:n] = b"x" * n
            self.left -= n
            return n

    got = checksum_database(io.BufferedReader(Pages(lock + 10), 1 << 20), ps)
    assert got == 0xC19B668C376662C7


def test_lock_pgno_table():
    assert [lock_pgno(p) for p in (512, 1024, 4096, 65536)] == [2097153, 1048577, 262145, 16385]


def test_uvarint_vectors():
    for value, hexed in [
        (0, "00"),
        (127, "7f"),
        (128, "8001"),
        (300, "ac02"),
        (4294967295, "ffffffff0f"),
    ]:
        assert encode_uvarint(value).hex() == hexed


def test_names():
    assert format_filename(1, 1000) == "0000000000000001-00000000000003e8.ltx"
    assert parse_filename("0000000000000001-00000000000003e8.ltx") == (1, 1000)
    assert parse_txid("00000000000003E8") == 1000
    for bad in [
        "0000000000000001-00000000000003E8.ltx",
        "1-2.ltx",
        "../x.ltx",
        "0000000000000002-0000000000000001.ltx",
    ]:
        with pytest.raises(ltx.FormatError):
            parse_filename(bad)
    for bad in ["3e8", "0x00000000000003e8", "+000000000000003e8"[:16] + "g"]:
        with pytest.raises(ltx.FormatError):
            parse_txid(bad)


def test_real_litestream_l0_file():
    data = bytes.fromhex(REAL_L0_HEX)
    assert len(data) == 587
    f = decode(data)
    h = f.header
    assert (h.flags, h.page_size, h.commit, h.min_txid, h.max_txid) == (2, 4096, 4, 1, 1)
    assert h.timestamp == 1795492068156
    assert (h.wal_offset, h.wal_size, h.wal_salt1, h.wal_salt2) == (
        32,
        16480,
        0xCBC108E1,
        0xF76AECDC,
    )
    assert f.trailer.file_checksum == 0x97A229CE3330EE70
    assert list(f.index) == [(1, 100, 272), (2, 372, 56), (3, 428, 56), (4, 484, 56)]
    assert f.pages[1].startswith(b"SQLite format 3\x00")
    assert all(len(p) == 4096 for p in f.pages.values())


def test_real_file_random_access_matches_stream():
    data = bytes.fromhex(REAL_L0_HEX)
    calls = []

    def rr(start, end):
        calls.append((start, end))
        return data[start:end]

    fi = read_page_index(rr, len(data))
    assert len(calls) == 1 and fi.header is not None and fi.header.commit == 4
    streamed = decode(data).pages
    for pgno, offset, size in fi.index:
        assert read_page(rr, offset, size, 4096, pgno=pgno) == streamed[pgno]


def test_go_encoded_vectors_decode():
    v2 = decode(bytes.fromhex(V2_HEX))
    assert v2.pages == {1: b"1" * 512}
    assert v2.trailer.post_apply_checksum == 0xEB1A999231044DDD
    assert v2.trailer.file_checksum == 0xBCA7FACC312144C6
    v3 = decode(bytes.fromhex(V3_HEX))
    assert v3.pages == {} and v3.header.commit == 3 and v3.header.min_txid == 5
    assert v3.trailer.file_checksum == 0xDE449DC4DA0DB600


def test_empty_file_encodes_byte_identically_to_go():
    # No pages means no LZ4, so our bytes must equal Go's exactly (vector V3).
    buf = io.BytesIO()
    enc = ltx.Encoder(buf, Header(flags=2, page_size=512, commit=3, min_txid=5, max_txid=5))
    enc.close()
    assert buf.getvalue().hex() == V3_HEX


def test_deletion_file_vector():
    buf = io.BytesIO()
    h = Header(
        page_size=512,
        commit=0,
        min_txid=2,
        max_txid=2,
        timestamp=1000,
        pre_apply_checksum=0x8000000000000001,
    )
    enc = ltx.Encoder(buf, h)
    t = enc.close(post_apply_checksum=CHECKSUM_FLAG)
    assert t.file_checksum == 0x8F611CAF078F8E82 and len(buf.getvalue()) == 131


def test_checksum_snapshot_vector_v1():
    buf = io.BytesIO()
    enc = ltx.Encoder(buf, Header(page_size=512, commit=2, min_txid=1, max_txid=2, timestamp=1000))
    enc.write_page(1, b"2" * 512)
    enc.write_page(2, b"3" * 512)
    assert enc.close().post_apply_checksum == 0x8B87423EEEEEEEEE


def test_legacy_lz4_frame_pages_decode():
    """v0.5.0/0.5.1 frames (flag 0, LZ4 frame payload) are read; checksum covers the data."""
    import lz4.frame

    page = (b"hello" * 200)[:512]
    header = Header(flags=2, page_size=512, commit=1, min_txid=3, max_txid=3)
    frame = lz4.frame.compress(page, content_checksum=True, block_size=lz4.frame.BLOCKSIZE_MAX64KB)
    raw_ph = (1).to_bytes(4, "big") + (0).to_bytes(2, "big")
    body = header.to_bytes() + raw_ph + frame
    end = b"\x00" * 6
    index = bytes([1]) + encode_uvarint(100) + encode_uvarint(6 + len(frame)) + b"\x00"
    index += len(index).to_bytes(8, "big")
    post = bytes(8)
    crc = crc64(header.to_bytes() + raw_ph + page + end + index + post, 0)
    data = body + end + index + post + (CHECKSUM_FLAG | crc).to_bytes(8, "big")
    f = decode(data)
    assert f.pages == {1: page}
    fi = read_page_index(lambda s, e: data[s:e], len(data))
    off, size = fi.index.find(1)
    assert read_page(lambda s, e: data[s:e], off, size, 512, pgno=1) == page


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"flags": 1}, "flags"),
        ({"page_size": 1000}, "page_size"),
        ({"min_txid": 0}, "min_txid"),
        ({"min_txid": 5, "max_txid": 4}, "min_txid"),
        ({"wal_salt1": 1}, "wal_salt1"),
        ({"wal_size": 5}, "wal_size"),
        ({"min_txid": 1, "pre_apply_checksum": CHECKSUM_FLAG | 1}, "pre_apply_checksum"),
        ({"flags": 0, "min_txid": 2, "max_txid": 2}, "pre_apply_checksum"),
        ({"flags": 0, "min_txid": 2, "max_txid": 2, "pre_apply_checksum": 5}, "pre_apply_checksum"),
        (
            {"flags": 2, "min_txid": 2, "max_txid": 2, "pre_apply_checksum": CHECKSUM_FLAG},
            "pre_apply_checksum",
        ),
    ],
)
def test_header_validation(kwargs, field):
    base = {"flags": 2, "page_size": 512, "commit": 1, "min_txid": 3, "max_txid": 3}
    base.update(kwargs)
    with pytest.raises(ltx.HeaderFieldError) as info:
        Header(**base).validate()
    assert info.value.field == field


def test_encoder_refuses_bad_pages():
    def enc(**kw):
        base = {"flags": 2, "page_size": 512, "commit": 3, "min_txid": 2, "max_txid": 2}
        base.update(kw)
        return ltx.Encoder(io.BytesIO(), Header(**base))

    e = enc()
    e.write_page(2, bytes(512))
    with pytest.raises(ltx.UsageError, match="out-of-order"):
        e.write_page(2, bytes(512))
    with pytest.raises(ltx.UsageError, match="out-of-bounds"):
        e.write_page(4, bytes(512))
    with pytest.raises(ltx.UsageError, match="buffer size"):
        e.write_page(3, bytes(100))
    s = enc(min_txid=1)
    with pytest.raises(ltx.UsageError, match="contiguous"):
        s.write_page(2, bytes(512))
    s.write_page(1, bytes(512))
    with pytest.raises(ltx.UsageError, match="incomplete"):
        s.close()
    big = ltx.Encoder(
        io.BytesIO(), Header(flags=2, page_size=65536, commit=16400, min_txid=2, max_txid=2)
    )
    with pytest.raises(ltx.UsageError, match="lock page"):
        big.write_page(16385, bytes(65536))
    with pytest.raises(ltx.UsageError, match="invalid header"):
        enc(page_size=3)


def test_snapshot_across_lock_page():
    ps = 65536
    lock = lock_pgno(ps)
    buf = io.BytesIO()
    e = ltx.Encoder(buf, Header(flags=2, page_size=ps, commit=lock + 1, min_txid=1, max_txid=1))
    page = bytes(ps)
    for p in range(1, lock + 2):
        if p != lock:
            e.write_page(p, page)
    e.close()
    f = decode(buf.getvalue())
    assert lock not in f.pages and len(f.pages) == lock


def test_errors_name_the_file_and_offset():
    data = bytearray(bytes.fromhex(REAL_L0_HEX))
    data[200] ^= 0xFF
    with pytest.raises(ltx.LTXError) as info:
        for _ in ltx.Decoder(io.BytesIO(bytes(data)), name="ltx/0/x.ltx"):
            pass
    assert "ltx/0/x.ltx" in str(info.value) and info.value.offset is not None


def test_encode_db_and_checksum_db(tmp_path):
    import sqlite3

    db = tmp_path / "x.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA page_size=1024")
    con.execute("CREATE TABLE t (v)")
    con.executemany("INSERT INTO t VALUES (?)", [("x" * 300,)] * 50)
    con.commit()
    con.close()
    out = tmp_path / "x.ltx"
    header, trailer = ltx.encode_db(db, out)
    f = decode(out.read_bytes())
    image = db.read_bytes()
    assert f.header == header and f.header.is_snapshot and f.header.commit == len(image) // 1024
    assert b"".join(f.pages[p] for p in sorted(f.pages)) == image
    assert trailer.post_apply_checksum == ltx.checksum_db(db)
    with pytest.raises(ValueError):
        ltx.encode_db(db, db)
