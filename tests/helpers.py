"""Small helpers shared by tests: build LTX files in memory."""

from __future__ import annotations

import io

import ltx
from ltx.codec import HEADER_FLAG_NO_CHECKSUM, Header


def ltx_bytes(
    min_txid: int,
    max_txid: int,
    pages: dict[int, bytes],
    *,
    commit: int | None = None,
    page_size: int = 512,
    timestamp: int = 1_790_000_000_000,
) -> bytes:
    """A NoChecksum LTX file (Litestream style) holding ``pages``."""
    buf = io.BytesIO()
    h = Header(
        flags=HEADER_FLAG_NO_CHECKSUM,
        page_size=page_size,
        commit=commit if commit is not None else max(pages, default=1),
        min_txid=min_txid,
        max_txid=max_txid,
        timestamp=timestamp,
    )
    enc = ltx.Encoder(buf, h)
    for p in sorted(pages):
        enc.write_page(p, pages[p])
    enc.close()
    return buf.getvalue()


def page(fill: int, page_size: int = 512) -> bytes:
    return bytes([fill]) * page_size
