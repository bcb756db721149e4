"""Fuzz the codec, the file-name parser and the URL parser; invariants in ``targets.py``.

By default each campaign runs a fixed, deterministically seeded number of inputs (a few
seconds in all, for CI). ``LTX_FUZZ_SECONDS=600`` runs the campaigns for about that
long in total and scales the hypothesis tests; ``LTX_FUZZ_SEED`` picks another seed.
A failing input is saved (``LTX_FUZZ_CRASH_DIR``, default a temp folder) and named in
the failure. See README.md.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltx.testing import ltx_files
from tests.fuzz import hostile as H
from tests.fuzz import mutators as M
from tests.fuzz import targets as T
from tests.fuzz.campaign import HYPOTHESIS, SEED, Campaign


@pytest.fixture(scope="module")
def corpus() -> list[bytes]:
    return T.seed_files()


@pytest.fixture(scope="module")
def known(corpus: list[bytes]) -> T.Known:
    return T.Known.of(corpus)


# -- mutation campaigns ----------------------------------------------------------------------


def test_fuzz_ltx_readers(corpus: list[bytes], known: T.Known) -> None:
    camp = Campaign("ltx")
    for _ in camp:
        ops: list[Callable[..., bytes]] = []
        data = M.mutate(camp.rnd.choice(corpus), camp.rnd, corpus, used=ops)
        exact = all(op in M.LENGTH_MUTATORS for op in ops)
        camp.check(data, T.check_ltx, data, known, exact_index=exact)
    camp.finish()


def test_fuzz_legacy_frames() -> None:
    camp = Campaign("legacy")
    seeds = T.seed_frames()
    frames = [f for f, _ in seeds]
    for _ in camp:
        frame, page_size = camp.rnd.choice(seeds)
        frame = M.mutate(frame, camp.rnd, frames, M.MUTATORS[:6])
        pieces = [camp.rnd.choice((1, 3, 5, 64, 4096)) for _ in range(8)]
        camp.check(frame, T.check_legacy_frame, frame, page_size, pieces)
    camp.finish()


def test_fuzz_filenames() -> None:
    camp = Campaign("names")
    for _ in camp:
        name = M.mutate_text(camp.rnd.choice(M.SEED_NAMES), camp.rnd, M.SEED_NAMES)
        camp.check(name, T.check_filename, name)
    camp.finish()


def test_fuzz_replica_urls() -> None:
    camp = Campaign("urls")
    for _ in camp:
        url = M.mutate_text(camp.rnd.choice(M.SEED_URLS), camp.rnd, M.SEED_URLS)
        camp.check(url, T.check_url, url)
    camp.finish()


# -- bugs found by the fuzzer outside the codec, fixed and pinned ----------------------------


def test_parse_filename_refuses_a_trailing_newline() -> None:
    assert T.check_filename("0000000000000001-0000000000000001.ltx\n") is None


@pytest.mark.parametrize(
    "url",
    [
        "s3://b/p?endpoint=http://localhost:90]00",
        "s3://b/p?endpoint=http://l][[9000",
        "s3://b/p?endpoint=http://\u2100localhost:9000",
        "gcs://b/p?endpoint=http://]x",
        "webdav://u\ud800:p/w@host/p",
    ],
)
def test_parse_url_raises_only_ltx_errors(url: str) -> None:
    assert T.check_url(url) is None


# -- hypothesis over generated files and strings ---------------------------------------------


@HYPOTHESIS
@given(ltx_files(max_commit=6), st.lists(st.integers(0, 2**32), max_size=3))
def test_hypothesis_mutated_generated_files(drawn: Any, seeds: list[int]) -> None:
    raw, _ = drawn
    data, ops = raw, []
    for s in seeds:
        data = M.mutate(data, random.Random(s), [raw], used=ops)
    exact = all(op in M.LENGTH_MUTATORS for op in ops)
    T.check_ltx(data, T.Known.of([raw]), exact_index=exact)


@HYPOTHESIS
@given(st.sampled_from(T.seed_frames()), st.binary(max_size=64), st.integers(0, 2**16))
def test_hypothesis_legacy_frame_splices(seed: tuple[bytes, int], junk: bytes, at: int) -> None:
    frame, page_size = seed
    at %= len(frame) + 1
    T.check_legacy_frame(frame[:at] + junk + frame[at:], page_size, [7, 1, 300])


@HYPOTHESIS
@given(st.one_of(st.text(max_size=60), st.sampled_from(M.SEED_NAMES)))
def test_hypothesis_filenames(name: str) -> None:
    T.check_filename(name)


@HYPOTHESIS
@given(st.sampled_from(M.SEED_URLS), st.text(max_size=12), st.integers(0, 200))
def test_hypothesis_replica_urls(url: str, bit: str, at: int) -> None:
    at %= len(url) + 1
    T.check_url(url[:at] + bit + url[at:])  # known bugs return their name; others raise


# -- memory bound of hostile sizes, in a fresh interpreter -----------------------------------


def test_hostile_sizes_stay_within_memory_bound(corpus: list[bytes], tmp_path: Path) -> None:
    """Headers, index sizes and uvarints claiming huge sizes: peak RSS < 64 MiB over base."""
    rnd = random.Random(f"{SEED}-memory")
    for i in range(120):
        raw = M.mutate(rnd.choice(corpus), rnd, corpus, M.HOSTILE_SIZE_MUTATORS)
        (tmp_path / f"{i:04d}.ltx").write_bytes(raw)
    header = H.legacy_header()
    bomb = H.legacy_file(header, {1: H.bomb_frame(64 << 20)}, {})
    (tmp_path / "legacy-bomb.ltx").write_bytes(bomb)
    tiny = H.legacy_file(header, {1: H.tiny_block_frame(256 << 10)}, {})
    (tmp_path / "legacy-tiny.ltx").write_bytes(tiny)
    got = H.measure(
        """
        from tests.fuzz.targets import Known, check_ltx, seed_files
        known = Known.of(seed_files())
        for name in sorted(os.listdir(path)):
            with open(os.path.join(path, name), "rb") as f:
                raw = f.read()
            if name.startswith("legacy-"):  # a sound index over a frame that must fail
                fi = read_file_index(lambda s, e: raw[s:e], len(raw))
                known.indexes.add(fi.index.encode())
            check_ltx(raw, known)
        """,
        tmp_path,
    )
    assert got.error is None and got.rss_mib < 64, got


# -- optional atheris entry point ------------------------------------------------------------


def test_atheris_entry_point_runs_briefly() -> None:
    pytest.importorskip("atheris")
    script = Path(__file__).with_name("atheris_codec.py")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, str(script), "-runs=300", "-seed=1"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), str(root / "src")])),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
