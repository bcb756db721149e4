"""Coverage-guided fuzzing of the codec targets with atheris (libFuzzer); optional.

atheris is not a dependency: ``pip install atheris`` (wheels for CPython 3.11 on
x86-64 Linux), then from the repository root::

    python tests/fuzz/atheris_codec.py -max_total_time=600 -timeout=2 -rss_limit_mb=512

With no corpus folder given, a temporary one is seeded from the Litestream fixtures
and the other seeds in ``targets.py``. The first byte of an input picks the target
(0: LTX readers, 1: a legacy LZ4 frame, 2: a file name, 3: a replica URL); the
invariants are those of the pytest harness (``targets.py``), except that a crafted
file need not be one of the seeds. Known bugs outside the codec are tolerated. Without atheris the script says so and exits 0.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

try:
    import atheris
except ImportError:
    print("atheris is not installed; skipping (pip install atheris to fuzz with libFuzzer)")
    sys.exit(0)

with atheris.instrument_imports(include=["ltx"]):
    import ltx  # noqa: F401  (instrumented first, so every ltx module is covered)
    from tests.fuzz import mutators as M
from tests.fuzz import targets as T


def test_one_input(data: bytes) -> None:
    """Dispatch one libFuzzer input to a target by its first byte."""
    if not data:
        return
    kind, payload = data[0] % 4, data[1:]
    if kind == 0:
        T.check_ltx(payload, None)  # crafted inputs may be valid files
    elif kind == 1 and payload:
        page_size = 512 << (payload[0] % 8)
        T.check_legacy_frame(payload[1:], page_size, [payload[0] % 61 + 1, 5, 4096])
    elif kind == 2:
        T.check_filename(payload.decode("utf-8", "surrogateescape"))
    elif kind == 3:
        T.check_url(payload.decode("utf-8", "surrogateescape"))


def _seed_corpus() -> str:
    """A temporary corpus folder holding every seed, prefixed with its target byte."""
    folder = Path(tempfile.mkdtemp(prefix="ltx-atheris-"))
    seeds = [b"\x00" + raw for raw in T.seed_files()]
    seeds += [
        b"\x01" + bytes([(page_size // 512).bit_length() - 1]) + f
        for f, page_size in T.seed_frames()
    ]
    seeds += [b"\x02" + n.encode() for n in M.SEED_NAMES]
    seeds += [b"\x03" + u.encode() for u in M.SEED_URLS]
    for i, seed in enumerate(seeds):
        (folder / f"seed-{i:03d}").write_bytes(seed)
    return str(folder)


def main() -> None:
    argv = list(sys.argv)
    if not any(not a.startswith("-") for a in argv[1:]):
        argv.append(_seed_corpus())
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
