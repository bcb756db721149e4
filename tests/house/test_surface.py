"""The public surface: ``ltx`` exports what its calls take and return, ``ltx.legacy`` only
what a user calls, light names stay free of fsspec, and bad input is a UsageError even
under ``python -O``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import pytest

import ltx
import ltx.legacy


def _run(code: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-c", textwrap.dedent(code)], capture_output=True, text=True
    )


def test_result_and_option_types_are_exported():
    from ltx.changes import Diff, TxChanges
    from ltx.compaction import CompactStep, DeleteStep, LevelsConfig, SnapshotStep
    from ltx.resolve import PageCache, PageMap, Plan, RestorePoint
    from ltx.sources import Source
    from ltx.storage import RetryPolicy
    from ltx.verify import Problem, Report
    from ltx.view import PageMapLike

    for value in (Diff, TxChanges, CompactStep, DeleteStep, LevelsConfig, SnapshotStep):
        assert getattr(ltx, value.__name__) is value
    for value in (PageCache, PageMap, Plan, RestorePoint, Source, RetryPolicy, Problem):
        assert getattr(ltx, value.__name__) is value
    assert ltx.Report is Report and ltx.PageMapLike is PageMapLike
    assert {"TimeLike", "Source", "RetryPolicy", "RestorePoint"} <= set(ltx.__all__)
    assert sorted(ltx.__all__) == sorted(set(ltx.__all__)) == dir(ltx)


def test_fileinfo_and_view_do_not_import_fsspec():
    out = _run(
        """
        import sys
        import ltx
        ltx.FileInfo, ltx.View, ltx.PageMapLike
        assert "fsspec" not in sys.modules, "fsspec was imported"
        from ltx.codec import FileInfo
        assert ltx.FileInfo is FileInfo
        """
    )
    assert out.returncode == 0, out.stderr


def test_legacy_exports_what_a_user_calls():
    names = set(ltx.legacy.__all__)
    assert {"LegacySource", "MixedSource", "convert", "LegacyPageMap"} <= names
    assert len(names) <= 20
    for internal in ("wal_checksum", "make_position", "PageMap", "build_page_map", "Step"):
        assert internal not in names
        assert not hasattr(ltx.legacy, internal), internal
    for name in names:
        assert getattr(ltx.legacy, name) is not None, name


def test_build_page_map_refuses_bad_input_under_python_O():
    """Checks are UsageErrors, not asserts: ``python -O`` keeps them."""
    out = _run(
        """
        import datetime as dt
        from ltx.codec import FileIndex, FileInfo, PageIndex, Trailer
        from ltx.errors import UsageError
        from ltx.resolve import Plan, build_page_map

        if __debug__:
            raise SystemExit("not running under python -O")
        when = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        f = FileInfo(level=0, min_txid=1, max_txid=1, size=100, created_at=when, path="a.ltx")
        headless = FileIndex(index=PageIndex(), trailer=Trailer(0, 0), size=100)
        cases = [
            (Plan(files=(f,), txid=1), [headless]),
            (Plan(files=(f,), txid=1), []),
            (Plan(files=(), txid=1), []),
        ]
        for plan, indexes in cases:
            try:
                build_page_map(plan, indexes)
            except UsageError as exc:
                print("refused:", exc)
            else:
                raise SystemExit(f"accepted {plan} with {indexes}")
        """,
        "-O",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("refused:") == 3
    assert "a.ltx" in out.stdout


def test_snapshot_still_works_with_a_warning(tmp_path):
    r = ltx.Replica(ltx.open_store((tmp_path / "r").as_uri()))
    r.append({1: bytes(512)}, 1, page_size=512)
    with pytest.warns(DeprecationWarning, match=r"Replica\.view"):
        old = r.snapshot(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = r.view(1)
    assert (old.txid, old.page(1)) == (new.txid, new.page(1))
