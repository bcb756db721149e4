"""Fuzz targets, their invariants, seed corpora and mutators, shared by pytest and atheris.

Every target must return normally or raise an ``ltx.LTXError``; any other exception
escapes and fails the run. On top of that:

* LTX bytes: a file the streaming ``Decoder`` accepts is one of the known originals
  (same header, same pages); ``verified_pages`` fails exactly when the Decoder does,
  yielding nothing first; random access returns frames that tile the page block (one
  of the known indexes when the file was only cut or shifted), ``read_page`` refuses
  a frame whose pgno the index misstates, and on a file that verified, random access
  succeeds and every page equals the streamed one.
* legacy LZ4 frames: whole-frame and fed-in-pieces decoding agree, and a page they
  accept is what the reference ``lz4.frame.decompress`` gives.
* file names: a name that parses is exactly ``format_filename`` of the result.
* replica URLs: ``parse_url`` raises only LTXError subclasses.

Anything but an LTXError (or the exact original data) is a failure.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import lz4.frame

import ltx
from ltx.codec import (
    Decoder,
    Header,
    encode_pages,
    format_filename,
    parse_filename,
    read_file_index,
    read_page,
    read_page_index,
)
from ltx.codec._decoder import verified_pages
from ltx.codec._frame import LegacyFrameReader, decompress_legacy_frame
from ltx.storage import parse_url
from tests.fuzz import hostile as H

__all__ = [
    "FIXTURES",
    "Known",
    "seed_files",
    "seed_frames",
    "check_ltx",
    "check_legacy_frame",
    "check_filename",
    "check_url",
]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "litestream-0.5.17" / "ltx"
_TAILS = (64, 1 << 16)


def seed_files() -> list[bytes]:
    """The real Litestream 0.5.17 files, the Go vectors, legacy-frame and checksummed files."""
    from tests.codec.test_codec_vectors import REAL_L0_HEX, V2_HEX, V3_HEX

    found = [p.read_bytes() for p in sorted(FIXTURES.glob("**/*.ltx"))]
    found += [bytes.fromhex(h) for h in (REAL_L0_HEX, V2_HEX, V3_HEX)]
    found.append(H.legacy_page_file(512, 3)[0])
    found.append(H.legacy_page_file(1024, 2, block_checksum=True, store_size=False)[0])
    snap = Header(page_size=512, commit=5, min_txid=1, max_txid=3, timestamp=1000)
    found.append(encode_pages(snap, {p: bytes([p]) * 300 + bytes(212) for p in range(1, 6)}))
    return list(dict.fromkeys(found))  # de-duplicated, in order


def seed_frames() -> list[tuple[bytes, int]]:
    """Valid legacy LZ4 frames of one page, (frame, page size), in the encoders' variants."""
    out = []
    for page_size in (512, 4096):
        page = bytes(range(256)) * (page_size // 512) + b"z" * (page_size // 2)
        for opts in (
            {"content_checksum": True},
            {"block_checksum": True, "store_size": False},
            {"block_size": lz4.frame.BLOCKSIZE_MAX4MB, "block_linked": False},
        ):
            out.append((lz4.frame.compress(page, **opts), page_size))  # type: ignore[arg-type]
        comp = lz4.frame.LZ4FrameCompressor(auto_flush=True, block_checksum=True)
        small = comp.begin() + b"".join(
            comp.compress(page[i : i + 97]) for i in range(0, page_size, 97)
        )
        out.append((small + comp.flush(), page_size))
    return out


@attrs.define
class Known:
    """What the seed files decode to: (header, pages) pairs and encoded page indexes."""

    decodings: set[tuple[Header, tuple[tuple[int, bytes], ...]]] = attrs.field(factory=set)
    indexes: set[bytes] = attrs.field(factory=set)

    @classmethod
    def of(cls, files: Sequence[bytes]) -> Known:
        known = cls()
        for raw in files:
            got = _stream(raw)
            if got is None:
                raise AssertionError("a seed file does not decode")
            known.decodings.add(got)
            known.indexes.add(read_file_index(_rr(raw), len(raw)).index.encode())
        return known


def _rr(raw: bytes) -> Callable[[int, int], bytes]:
    return lambda start, end: raw[start:end]


def _stream(raw: bytes) -> tuple[Header, tuple[tuple[int, bytes], ...]] | None:
    try:
        dec = Decoder(io.BytesIO(raw), read_size=97)
        pages = tuple((ph.pgno, page) for ph, page in dec)
    except ltx.LTXError:
        return None
    return dec.header, pages


def _verified(raw: bytes) -> tuple[tuple[int, bytes], ...] | None:
    got: list[tuple[int, bytes]] = []
    try:
        for ph, page in verified_pages(io.BytesIO(raw)):
            got.append((ph.pgno, page))
    except ltx.LTXError:
        assert not got, "verified_pages yielded pages from a file that failed"
        return None
    return tuple(got)


def check_ltx(raw: bytes, known: Known | None, *, exact_index: bool = False) -> None:
    """Run every LTX reader over ``raw`` and assert the invariants (see the module doc).

    ``known`` holds the originals ``raw`` was mutated from; pass None for inputs built
    by a coverage-guided fuzzer, which can craft a consistent, different file (e.g. a
    longer frame and its index entry): then only the readers' agreement is checked.
    ``exact_index``: ``raw`` was only cut, extended or shifted (``LENGTH_MUTATORS``), so
    random access must refuse it or return a known index. Without it (a flipped pgno
    in the index, say) random access cannot tell, having no checksum to check; then
    ``read_page`` must refuse each frame whose page header disagrees with the index.
    """
    streamed = _stream(raw)
    if streamed is not None and known is not None:
        assert streamed in known.decodings, "a mutated file decoded to a different file"
    verified = _verified(raw)
    assert (verified is None) == (streamed is None), "verified_pages and Decoder disagree"
    assert streamed is None or verified == streamed[1]
    pages = dict(streamed[1]) if streamed is not None else None
    for read in (read_page_index, read_file_index):
        for tail in _TAILS:
            try:
                fi = read(_rr(raw), len(raw), tail=tail)
            except ltx.LTXError:
                assert pages is None, f"{read.__name__} refuses a file that verified"
                continue
            _check_tiling(raw, fi.index)
            if known is not None and exact_index:
                assert fi.index.encode() in known.indexes, "random access read another index"
            if pages is not None:
                assert list(fi.index.pgnos) == sorted(pages), "random access and Decoder differ"
            header = fi.header or (streamed[0] if streamed is not None else None)
            if header is not None:
                _check_pages(raw, fi.index, header.page_size, pages)


def _check_tiling(raw: bytes, index: ltx.PageIndex) -> None:
    """The frames run back to back from the header to the end-of-pages marker."""
    end = 100
    for _, offset, size in index:
        assert offset == end, "random access returned frames with a gap or overlap"
        end = offset + size
    assert end == len(raw) - 16 - len(index.encode()) - 6, "frames do not reach the marker"
    assert raw[end : end + 6] == bytes(6), "no end-of-pages marker after the frames"


def _check_pages(raw: bytes, index: ltx.PageIndex, page_size: int, pages: dict | None) -> None:
    for pgno, offset, size in index:
        try:
            page = read_page(_rr(raw), offset, size, page_size, pgno=pgno)
        except ltx.LTXError:
            assert pages is None, f"read_page refuses pgno {pgno} of a file that verified"
            continue
        assert len(page) == page_size
        assert pages is None or page == pages[pgno], f"read_page: pgno {pgno} differs"


def check_legacy_frame(frame: bytes, page_size: int, pieces: Sequence[int]) -> None:
    """Decode ``frame`` whole and fed in pieces of the given sizes; they must agree."""
    try:
        whole: bytes | None = decompress_legacy_frame(frame, page_size)
    except ltx.LTXError:
        whole = None
    reader = LegacyFrameReader(page_size)
    buf, pos = b"", 0
    try:
        for n in [*pieces, len(frame)]:
            buf += frame[pos : pos + max(n, 1)]
            pos += max(n, 1)
            buf = buf[reader.feed(buf) :]
            if reader.page is not None or pos >= len(frame):
                break
        fed = reader.page if reader.page is not None and reader.length == len(frame) else None
    except ltx.LTXError:
        fed = None
    assert fed == whole, "legacy frame: whole and incremental decoding disagree"
    if whole is not None:
        assert len(whole) == page_size and lz4.frame.decompress(frame) == whole


def check_filename(name: str) -> str | None:
    """None when ``parse_filename`` refuses ``name`` with an LTXError or parses it exactly."""
    try:
        lo, hi = parse_filename(name)
    except ltx.LTXError:
        return None
    assert format_filename(lo, hi) == name, (
        f"parse_filename({name!r}) accepted a non-canonical name"
    )
    return None


def check_url(url: str) -> str | None:
    """None when ``parse_url`` parses ``url`` or refuses it with an LTXError."""
    try:
        parse_url(url, env={})
    except ltx.LTXError:
        return None
    return None
