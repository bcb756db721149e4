"""Which C calls of a restore release the GIL, and how page decoding scales on threads.

1. A thread runs a pure-Python loop that notes the time every 256 turns while the main
   thread makes one long C call (512 MiB): a note inside the middle half of the call
   is only possible if the call released the GIL (a call that holds it lets no Python
   run until it returns; this needs no idle core, so it holds on a busy machine). Probed: ``hashlib.sha256`` (a
   known releaser, the control), ``lz4.block.decompress`` / ``compress`` and fastcrc's
   ``crc64.go_iso`` (the CRC the codec uses).
2. The LTX codec's part decoder (``ltx.codec.PartDecoder``) over one snapshot file of
   --mib MiB, on 1, 2 and 4 threads, then on a pool of one process per core started
   for each run (fork, spawn: the start is timed, as a restore pays it; each worker
   reads its parts from the file, as the restore's do), best of --repeat: wall time
   and speedup over one thread.

Run: python benchmarks/bench_gil.py [--mib 64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import random
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import lz4.block
from _common import clean_env, warm_bytecode
from fastcrc import crc64

from ltx.codec import (
    FileIndex,
    FilePart,
    Header,
    PartDecoder,
    PartSum,
    encode_pages,
    read_file_index,
    split_file,
    verify_parts,
)

_file: tuple[FileIndex, str] | None = None  # a worker's file (set by its initializer)


def _worker_start(fi: FileIndex, path: str) -> None:
    global _file
    _file = (fi, path)


def _worker_part(part: FilePart) -> PartSum:
    assert _file is not None
    fi, path = _file
    with open(path, "rb", buffering=0) as f:
        blob = os.pread(f.fileno(), part.end - part.start, part.start)
    dec = PartDecoder(fi, part, blob, name=path)
    for _ in dec:
        pass
    return dec.summary()


def probe_gil() -> None:
    big = (bytes(range(256)) * 4 + bytes(3072)) * 131072  # 512 MiB, compressible
    comp = lz4.block.compress(big, store_size=False)
    stamps: list[float] = []
    stop = threading.Event()

    def counter() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            if not n & 255:
                stamps.append(time.perf_counter())

    t = threading.Thread(target=counter, daemon=True)
    t.start()
    time.sleep(0.05)
    probes = [
        ("hashlib.sha256 (control)", lambda: hashlib.sha256(big).digest()),
        ("lz4.block.decompress", lambda: lz4.block.decompress(comp, uncompressed_size=len(big))),
        ("lz4.block.compress", lambda: lz4.block.compress(big, store_size=False)),
        ("fastcrc crc64.go_iso", lambda: crc64.go_iso(big)),
    ]
    for name, fn in probes:
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        lo, hi = t0 + (t1 - t0) / 4, t1 - (t1 - t0) / 4  # the middle half of the call
        inside = sum(1 for s in stamps if lo < s < hi)
        verdict = "releases the GIL" if inside else "HOLDS the GIL"
        print(
            f"{name:26} {(t1 - t0) * 1000:7.0f} ms on 512 MiB; Python ran {inside:>6} times "
            f"in the middle half of the call: {verdict}"
        )
    stop.set()
    t.join()


def scaling(mib: int, repeat: int) -> None:
    ps = 4096
    rnd = random.Random(1)
    n = (mib << 20) // ps
    pages = {p: rnd.randbytes(1200) + bytes(ps - 1200) for p in range(1, n + 1)}
    header = Header(flags=2, page_size=ps, commit=n, min_txid=1, max_txid=1, timestamp=0)
    raw = encode_pages(header, pages)
    del pages
    fi = read_file_index(lambda s, e: raw[s:e], len(raw))
    parts = split_file(fi, 4 << 20)  # the restore's part size (ltx.restore._PART)
    blobs = [raw[p.start : p.end] for p in parts]

    def one(k: int) -> PartDecoder:
        dec = PartDecoder(fi, parts[k], blobs[k], name="bench")
        for _ in dec:
            pass
        return dec

    print(
        f"{n:,} pages, {len(raw) / 2**20:.0f} MiB of LTX in {len(parts)} parts; cpus {os.cpu_count()}"
    )
    base = None
    for threads in (1, 2, 4):
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            with ThreadPoolExecutor(threads) as ex:
                decs = list(ex.map(one, range(len(parts))))
            verify_parts(fi, decs, name="bench")
            best = min(best, time.perf_counter() - t0)
        base = base or best
        print(f"  {threads} thread(s): {best:.3f} s, speedup {base / best:.2f}")
    with tempfile.NamedTemporaryFile(suffix=".ltx") as tmp:
        tmp.write(raw)
        tmp.flush()
        cores = os.cpu_count() or 1
        for method in ("fork", "spawn"):
            best = float("inf")
            for _ in range(repeat):
                t0 = time.perf_counter()
                ctx = multiprocessing.get_context(method)
                with ProcessPoolExecutor(
                    cores, mp_context=ctx, initializer=_worker_start, initargs=(fi, tmp.name)
                ) as ex:
                    sums = list(ex.map(_worker_part, parts))
                verify_parts(fi, sums, name="bench")
                best = min(best, time.perf_counter() - t0)
            print(
                f"  {cores} processes ({method}, start included): {best:.3f} s, "
                f"speedup {(base or best) / best:.2f}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    warm_bytecode()  # spawned workers then import from caches, as an installed library does
    for k in set(os.environ) - set(clean_env()):
        del os.environ[k]  # PYTHONDONTWRITEBYTECODE would make each spawned worker compile
    probe_gil()
    scaling(args.mib, args.repeat)


if __name__ == "__main__":
    main()
