"""ltx.changes at scale: a 256 MiB database, 10 rows changed, few pages read."""

from __future__ import annotations

import time

import pytest

from tests.changes.test_diff import ten_row_diff


@pytest.mark.slow
@pytest.mark.parametrize("page_size", [4096, 65536])
def test_ten_rows_of_256_mib_read_few_pages(tmp_path, page_size):
    t0 = time.perf_counter()
    reads, changed, keys = ten_row_diff(tmp_path, 1_100_000, page_size, min_bytes=256 << 20)
    print(
        f"ps={page_size} changed={changed} reads={reads} budget={4 * changed + 16} "
        f"({time.perf_counter() - t0:.1f} s with the build)"
    )
    assert len(keys) == 10
    assert reads <= 4 * changed + 16, (reads, changed)
