"""Large files restored in parts on every core: CRC-64 combine, part decoding, and the
parallel restore against the serial one (same bytes, same typed error on corruption)."""

from __future__ import annotations

import io
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ltx
import ltx.restore
from ltx.codec import (
    HEADER_FLAG_NO_CHECKSUM,
    HEADER_SIZE,
    Decoder,
    Header,
    PartDecoder,
    encode_pages,
    read_file_index,
    split_file,
    verify_parts,
)
from ltx.codec._checksum import crc64, crc64_combine
from ltx.codec._page_index import encode_uvarint
from ltx.errors import ChecksumMismatchError, UsageError
from ltx.testing.strategies import ltx_files

PS = 512


@given(st.binary(max_size=3000), st.data())
def test_crc64_combine_matches_one_pass(data, draw):
    cut = draw.draw(st.integers(0, len(data)))
    a, b = data[:cut], data[cut:]
    assert crc64_combine(crc64(a, 0), crc64(b, 0), len(b)) == crc64(data, 0)


@given(st.lists(st.binary(max_size=500), max_size=8))
def test_crc64_combine_folds_many_parts(chunks):
    crc = 0
    for c in chunks:
        crc = crc64_combine(crc, crc64(c, 0), len(c))
    assert crc == crc64(b"".join(chunks), 0)


def test_crc64_combine_refuses_negative_length():
    with pytest.raises(UsageError):
        crc64_combine(1, 2, -1)


def _decode_in_parts(raw: bytes, target: int) -> dict[int, bytes]:
    fi = read_file_index(lambda s, e: raw[s:e], len(raw))
    decs, pages = [], {}
    for part in split_file(fi, target):
        dec = PartDecoder(fi, part, raw[part.start : part.end], name="f")
        for batch in dec:
            for k, pgno in enumerate(batch.pgnos):
                pages[pgno] = bytes(batch.page(k))
        decs.append(dec)
    verify_parts(fi, decs, name="f")
    return pages


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(ltx_files(max_commit=40), st.integers(1, 4000))
def test_parts_decode_like_the_decoder(file, target):
    raw, _model = file
    whole = {ph.pgno: data for ph, data in Decoder(io.BytesIO(raw))}
    assert _decode_in_parts(raw, target) == whole


def test_verify_parts_needs_every_part():
    header = Header(flags=0, page_size=PS, commit=20, min_txid=1, max_txid=1, timestamp=0)
    raw = encode_pages(header, {p: bytes([p]) * PS for p in range(1, 21)})
    fi = read_file_index(lambda s, e: raw[s:e], len(raw))
    parts = split_file(fi, 100)
    decs = [PartDecoder(fi, p, raw[p.start : p.end], name="f") for p in parts]
    for dec in decs[:-1]:
        list(dec)
    with pytest.raises(UsageError):
        verify_parts(fi, decs[:-1], name="f")
    list(decs[-1])
    verify_parts(fi, decs, name="f")


def _with_post_apply(raw: bytes, post: int) -> bytes:
    """``raw`` with another post-apply checksum and a file checksum that matches it."""
    fi = read_file_index(lambda s, e: raw[s:e], len(raw))
    stream = [raw[:HEADER_SIZE]]
    for (_pgno, offset, _size), (_ph, data) in zip(fi.index, Decoder(io.BytesIO(raw)), strict=True):
        stream += [raw[offset : offset + 10], data]
    data_end = fi.index.offsets[-1] + fi.index.sizes[-1]
    stream += [raw[data_end:-16], post.to_bytes(8, "big")]
    crc = ltx.CHECKSUM_FLAG | crc64(b"".join(stream), 0)
    return raw[:-16] + post.to_bytes(8, "big") + crc.to_bytes(8, "big")


def test_a_tracked_snapshot_checks_its_post_apply_checksum_from_parts():
    header = Header(flags=0, page_size=PS, commit=30, min_txid=1, max_txid=1, timestamp=0)
    pages = {p: random.Random(p).randbytes(40) + bytes(PS - 40) for p in range(1, 31)}
    raw = _with_post_apply(encode_pages(header, pages), ltx.CHECKSUM_FLAG | 12345)
    with pytest.raises(ChecksumMismatchError) as serial:
        Decoder(io.BytesIO(raw)).verify()
    assert serial.value.what == "post_apply"
    fi = read_file_index(lambda s, e: raw[s:e], len(raw))
    decs = []
    for part in split_file(fi, 300):
        dec = PartDecoder(fi, part, raw[part.start : part.end], name="f")
        list(dec)
        decs.append(dec)
    with pytest.raises(ChecksumMismatchError) as exc:
        verify_parts(fi, decs, name="f")
    assert exc.value.what == "post_apply"


# -- the restore ------------------------------------------------------------------------


def _snapshot_replica(tmp_path, n_pages=60, flags=HEADER_FLAG_NO_CHECKSUM):
    """A file:// replica of one snapshot file of ``n_pages`` mixed pages; (url, path, pages)."""
    rnd = random.Random(n_pages)
    pages = {
        p: rnd.randbytes(rnd.randrange(0, PS)).ljust(PS, bytes([p % 256]))
        for p in range(1, n_pages + 1)
    }
    # a valid SQLite header on page 1 is not needed: restore copies pages as they are
    header = Header(flags=flags, page_size=PS, commit=n_pages, min_txid=1, max_txid=1, timestamp=0)
    raw = encode_pages(header, pages)
    url = (tmp_path / "rep").as_uri()
    r = ltx.open(url)
    src = tmp_path / "snap.ltx"
    src.write_bytes(raw)
    r.store.write(9, 1, 1, src, timestamp_ms=0)
    path = tmp_path / "rep" / "ltx" / "9" / "0000000000000001-0000000000000001.ltx"
    assert path.read_bytes() == raw
    return url, path, pages


@pytest.fixture
def small_parts(monkeypatch):
    """Split every file above 1 KiB into parts of about 700 bytes; count serial decodes."""
    monkeypatch.setattr(ltx.restore, "_PART", 700)
    monkeypatch.setattr(ltx.restore, "REMOTE_PART", 700)
    monkeypatch.setattr(ltx.restore, "SPLIT_ABOVE", 1024)
    serial = []
    real = ltx.restore._serial_file

    def counting(store, pm, ordinal, *a):
        serial.append(pm.files[ordinal].path)
        return real(store, pm, ordinal, *a)

    monkeypatch.setattr(ltx.restore, "_serial_file", counting)
    return serial


@pytest.mark.parametrize("flags", [HEADER_FLAG_NO_CHECKSUM, 0])
def test_parallel_restore_is_byte_identical(tmp_path, small_parts, flags):
    url, _path, pages = _snapshot_replica(tmp_path, flags=flags)
    out = tmp_path / "out.db"
    ltx.open(url).restore(out)
    assert out.read_bytes() == b"".join(pages[p] for p in sorted(pages))
    assert small_parts == []  # decoded in parts, no fallback


def _restore_with_level0_on_top(tmp_path, flags=HEADER_FLAG_NO_CHECKSUM):
    """A split snapshot with a small level-0 file over some of its pages, restored and
    compared with the pages it must give."""
    url, _path, pages = _snapshot_replica(tmp_path, flags=flags)
    r = ltx.open(url)
    change = {3: b"x" * PS} | {p: bytes([p]) * PS for p in range(61, 71)}
    r.append(change, 70)
    out = tmp_path / "out.db"
    ltx.open(url).restore(out)
    want = pages | change
    assert out.read_bytes() == b"".join(want[p] for p in range(1, 71))


def test_parallel_restore_with_level0_files_on_top(tmp_path, small_parts):
    _restore_with_level0_on_top(tmp_path)
    assert len(small_parts) == 1  # the level-0 file, small, streamed


@pytest.fixture
def in_processes(monkeypatch, small_parts):
    """Decode every split file in worker processes started with the default method; the
    list holds one entry per restore that went to the pool."""
    import ltx.restore._split

    monkeypatch.setattr(ltx.restore, "PROCESSES_ABOVE", 0)
    calls = []
    real = ltx.restore._split.PartPool

    def counting(context, *a):
        calls.append(context.get_start_method())
        return real(context, *a)

    monkeypatch.setattr(ltx.restore._split, "PartPool", counting)
    return calls


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_restore_in_processes_is_byte_identical(tmp_path, monkeypatch, in_processes, method):
    import multiprocessing

    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    monkeypatch.setattr(ltx.restore, "default_context", lambda: multiprocessing.get_context(method))
    _restore_with_level0_on_top(tmp_path, flags=0)
    assert in_processes == [method]


def _die(task):
    os._exit(3)  # a worker killed mid-restore (the OOM killer, a signal)


def test_a_dead_worker_hands_its_file_to_the_serial_decoder(
    tmp_path, monkeypatch, in_processes, small_parts
):
    import multiprocessing

    import ltx.restore._procs

    monkeypatch.setattr(ltx.restore, "default_context", lambda: multiprocessing.get_context("fork"))
    monkeypatch.setattr(ltx.restore._procs, "_run", _die)
    url, _path, pages = _snapshot_replica(tmp_path)
    out = tmp_path / "out.db"
    ltx.open(url).restore(out)
    assert out.read_bytes() == b"".join(pages[p] for p in sorted(pages))
    assert in_processes == ["fork"]
    assert len(small_parts) == 1  # the snapshot, decoded again by the streaming decoder


def _restore_to(url, out):
    ltx.open(url).restore(out)


def test_a_daemonic_process_restores_on_threads(tmp_path, in_processes):
    """A ``multiprocessing.Pool`` worker may not start children: no pool there."""
    import multiprocessing

    url, _path, pages = _snapshot_replica(tmp_path)
    out = tmp_path / "out.db"
    with multiprocessing.get_context("fork").Pool(1) as pool:  # inherits the patches
        pool.apply(_restore_to, (url, str(out)))
    assert out.read_bytes() == b"".join(pages[p] for p in sorted(pages))


def _outcome(url, out):
    try:
        ltx.open(url).restore(out, overwrite=True)
    except ltx.LTXError as exc:
        return type(exc), None
    return None, out.read_bytes()


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.data())
def test_a_flipped_byte_raises_what_the_serial_restore_raises(
    tmp_path, monkeypatch, in_processes, data
):
    if not (tmp_path / "rep").exists():
        _snapshot_replica(tmp_path, flags=0)
    path = tmp_path / "rep" / "ltx" / "9" / "0000000000000001-0000000000000001.ltx"
    pristine = tmp_path / "pristine.ltx"
    if not pristine.exists():
        pristine.write_bytes(path.read_bytes())
    raw = bytearray(pristine.read_bytes())
    at = data.draw(st.integers(0, len(raw) - 1), label="offset")
    raw[at] ^= data.draw(st.integers(1, 255), label="mask")
    path.write_bytes(raw)
    url = (tmp_path / "rep").as_uri()
    with monkeypatch.context() as m:
        m.setattr(ltx.restore, "PROCESSES_ABOVE", 1 << 40)
        threads = _outcome(url, tmp_path / "a.db")
    processes = _outcome(url, tmp_path / "c.db")  # PROCESSES_ABOVE 0: a pool per restore
    with monkeypatch.context() as m:
        m.setattr(ltx.restore, "SPLIT_ABOVE", 1 << 40)
        serial = _outcome(url, tmp_path / "b.db")
    assert threads == serial
    assert processes == serial


@pytest.mark.parametrize("where", ["header", "frame", "index", "trailer"])
def test_a_flipped_byte_in_spawned_workers_raises_what_the_serial_restore_raises(
    tmp_path, monkeypatch, in_processes, where
):
    import multiprocessing

    monkeypatch.setattr(
        ltx.restore, "default_context", lambda: multiprocessing.get_context("spawn")
    )
    _url, path, _pages = _snapshot_replica(tmp_path, flags=0)
    raw = bytearray(path.read_bytes())
    fi = read_file_index(lambda s, e: bytes(raw[s:e]), len(raw))
    data_end = fi.index.offsets[-1] + fi.index.sizes[-1]
    at = {"header": 30, "frame": fi.index.offsets[20] + 20, "index": data_end + 9}.get(
        where, len(raw) - 12
    )
    raw[at] ^= 0x41
    path.write_bytes(raw)
    url = (tmp_path / "rep").as_uri()
    processes = _outcome(url, tmp_path / "c.db")
    monkeypatch.setattr(ltx.restore, "SPLIT_ABOVE", 1 << 40)
    assert processes == _outcome(url, tmp_path / "b.db")
    assert processes[0] is not None
    if where in ("frame", "trailer"):  # a bad header or index already fails the plan
        assert in_processes == ["spawn"]


@settings(max_examples=200)
@given(st.integers(1, 40), st.booleans(), st.lists(st.integers(0, 45), max_size=30), st.booleans())
def test_pages_in_order_is_page_order_problem_along_the_run(commit, snapshot, tail, near_lock):
    ps = 65536  # lock page 16385, so runs can reach it
    base = 16385 - 20 if near_lock else 0
    pgnos = [*range(1, base + 1), *(base + p for p in tail)]
    header = Header(
        flags=0, page_size=ps, commit=base + commit, min_txid=1 if snapshot else 5, max_txid=5
    )
    one_by_one = all(
        header.page_order_problem(prev, p) is None
        for prev, p in zip([0, *pgnos], pgnos, strict=False)
    )
    assert header.pages_in_order(pgnos) == one_by_one


@given(st.lists(st.tuples(st.integers(1, 3), st.integers(13, 5000)), max_size=60))
def test_the_fast_index_decode_agrees_with_the_checked_loop(steps):
    from ltx.codec._page_index import PageIndex

    index, pgno, offset = PageIndex(), 0, HEADER_SIZE
    for gap, size in steps:
        pgno += gap
        index.append(pgno, offset, size)
        offset += size
    raw = index.encode()
    got, end = PageIndex.decode(raw, data_end=offset)
    assert got == index and end == len(raw) - 8 and got.encode() == raw


def test_parts_are_read_on_the_store_pool(tmp_path, small_parts, monkeypatch):
    import threading

    from ltx.storage import ObjectStore

    url, _path, pages = _snapshot_replica(tmp_path)
    readers: set[str] = set()
    real = ObjectStore.read_range

    def seen(self, path, start, end):
        readers.add(threading.current_thread().name)
        return real(self, path, start, end)

    monkeypatch.setattr(ObjectStore, "read_range", seen)
    out = tmp_path / "out.db"
    ltx.open(url, max_concurrency=3).restore(out)
    assert out.read_bytes() == b"".join(pages[p] for p in sorted(pages))
    parts = {name for name in readers if name != threading.current_thread().name}
    assert parts and all(name.startswith("ltx-store") for name in parts), readers


@pytest.mark.parametrize("replica_target", ["s3"], indirect=True)
def test_parallel_restore_over_s3_reads_parts_in_ranges(replica_target, tmp_path, small_parts):
    url, opts = replica_target
    _src_url, path, pages = _snapshot_replica(tmp_path, n_pages=80, flags=0)
    r = ltx.open(url, **opts)
    r.store.write(9, 1, 1, path, timestamp_ms=0)
    out = tmp_path / "s3.db"
    ltx.open(url, **opts).restore(out)
    assert out.read_bytes() == b"".join(pages[p] for p in sorted(pages))
    assert small_parts == []  # the snapshot came in parts, none handed back


@pytest.mark.parametrize("processes", [False, None])
def test_restore_file_takes_the_part_size_and_budget(tmp_path, small_parts, monkeypatch, processes):
    """``part`` and ``budget`` of ``restore_file`` override the store's defaults."""
    import ltx.restore._split
    from ltx.restore import restore_file

    monkeypatch.setattr(ltx.restore, "PROCESSES_ABOVE", 0)
    url, _path, pages = _snapshot_replica(tmp_path)
    sizes = []
    real = ltx.restore._split.split_file
    monkeypatch.setattr(
        ltx.restore._split, "split_file", lambda fi, part: sizes.append(part) or real(fi, part)
    )
    r = ltx.open(url)
    out = tmp_path / "out.db"
    src = r.source
    pm = r.view().page_map
    restore_file(src.store, pm, out, part=1500, budget=3000, processes=processes)
    assert out.read_bytes() == b"".join(pages[p] for p in sorted(pages))
    assert sizes == [1500] and small_parts == []
    with pytest.raises(UsageError, match="positive part size"):
        restore_file(src.store, pm, tmp_path / "bad.db", part=0)


@pytest.mark.parametrize("replica_target", ["s3"], indirect=True)
def test_a_remote_restore_decodes_on_threads_unless_given_a_context(
    replica_target, tmp_path, small_parts, monkeypatch
):
    """Remote parts decode on threads by default; a context still gets a pool, which is
    handed the fetched bytes (same output)."""
    import multiprocessing

    import ltx.restore._split
    from ltx.restore import restore_file

    monkeypatch.setattr(ltx.restore, "PROCESSES_ABOVE", 0)
    pools = []
    real = ltx.restore._split.PartPool
    monkeypatch.setattr(
        ltx.restore._split, "PartPool", lambda ctx, *a: pools.append(ctx) or real(ctx, *a)
    )
    url, opts = replica_target
    _src_url, path, pages = _snapshot_replica(tmp_path, n_pages=80, flags=0)
    ltx.open(url, **opts).store.write(9, 1, 1, path, timestamp_ms=0)
    want = b"".join(pages[p] for p in sorted(pages))
    ltx.open(url, **opts).restore(tmp_path / "threads.db")
    assert (tmp_path / "threads.db").read_bytes() == want and pools == []
    r = ltx.open(url, **opts)
    ctx = multiprocessing.get_context("forkserver")
    restore_file(r.source.store, r.view().page_map, tmp_path / "pool.db", processes=ctx)
    assert (tmp_path / "pool.db").read_bytes() == want and pools == [ctx]
    assert small_parts == []


def _valid_index(steps: list[tuple[int, int]]) -> bytes:
    from ltx.codec._page_index import PageIndex

    index, pgno, offset = PageIndex(), 0, HEADER_SIZE
    for gap, size in steps:
        pgno += gap
        index.append(pgno, offset, size)
        offset += size
    return index.encode()[:-8]


def _flipped(raw_at_mask: tuple[bytes, int, int]) -> bytes:
    raw, at, mask = raw_at_mask
    out = bytearray(raw)
    out[at % len(out)] ^= mask
    return bytes(out)


@settings(max_examples=400)
@given(
    st.lists(st.integers(0, 300), max_size=40).map(
        lambda xs: b"".join(encode_uvarint(x) for x in xs) + b"\0"
    )
    | st.binary(max_size=60)
    | st.tuples(
        st.lists(st.tuples(st.integers(1, 3), st.integers(12, 700)), min_size=1, max_size=12).map(
            _valid_index
        ),
        st.integers(0, 10_000),
        st.integers(0, 255),
    ).map(_flipped),
    st.sampled_from([None, 100, 400, 2000]) | st.integers(100, 9000),
    st.booleans(),
)
def test_the_fast_index_decode_accepts_what_the_checked_loop_accepts(raw, data_end, with_header):
    from ltx.codec import _page_index

    header = (
        Header(flags=0, page_size=512, commit=40, min_txid=3, max_txid=3) if with_header else None
    )

    def outcome(fast):
        real = _page_index._decode_fast
        _page_index._decode_fast = real if fast else (lambda *a: None)
        try:
            index, end = _page_index.PageIndex.decode(raw, data_end=data_end, header=header)
            return index, end
        except ltx.LTXError as exc:
            return type(exc)
        finally:
            _page_index._decode_fast = real

    assert outcome(True) == outcome(False)


@pytest.mark.parametrize(
    ("spec_name", "file", "safe"),
    [
        (None, "/home/me/script.py", False),  # a script: maybe no __main__ guard
        (None, None, True),  # interactive, python -c
        ("ltx.__main__", "/x/ltx/__main__.py", True),  # python -m ltx: not imported again
        ("tool.cli", "/x/tool/cli.py", False),  # python -m tool.cli: imported again
    ],
)
def test_spawn_only_where_the_main_module_cannot_run_again(monkeypatch, spec_name, file, safe):
    import importlib.machinery
    import sys
    import types

    from ltx.restore._procs import default_context, spawn_is_safe

    main = types.ModuleType("__main__")
    main.__spec__ = None if spec_name is None else importlib.machinery.ModuleSpec(spec_name, None)
    if file is not None:
        main.__file__ = file
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert spawn_is_safe() is safe
    monkeypatch.setattr(sys, "platform", "darwin")
    context = default_context()
    assert (context is not None and context.get_start_method() == "spawn") is safe


def test_fork_only_while_the_caller_runs_one_thread(monkeypatch):
    import sys
    import threading

    from ltx.restore._procs import default_context

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    context = default_context()
    assert context is not None and context.get_start_method() == "fork"
    monkeypatch.setattr(threading, "active_count", lambda: 3)  # an app's threads: no fork
    assert default_context() is None
