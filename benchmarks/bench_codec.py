"""Codec throughput: encode and decode MB/s of page data (checksums verified) and CRC MB/s.

Run: python benchmarks/bench_codec.py [--mib 64]
Compares with the real ``litestream`` in the same run where it can: Go's decoder is
timed through ``litestream restore`` of one snapshot file of the same pages.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ltx
from ltx.codec import Header, crc64, format_filename
from ltx.codec._checksum import crc64_pure


def make_pages(page_size: int, n: int, seed: int = 1) -> list[bytes]:
    """Half-compressible pages: random bytes followed by a run, like a B-tree page."""
    rnd = random.Random(seed)
    half = page_size // 2
    return [rnd.randbytes(half) + bytes(page_size - half) for _ in range(n)]


def bench(page_size: int, mib: int) -> dict[str, float]:
    n = (mib << 20) // page_size
    pages = make_pages(page_size, min(n, 256))
    header = Header(flags=2, page_size=page_size, commit=n, min_txid=1, max_txid=1)
    buf = io.BytesIO()
    t0 = time.perf_counter()
    enc = ltx.Encoder(buf, header)
    for p in range(1, n + 1):
        enc.write_page(p, pages[p % len(pages)])
    enc.close()
    t_enc = time.perf_counter() - t0
    data = buf.getvalue()
    t0 = time.perf_counter()
    count = sum(1 for _ in ltx.Decoder(io.BytesIO(data)))
    t_dec = time.perf_counter() - t0
    assert count == n
    mb = n * page_size / 1e6
    return {"encode": mb / t_enc, "decode": mb / t_dec, "bytes": len(data), "data": data}


def litestream_decode_rate(data: bytes, page_size: int, n: int) -> float | None:
    """MB/s of page data for ``litestream restore`` of one snapshot file (Go decode + write)."""
    exe = shutil.which("litestream")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "replica" / "ltx" / "9"
        d.mkdir(parents=True)
        (d / format_filename(1, 1)).write_bytes(data)
        out = Path(tmp) / "out.db"
        env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
        t0 = time.perf_counter()
        proc = subprocess.run(
            [exe, "restore", "-o", str(out), (Path(tmp) / "replica").as_uri()],
            capture_output=True,
            env=env,
        )
        dt = time.perf_counter() - t0
        if proc.returncode != 0:
            return None
        return n * page_size / 1e6 / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mib", type=int, default=64, help="page data per run")
    args = ap.parse_args()
    blob = os.urandom(64 << 20)
    t0 = time.perf_counter()
    crc64(blob, 0)
    fast = len(blob) / 1e6 / (time.perf_counter() - t0)
    small = blob[: 1 << 20]
    t0 = time.perf_counter()
    crc64_pure(small)
    pure = len(small) / 1e6 / (time.perf_counter() - t0)
    print(f"crc64 (fastcrc):      {fast:10.0f} MB/s")
    print(f"crc64 (pure Python):  {pure:10.1f} MB/s")
    for ps in (4096, 65536):
        r = bench(ps, args.mib)
        n = (args.mib << 20) // ps
        go = litestream_decode_rate(r["data"], ps, n)
        line = (
            f"page {ps:>5}: encode {r['encode']:7.0f} MB/s, decode+verify {r['decode']:7.0f} MB/s"
        )
        if go:
            line += f"; litestream restore {go:7.0f} MB/s; ratio ours/go {r['decode'] / go:5.2f}"
        print(line)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
