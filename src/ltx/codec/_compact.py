"""Compaction: N LTX files in TXID order -> one file; the newest page wins, streaming."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import BinaryIO

from ltx.codec._decoder import Decoder
from ltx.codec._encoder import Encoder
from ltx.codec._names import format_txid
from ltx.codec._values import HEADER_FLAG_NO_CHECKSUM, Header, Trailer
from ltx.errors import ChecksumMismatchError, FormatError, UsageError

__all__ = ["compact", "is_contiguous"]


def is_contiguous(prev_max: int, cur_min: int, cur_max: int) -> bool:
    """True when a file ``[cur_min, cur_max]`` may follow one ending at ``prev_max``.

    Overlap is allowed; a gap or a file that does not advance is not.
    """
    return cur_min <= prev_max + 1 and cur_max > prev_max


def _check_inputs(decoders: Sequence[Decoder]) -> None:
    """Inputs must share a page size and continue each other's TXIDs."""
    for prev, cur in pairwise(decoders):
        ph, ch = prev.header, cur.header
        if ph.page_size != ch.page_size:
            raise UsageError(
                f"input files have mismatched page sizes: {ph.page_size} != {ch.page_size}"
            )
        if not is_contiguous(ph.max_txid, ch.min_txid, ch.max_txid):
            raise UsageError(
                "non-contiguous transaction ids in input files: "
                f"({format_txid(ph.min_txid)},{format_txid(ph.max_txid)}) -> "
                f"({format_txid(ch.min_txid)},{format_txid(ch.max_txid)})"
            )


def _merge_pages(
    decoders: Sequence[Decoder],
    enc: Encoder,
    commit: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    """A k-way merge by pgno: the newest input's copy of each page wins; pages above
    ``commit`` are dropped. One page per input in memory."""
    heap: list[tuple[int, int, bytes]] = []
    iters = [iter(d) for d in decoders]

    def advance(i: int) -> None:
        item = next(iters[i], None)
        if item is not None:
            heapq.heappush(heap, (item[0].pgno, -i, item[1]))

    for i in range(len(iters)):
        advance(i)
    while heap:
        pgno, neg_i, data = heapq.heappop(heap)
        advance(-neg_i)
        while heap and heap[0][0] == pgno:  # older copies of the same page lose
            _, other, _ = heapq.heappop(heap)
            advance(-other)
        if pgno <= commit:
            enc.write_page(pgno, data)
            if progress is not None:
                progress(pgno, commit)


def compact(
    inputs: Sequence[BinaryIO],
    out: BinaryIO,
    *,
    flags: int | None = None,
    names: Sequence[str] | None = None,
    timestamp: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    read_size: int = 1 << 16,
) -> tuple[Header, Trailer]:
    """Merge ``inputs`` (sorted by TXID) into ``out``; return the output header and trailer.

    Memory is one page per input plus the output's page index. Every input is fully
    decoded and checksum-verified. The output header follows Litestream: TXID range of
    the inputs, Commit and Timestamp of the last, PreApply of the first, WAL fields 0;
    pages above the last Commit are dropped. ``timestamp`` overrides the output's
    (a snapshot carries its creation time). ``flags`` None keeps checksum tracking when
    every input has it (the post-apply checksum is the last input's, and a snapshot's
    is computed from its pages and must equal it), else writes NoChecksum.
    """
    if not inputs:
        raise UsageError("at least one input required")
    decoders = [
        Decoder(fp, name=names[i] if names else None, read_size=read_size)
        for i, fp in enumerate(inputs)
    ]
    _check_inputs(decoders)
    first, last = decoders[0].header, decoders[-1].header
    if flags is None:
        untracked = any(d.header.no_checksum for d in decoders)
        flags = HEADER_FLAG_NO_CHECKSUM if untracked else 0
    tracked = not flags & HEADER_FLAG_NO_CHECKSUM
    header = Header(
        flags=flags,
        page_size=first.page_size,
        commit=last.commit,
        min_txid=first.min_txid,
        max_txid=last.max_txid,
        timestamp=last.timestamp if timestamp is None else timestamp,
        pre_apply_checksum=first.pre_apply_checksum if tracked else 0,
    )
    enc = Encoder(out, header)
    _merge_pages(decoders, enc, header.commit, progress)
    post = decoders[-1].trailer
    if post is None:  # pragma: no cover - every decoder was drained above
        raise FormatError("input not fully decoded")
    if not tracked:
        return header, enc.close()
    if not header.is_snapshot:
        return header, enc.close(post_apply_checksum=post.post_apply_checksum)
    trailer = enc.close()  # computed from the pages written
    if trailer.post_apply_checksum != post.post_apply_checksum:
        raise ChecksumMismatchError(
            "post-apply checksum of the last input does not match the merged pages",
            expected=post.post_apply_checksum,
            actual=trailer.post_apply_checksum,
            what="post_apply",
            path=names[-1] if names else None,
        )
    return header, trailer
