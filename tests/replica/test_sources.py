"""Replica kinds: ``Replica`` chooses one ``Source`` per listing and delegates to it; each
source reads only the page maps it made."""

from __future__ import annotations

import datetime as dt

import pytest

import ltx
from ltx.errors import UsageError
from ltx.legacy import LegacySource, MixedSource
from ltx.sources import LTXSource, choose_source
from ltx.storage import open_store
from tests.legacy_harness import load_fixture

PS = 1024


@pytest.fixture
def old_root(tmp_path):
    root, _ = load_fixture(tmp_path / "old")
    return root


def _write(replica: ltx.Replica, n: int, when: int = 1_700_000_000_000) -> None:
    for t in range(1, n + 1):
        pages = {p: bytes([t]) * PS for p in range(1, 3)} if t == 1 else {2: bytes([t]) * PS}
        replica.append(pages, 2, timestamp=when + t * 1000, page_size=PS)


def test_each_root_gets_its_kind(tmp_path, old_root):
    new = ltx.Replica(open_store((tmp_path / "new").as_uri()))
    _write(new, 3)
    assert new.kind == "ltx" and isinstance(new.source, LTXSource) and new.legacy() is None
    old = ltx.open(str(old_root))
    assert old.kind == "0.3" and isinstance(old.source, LegacySource)
    assert old.legacy() is old.source
    assert ltx.Replica(open_store(str(old_root)), legacy=False).kind == "ltx"
    _write(ltx.Replica(open_store(str(old_root))), 1, when=4_000_000_000_000)
    mixed = ltx.open(str(old_root))
    assert mixed.kind == "mixed" and isinstance(mixed.source, MixedSource)


def test_the_source_is_chosen_once_per_listing(tmp_path):
    r = ltx.Replica(open_store((tmp_path / "r").as_uri()))
    _write(r, 2)
    first = r.source
    assert r.source is first
    r.refresh()
    assert r.source is first  # the same LTXSource: its listing was renewed
    assert choose_source(LTXSource(r.store)).kind == "ltx"


def test_a_source_refuses_page_maps_it_did_not_make(tmp_path, old_root):
    new = ltx.Replica(open_store((tmp_path / "new").as_uri()))
    _write(new, 2)
    old = LegacySource(open_store(str(old_root)))
    ltx_map, old_map = new.page_map(), old.page_map()
    assert (ltx_map.kind, old_map.kind) == ("ltx", "0.3")
    with pytest.raises(UsageError, match="another replica"):
        new.read_page(old_map, 1)
    with pytest.raises(UsageError, match="another replica"):
        new.source.restore(old_map, tmp_path / "x.db")
    with pytest.raises(UsageError, match="another replica"):
        old.read_page(ltx_map, 1)  # type: ignore[arg-type]


def test_time_bounds_of_each_kind(tmp_path, old_root):
    new = ltx.Replica(open_store((tmp_path / "new").as_uri()))
    assert new.time_bounds() is None
    _write(new, 3)
    lo, hi = new.time_bounds()
    assert (lo, hi) == (
        min(f.created_at for f in new.files()),
        max(f.created_at for f in new.files()),
    )
    old = ltx.open(str(old_root))
    assert old.time_bounds() == LegacySource(open_store(str(old_root))).time_bounds()
    assert all(isinstance(t, dt.datetime) for t in old.time_bounds())
