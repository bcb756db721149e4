"""One LTX file decoded in parts by separate workers, verified whole from the parts.

The page index cuts the page block into parts of about ``target`` bytes. Each part is
read in one range and decoded alone: every frame must be the one its index entry
names, and the part keeps the CRC-64 of its share of the checksummed stream (header,
frame prefixes, decompressed pages, end marker, index, trailer's first 8 bytes).
``verify_parts`` joins those CRCs with ``crc64_combine`` and checks the trailer, and
the post-apply checksum of a tracked snapshot, as the streaming ``Decoder`` would.
Only modern frames (size-prefixed LZ4 blocks) are split; the caller decodes anything
else, and any file that fails here, with ``Decoder`` so errors stay the same.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator, Sequence

import attrs

from ltx.codec._checksum import CHECKSUM_FLAG, DatabaseChecksum, crc64, crc64_combine
from ltx.codec._frame import FRAME_PREFIX_SIZE, decompress_block, max_block_size
from ltx.codec._random import FileIndex
from ltx.codec._values import HEADER_SIZE, PAGE_FLAG_SIZE, PAGE_HEADER_SIZE, TRAILER_SIZE, Header
from ltx.errors import ChecksumMismatchError, FormatError, FrameError, PageIndexError, UsageError

__all__ = [
    "BATCH_PAGES",
    "FilePart",
    "PageBatch",
    "PartDecoder",
    "PartSum",
    "split_file",
    "verify_parts",
]

_PREFIX = struct.Struct(">IHI")  # page header (pgno, flags) and the LZ4 block size
BATCH_PAGES = 256
"""Pages per ``PageBatch`` (1 MiB of 4 KiB pages): one CRC call and one write each."""


@attrs.frozen
class PageBatch:
    """Consecutive frames of a part: their pgnos, and each frame's 10-byte prefix and
    decompressed page back to back in ``buf`` (page ``k`` at ``page(k)``)."""

    pgnos: list[int]
    buf: bytes
    page_size: int

    def page(self, k: int) -> memoryview:
        """The ``k``-th page of the batch, without a copy."""
        stride = FRAME_PREFIX_SIZE + self.page_size
        start = k * stride + FRAME_PREFIX_SIZE
        return memoryview(self.buf)[start : start + self.page_size]


@attrs.frozen
class FilePart:
    """Frames ``lo..hi-1`` of a file's page index and the bytes ``[start, end)`` holding them.

    The first part starts at 0 (it covers the header), the last one ends at the file's
    end (it covers end marker, index and trailer).
    """

    lo: int
    hi: int
    start: int
    end: int
    first: bool
    last: bool


@attrs.frozen
class PartSum:
    """What ``verify_parts`` needs of one decoded part: its span, the CRC-64 and length
    of its share of the checksummed stream, and the XOR of its page checksums (tracked
    snapshots). Small and picklable, so a part decoded in another process reports it."""

    part: FilePart
    crc: int
    length: int
    db_checksum: int | None


def split_file(fi: FileIndex, target: int) -> list[FilePart]:
    """Cut ``fi``'s frames into parts of about ``target`` bytes each (at least one frame)."""
    if fi.header is None:
        raise UsageError("splitting a file needs its header in the FileIndex")
    offsets, sizes = fi.index.offsets, fi.index.sizes
    n = len(offsets)
    cuts = [0]
    acc = 0
    for i in range(n):
        acc += sizes[i]
        if acc >= target and i + 1 < n:
            cuts.append(i + 1)
            acc = 0
    cuts.append(n)
    parts = []
    for k in range(len(cuts) - 1):
        lo, hi = cuts[k], cuts[k + 1]
        first, last = k == 0, k == len(cuts) - 2
        start = 0 if first else offsets[lo]
        end = fi.size if last else offsets[hi - 1] + sizes[hi - 1]
        parts.append(FilePart(lo, hi, start, end, first, last))
    return parts


class PartDecoder:
    """Iterate ``PageBatch`` es over one part's bytes; afterwards ``crc``, ``length`` and
    ``db_checksum`` describe the part for ``verify_parts``.

    Pages are yielded before the file is verified: a caller writes them only where a
    failure discards them (a restore's temp file), as with ``Decoder``.
    """

    def __init__(self, fi: FileIndex, part: FilePart, blob: bytes, *, name: str | None) -> None:
        if fi.header is None:
            raise UsageError("decoding a part needs its header in the FileIndex")
        if len(blob) != part.end - part.start:
            raise FormatError(
                f"read of part [{part.start}, {part.end}) returned {len(blob)} bytes",
                path=name,
                offset=part.start,
            )
        self.header: Header = fi.header
        self._fi, self.part, self._blob, self.name = fi, part, blob, name
        self.crc = 0
        self.length = 0
        self.done = False
        tracked = self.header.is_snapshot and not self.header.no_checksum
        self.db_checksum = DatabaseChecksum() if tracked else None

    def __iter__(self) -> Iterator[PageBatch]:
        part, blob, index = self.part, self._blob, self._fi.index
        if part.first:
            raw = blob[:HEADER_SIZE]
            if Header.from_bytes(raw) != self.header:
                raise FormatError("header changed between reads", path=self.name, offset=0)
            self.crc, self.length = crc64(raw, 0), HEADER_SIZE
        ps = self.header.page_size
        bound = max_block_size(ps)
        view = memoryview(blob)
        base = part.start
        unpack = _PREFIX.unpack_from
        db = self.db_checksum
        pgnos, offsets, sizes = index.pgnos, index.offsets, index.sizes
        chunks: list[bytes] = []
        batch: list[int] = []
        for i in range(part.lo, part.hi):
            at, size = offsets[i] - base, sizes[i]
            pgno, flags, n = unpack(blob, at)
            if pgno != pgnos[i] or flags != PAGE_FLAG_SIZE or n != size - FRAME_PREFIX_SIZE:
                raise self._bad_frame(i, pgno, flags, n)
            if n > bound:
                raise FrameError(
                    f"pgno {pgno}: compressed size {n} exceeds the LZ4 bound",
                    path=self.name,
                    offset=base + at + PAGE_HEADER_SIZE,
                )
            try:
                data = decompress_block(view[at + FRAME_PREFIX_SIZE : at + size], ps)
            except FrameError as exc:
                raise FrameError(
                    f"pgno {pgno}: {exc.message}", path=self.name, offset=base + at
                ) from None
            chunks += (blob[at : at + FRAME_PREFIX_SIZE], data)
            batch.append(pgno)
            if db is not None:
                db.add(pgno, data)
            if len(batch) == BATCH_PAGES:
                yield self._batch(batch, chunks, ps)
                chunks, batch = [], []
        if batch:
            yield self._batch(batch, chunks, ps)
        if part.last:
            self._tail()
        self.done = True
        self._blob = b""  # the part's bytes are not needed past this point: memory stays bounded

    def summary(self) -> PartSum:
        """The part's ``PartSum``; UsageError until the part was iterated to its end."""
        if not self.done:
            raise UsageError("verify_parts needs every part of the file, each decoded to its end")
        db = self.db_checksum.value if self.db_checksum is not None else None
        return PartSum(self.part, self.crc, self.length, db)

    def _batch(self, pgnos: list[int], chunks: list[bytes], page_size: int) -> PageBatch:
        """Join the batch's prefixes and pages (the checksummed stream) and CRC it at once."""
        buf = b"".join(chunks)
        self.crc = crc64(buf, self.crc)
        self.length += len(buf)
        return PageBatch(pgnos, buf, page_size)

    def _bad_frame(self, i: int, pgno: int, flags: int, n: int) -> FormatError:
        offset = self._fi.index.offsets[i]
        if flags != PAGE_FLAG_SIZE:
            return FrameError(
                f"frame at offset {offset} is not a size-prefixed LZ4 block (flags {flags:#x})",
                path=self.name,
                offset=offset,
            )
        return PageIndexError(
            f"frame at offset {offset} holds pgno {pgno} of {n} bytes, the index says "
            f"pgno {self._fi.index.pgnos[i]} of {self._fi.index.sizes[i] - FRAME_PREFIX_SIZE}",
            path=self.name,
            offset=offset,
        )

    def _tail(self) -> None:
        """Check end marker, index and trailer as read in this part; add them to the CRC."""
        fi, blob, base = self._fi, self._blob, self.part.start
        index = fi.index
        data_end = index.offsets[-1] + index.sizes[-1] if len(index) else HEADER_SIZE
        expected = bytes(PAGE_HEADER_SIZE) + index.encode() + fi.trailer.to_bytes()
        tail = blob[data_end - base :]
        if tail != expected:
            raise PageIndexError(
                "end marker, page index or trailer changed between reads",
                path=self.name,
                offset=data_end,
            )
        covered = tail[: len(tail) - TRAILER_SIZE + 8]
        self.crc = crc64(covered, self.crc)
        self.length += len(covered)


def verify_parts(
    fi: FileIndex, parts: Sequence[PartDecoder | PartSum], *, name: str | None
) -> None:
    """Check the file checksum (and a tracked snapshot's post-apply checksum) from the
    parts, which must be every part of ``fi`` in order, each iterated to its end."""
    sums = [p.summary() if isinstance(p, PartDecoder) else p for p in parts]
    spans = [p.part for p in sums]
    whole = (
        bool(spans)
        and spans[0].first
        and spans[-1].last
        and all(a.hi == b.lo for a, b in itertools.pairwise(spans))
    )
    if not whole:
        raise UsageError("verify_parts needs every part of the file, each decoded to its end")
    crc = 0
    db = DatabaseChecksum()
    for p in sums:
        crc = crc64_combine(crc, p.crc, p.length)
        if p.db_checksum is not None:
            db.merge(DatabaseChecksum(p.db_checksum))
    computed = CHECKSUM_FLAG | crc
    if fi.trailer.file_checksum != computed:
        raise ChecksumMismatchError(
            "file checksum mismatch",
            expected=fi.trailer.file_checksum,
            actual=computed,
            what="file",
            path=name,
            offset=fi.size - 8,
        )
    if sums[0].db_checksum is not None and fi.trailer.post_apply_checksum != db.value:
        raise ChecksumMismatchError(
            "post-apply checksum does not match the snapshot's pages",
            expected=fi.trailer.post_apply_checksum,
            actual=db.value,
            what="post_apply",
            path=name,
            offset=fi.size - TRAILER_SIZE,
        )
