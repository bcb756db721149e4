"""Builders of hostile LTX inputs shared by the hostile-codec tests and the fuzz harness.

Each builder returns the bytes of one whole file (or one frame) that a careless reader
would choke on: legacy LZ4-frame pages that inflate far past a page, frames of
millions of tiny blocks, and headers whose fields claim more than the file holds.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import lz4.block
import lz4.frame

from ltx.codec import CHECKSUM_FLAG, HEADER_FLAG_NO_CHECKSUM, Header, crc64
from ltx.codec._page_index import PageIndex

__all__ = [
    "LZ4_END_MARK",
    "legacy_header",
    "legacy_file",
    "lz4_frame_header",
    "bomb_frame",
    "tiny_block_frame",
    "empty_block_frame",
    "page_set",
    "legacy_page_file",
    "with_commit",
    "with_index_size",
    "recording",
    "Measured",
    "measure",
]

LZ4_END_MARK = b"\x00\x00\x00\x00"
_END_OF_PAGES = bytes(6)


def legacy_header(page_size: int = 4096, commit: int = 1, txid: int = 2) -> Header:
    """A NoChecksum L0 header, as the v0.5.0/0.5.1 writers of legacy frames used."""
    return Header(
        flags=HEADER_FLAG_NO_CHECKSUM,
        page_size=page_size,
        commit=commit,
        min_txid=txid,
        max_txid=txid,
    )


def lz4_frame_header(block_size: int = lz4.frame.BLOCKSIZE_MAX64KB) -> bytes:
    """The 7-byte descriptor of an LZ4 frame: independent blocks, no sizes, no checksums.

    ``block_size`` is an ``lz4.frame.BLOCKSIZE_*`` constant; the library writes the
    header checksum, so the descriptor is taken from a frame of one full block.
    """
    nbytes = {
        lz4.frame.BLOCKSIZE_MAX64KB: 64 << 10,
        lz4.frame.BLOCKSIZE_MAX256KB: 256 << 10,
        lz4.frame.BLOCKSIZE_MAX1MB: 1 << 20,
        lz4.frame.BLOCKSIZE_MAX4MB: 4 << 20,
    }[block_size]
    full = lz4.frame.compress(
        bytes(nbytes),
        block_size=block_size,
        block_linked=False,
        content_checksum=False,
        store_size=False,
    )
    return full[:7]


def bomb_frame(inflated: int = 256 << 20) -> bytes:
    """An LZ4 frame of zero bytes that inflates to ``inflated`` bytes (~255x its size).

    Built from one compressed 4 MiB block repeated, so making it costs 4 MiB, not
    ``inflated`` bytes.
    """
    block_size = 4 << 20
    one = lz4.block.compress(bytes(block_size), store_size=False)
    block = len(one).to_bytes(4, "little") + one
    count = max(1, inflated // block_size)
    return lz4_frame_header(lz4.frame.BLOCKSIZE_MAX4MB) + block * count + LZ4_END_MARK


def tiny_block_frame(total: int = 8 << 20) -> bytes:
    """An LZ4 frame of ``total`` bytes made of stored 1-byte blocks (5 bytes each)."""
    block = (0x80000001).to_bytes(4, "little") + b"x"
    head = lz4_frame_header()
    return head + block * ((total - len(head) - 4) // len(block)) + LZ4_END_MARK


def empty_block_frame(total: int = 8 << 20) -> bytes:
    """An LZ4 frame of ``total`` bytes of stored empty blocks: no output, endless walk."""
    block = (0x80000000).to_bytes(4, "little")
    head = lz4_frame_header()
    return head + block * ((total - len(head) - 4) // len(block)) + LZ4_END_MARK


def legacy_file(header: Header, frames: dict[int, bytes], pages: dict[int, bytes]) -> bytes:
    """A whole LTX file whose page ``p`` is the legacy frame ``frames[p]``.

    ``pages[p]`` is what the frame is meant to decode to; it feeds the file checksum,
    which hashes decompressed pages. Pass any bytes for hostile frames: readers must
    refuse the frame before they reach the checksum.
    """
    out = bytearray(header.to_bytes())
    crc = crc64(header.to_bytes(), 0)
    index = PageIndex()
    for pgno in sorted(frames):
        raw_ph = pgno.to_bytes(4, "big") + b"\x00\x00"
        index.append(pgno, len(out), len(raw_ph) + len(frames[pgno]))
        out += raw_ph + frames[pgno]
        crc = crc64(pages.get(pgno, b""), crc64(raw_ph, crc))
    tail = _END_OF_PAGES + index.encode() + bytes(8)
    crc = crc64(tail, crc)
    return bytes(out + tail) + (CHECKSUM_FLAG | crc).to_bytes(8, "big")


def page_set(page_size: int, count: int, seed: int = 1) -> dict[int, bytes]:
    """Pages 1..count: a random quarter, then a run of the pgno (LZ4 still has work)."""
    rnd = random.Random(seed)
    head = page_size // 4
    return {p: rnd.randbytes(head) + bytes([p]) * (page_size - head) for p in range(1, count + 1)}


def legacy_page_file(
    page_size: int = 4096, count: int = 3, **lz4_opts: Any
) -> tuple[bytes, dict[int, bytes]]:
    """A valid file of legacy frames as v0.5.0/0.5.1 wrote them, and its pages."""
    pages = page_set(page_size, count)
    opts = {"content_checksum": True, "block_size": lz4.frame.BLOCKSIZE_MAX4MB, **lz4_opts}
    frames = {p: lz4.frame.compress(d, **opts) for p, d in pages.items()}
    return legacy_file(legacy_header(page_size, commit=count), frames, pages), pages


def with_commit(raw: bytes, commit: int) -> bytes:
    """The file with its header's Commit replaced (random access checks no checksum)."""
    return raw[:12] + commit.to_bytes(4, "big") + raw[16:]


def with_index_size(raw: bytes, value: int) -> bytes:
    """The file with its page index size field replaced."""
    return raw[:-24] + value.to_bytes(8, "big") + raw[-16:]


def recording(raw: bytes) -> tuple[Callable[[int, int], bytes], list[tuple[int, int]]]:
    """A ``read_range`` over ``raw`` and the list of ranges it was asked for."""
    reads: list[tuple[int, int]] = []

    def read_range(start: int, end: int) -> bytes:
        reads.append((start, end))
        return raw[start:end]

    return read_range, reads


_ROOT = Path(__file__).resolve().parents[2]
_CHILD = """
import json, os, resource, sys, time
import ltx
from ltx.codec import *
from ltx.codec._decoder import verified_pages
path = sys.argv[1]
def ranged(p):
    fd = os.open(p, os.O_RDONLY)
    return os.path.getsize(p), lambda start, end: os.pread(fd, end - start, start)
size, read_range = ranged(path) if os.path.isfile(path) else (None, None)
def peak_kib():
    # Linux folds the pre-exec (parent's) high-water mark into ru_maxrss, so a child of
    # a big pytest process would start "at" its size; VmHWM is this process's own peak.
    try:
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
base = peak_kib()
t0 = time.process_time()
error = None
try:
{body}
except ltx.LTXError as exc:
    error = type(exc).__name__
cpu = time.process_time() - t0
peak = peak_kib()
print(json.dumps({{"cpu": cpu, "rss": (peak - base) / 1024, "error": error}}))
"""


@attrs.frozen
class Measured:
    """CPU seconds, peak RSS growth in MiB and the LTXError class name (None: no error)."""

    cpu: float
    rss_mib: float
    error: str | None


def measure(body: str, path: Path, *, timeout: float = 120) -> Measured:
    """Run ``body`` in a fresh interpreter against the file at ``path``; measure it.

    ``body`` sees ``path``, ``size``, ``read_range`` (None when ``path`` is a folder),
    ``ranged(p) -> (size, read_range)``, ``ltx`` and ``ltx.codec``'s names. The input
    is read from disk inside the child, so building it does not raise the baseline;
    RSS is the growth of the child's peak (``VmHWM``; ``getrusage`` where there is no
    /proc, as it counts the parent's peak on Linux) over its footprint after imports.
    Any exception but an LTXError fails the child, and so the caller.
    """
    code = _CHILD.format(body=textwrap.indent(textwrap.dedent(body).strip(), "    "))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(_ROOT), str(_ROOT / "src")]))
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=_ROOT,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    return Measured(cpu=got["cpu"], rss_mib=got["rss"], error=got["error"])
