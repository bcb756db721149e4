"""Fuzz the SQLite reader (schema, rows, indexes, diffs) and ``verify``; see README.md.

Invariants in ``sqlite_targets.py``. Budgets as in ``campaign.py``: a fixed number of
inputs in CI, ``LTX_FUZZ_SECONDS`` (shares ``sqlite`` and ``verify``) on demand.
"""

from __future__ import annotations

import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from ltx.testing import pages
from tests.fuzz import hostile as H
from tests.fuzz import sqlite_targets as S
from tests.fuzz import targets as T
from tests.fuzz.campaign import HYPOTHESIS, Campaign, peak_mib

BOUND_MIB = 64


def test_fuzz_sqlite_reader() -> None:
    """Also: the campaign's own peak RSS grows less than the bound over all its inputs."""
    camp = Campaign("sqlite")
    seeds = list(S.seed_images())
    S.check_sqlite(seeds[0], seeds[0])
    base, t0 = peak_mib(), time.monotonic()
    for _ in camp:
        seed = camp.rnd.choice(seeds)
        image = S.mutate_image(seed, camp.rnd, seeds)
        camp.check(image, S.check_sqlite, image, seed)
    peak, seconds = peak_mib(), time.monotonic() - t0
    growth = None if base is None or peak is None else peak - base
    print(f"sqlite reader: {camp.runs} inputs in {seconds:.0f} s, peak RSS +{growth} MiB")
    assert growth is None or growth < BOUND_MIB, growth
    camp.finish()


def test_fuzz_verify(tmp_path: Path) -> None:
    camp = Campaign("verify")
    corpus = T.seed_files()
    for run in camp:
        kind = "tracked" if run % 2 else "plain"
        work = tmp_path / "replica"
        camp.check(f"{kind} #{run}", S.check_verify, work, kind, camp.rnd, corpus)
    camp.finish()
    print(f"verify: {camp.runs} inputs")


@HYPOTHESIS
@given(
    seed=st.sampled_from(range(3)),
    pgno=st.integers(1, 64),
    data=st.data(),
)
def test_hypothesis_pages_from_the_strategies(seed: int, pgno: int, data: st.DataObject) -> None:
    """A page of a real database replaced by one ``ltx.testing.pages`` draws."""
    image = S.seed_images()[seed]
    ps = int.from_bytes(image[16:18], "big")
    page = data.draw(pages(ps))
    S.check_sqlite(S.with_page(image, pgno, page), image)


def test_hostile_schemas_stay_within_memory_bound(tmp_path: Path) -> None:
    """Every hostile schema row, and aliases of a root page: < 64 MiB over the baseline."""
    seed = S.seed_images()[0]
    for i, sql in enumerate(S.HOSTILE_SQL):
        (tmp_path / f"{i:03d}-t.db").write_bytes(S.with_schema_sql(seed, "t", sql))
    (tmp_path / "alias.db").write_bytes(S.with_alias(seed, 500))
    (tmp_path / "seed").write_bytes(seed)
    got = H.measure(
        """
        from tests.fuzz.sqlite_targets import check_sqlite
        with open(os.path.join(path, "seed"), "rb") as f:
            seed = f.read()
        for name in sorted(os.listdir(path)):
            if name.endswith(".db"):
                with open(os.path.join(path, name), "rb") as f:
                    check_sqlite(f.read(), seed)
        """,
        tmp_path,
    )
    assert got.error is None and got.rss_mib < BOUND_MIB, got
