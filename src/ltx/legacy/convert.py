"""Rewrite a Litestream 0.3 replica (or the 0.3 half of a mixed one) as an LTX replica.

Every point 0.3.13 can restore (``history``: one per WAL segment a time can select)
becomes one LTX TXID. TXIDs run 1..N over all generations in time order, so they are
contiguous and rise with time, which is what 0.5.17's ``-timestamp`` restore needs
(it takes the newest snapshot created before T, then level-0 files in TXID order).
A point whose restore starts from a 0.3 snapshot (the first of each generation, and
wherever a newer 0.3 snapshot takes over) becomes a level-9 snapshot ``1..k``; every
other point a level-0 file ``k..k`` holding the pages its segments changed. Each file
carries the 0.3 point's creation time, in its header and as the store's timestamp
(file mtime, S3 metadata), truncated to the millisecond, so ``litestream restore
-timestamp`` 0.5.17 and ``ltx`` restore every 0.3 point of the result at the times
0.3.13 restored it (give or take that millisecond).

One more file, a level-1 copy of the last point's changes dated 1 ms after it, keeps
the last point restorable by ``-timestamp`` too: 0.5.17 takes files created strictly
before T and refuses a T past its newest file, so without a later file the newest
point would only be reachable as "latest".

Resumable: the destination is listed first; files already there (same name, same
header time) are kept, anything else there is refused. ``dry_run`` only plans.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import attrs

from ltx.codec import (
    HEADER_FLAG_NO_CHECKSUM,
    HEADER_SIZE,
    SNAPSHOT_LEVEL,
    Encoder,
    Header,
    encode_pages,
    format_filename,
)
from ltx.errors import ConflictError
from ltx.storage import Store, open_store

from ._apply import write_database
from ._plan import PointCut, point_cuts
from ._replay import Replay
from .source import LegacySource, legacy_txid

__all__ = ["ConvertReport", "ConvertStep", "convert", "plan_convert"]

Progress = Callable[[int, int], None]


@attrs.frozen
class ConvertStep:
    """One LTX file of the conversion and the 0.3 point it rebuilds."""

    level: int
    min_txid: int
    max_txid: int
    timestamp_ms: int
    generation: str
    position: int
    time_ns: int

    @property
    def legacy_txid(self) -> int:
        """The point's TXID in ``LegacySource.history()``."""
        return legacy_txid(self.generation, self.position)

    @property
    def name(self) -> str:
        """``<level>/<min>-<max>.ltx``, for messages."""
        return f"{self.level}/{format_filename(self.min_txid, self.max_txid)}"


@attrs.frozen
class ConvertReport:
    """The plan, and what a run did: files written and files found already there."""

    steps: tuple[ConvertStep, ...]
    written: int
    skipped: int
    dry_run: bool
    destination: str

    @property
    def txids(self) -> Mapping[int, int]:
        """0.3 TXID (``legacy_txid``) -> LTX TXID of the same point."""
        return {s.legacy_txid: s.max_txid for s in self.steps}


def _continues(prev: PointCut | None, cut: PointCut) -> bool:
    """True when ``cut`` extends ``prev``'s restore (same snapshot, more segments)."""
    return (
        prev is not None
        and prev.point.generation == cut.point.generation
        and prev.snapshot == cut.snapshot
        and cut.end >= prev.end
    )


def plan_convert(cuts: Sequence[PointCut]) -> list[ConvertStep]:
    """One step per point (TXIDs 1..N in the given, time, order): level 9 where a restore
    starts from a 0.3 snapshot, level 0 where it extends the previous point's; then the
    level-1 end marker (N..N, 1 ms after the last point)."""
    steps = []
    prev = None
    for txid, cut in enumerate(cuts, 1):
        level = 0 if _continues(prev, cut) else SNAPSHOT_LEVEL
        p = cut.point
        lo = txid if level == 0 else 1
        steps.append(
            ConvertStep(
                level, lo, txid, p.time_ns // 1_000_000, p.generation, p.position, p.time_ns
            )
        )
        prev = cut
    if steps:
        last = steps[-1]
        n, ms = last.max_txid, last.timestamp_ms + 1
        steps.append(ConvertStep(1, n, n, ms, last.generation, last.position, last.time_ns))
    return steps


def _header_times(store: Store, paths: Sequence[str]) -> list[int]:
    raw = store.read_ranges([(p, 0, HEADER_SIZE) for p in paths])
    return [Header.from_bytes(r, validate=False).timestamp for r in raw]


def _present(store: Store, steps: Sequence[ConvertStep]) -> set[int]:
    """Indexes of steps already written; ConflictError when the destination holds other
    LTX files (another conversion, another replica) or the same names with other times."""
    planned = {(s.level, s.min_txid, s.max_txid): i for i, s in enumerate(steps)}
    files = store.list_files()
    foreign = [f for f in files if (f.level, f.min_txid, f.max_txid) not in planned]
    if foreign:
        raise ConflictError(
            f"{foreign[0].path} is not part of this conversion: convert into an empty "
            "location (or the one an interrupted run of the same conversion left)",
            url=store.url,
        )
    found = {planned[(f.level, f.min_txid, f.max_txid)]: f for f in files}
    times = _header_times(store, [f.path for f in found.values()])
    for (i, f), ms in zip(found.items(), times, strict=True):
        if ms != steps[i].timestamp_ms:
            raise ConflictError(
                f"{f.path} was written by another conversion (header time {ms}, "
                f"expected {steps[i].timestamp_ms})",
                url=store.url,
            )
    return set(found)


def _write(store: Store, step: ConvertStep, data: bytes | os.PathLike[str]) -> bool:
    """Write one file unless it exists; True if written. A file that appeared meanwhile
    must carry the same time (a concurrent run of the same conversion)."""
    try:
        store.write(
            step.level,
            step.min_txid,
            step.max_txid,
            data,
            timestamp_ms=step.timestamp_ms,
            if_absent=True,
        )
    except ConflictError:
        path = store.file_path(step.level, step.min_txid, step.max_txid)
        if _header_times(store, [path]) != [step.timestamp_ms]:
            raise
        return False
    return True


def _header(replay: Replay, step: ConvertStep) -> Header:
    return Header(
        flags=HEADER_FLAG_NO_CHECKSUM,
        page_size=replay.page_size,
        commit=replay.count,
        min_txid=step.min_txid,
        max_txid=step.max_txid,
        timestamp=step.timestamp_ms,
    )


def _write_full(store: Store, replay: Replay, cut: PointCut, step: ConvertStep) -> bool:
    """Every page of the current state in one file (level 9, or the end marker when the
    last point starts a route), encoded through temp files."""
    pm = replay.pages(cut.plan())
    header = _header(replay, step)
    with tempfile.TemporaryDirectory(prefix="ltx-convert-") as tmp:
        db, out = Path(tmp) / "db", Path(tmp) / "snapshot.ltx"
        with open(db, "w+b") as fh, open(out, "wb") as fo:
            write_database(pm, replay.open_object, fh)
            fh.seek(0)
            enc = Encoder(fo, header)
            for pgno in range(1, header.commit + 1):
                page = fh.read(header.page_size)
                if pgno != header.lock_pgno:
                    enc.write_page(pgno, page)
            enc.close()
        return _write(store, step, out)


def _run_route(
    source: LegacySource,
    store: Store,
    cuts: Sequence[PointCut],
    steps: Sequence[ConvertStep],
    skip: Sequence[bool],
    tick: Callable[[bool], None],
) -> None:
    """Replay one route (a snapshot and the points extending it) and write its files; the
    end marker, if ``steps`` has it, last."""
    first = cuts[0]
    replay = Replay(first.snapshot, source.open_object)
    for seg in first.segments[first.first : first.end]:
        replay.advance(seg)
    tick(not skip[0] and _write_full(store, replay, first, steps[0]))
    end, pages = first.end, None
    for i, cut in enumerate(cuts[1:], 1):
        step = steps[i]
        changed: dict[int, bytes] = {}
        for seg in cut.segments[end : cut.end]:
            changed.update(replay.advance(seg).pages)
        end = cut.end
        pages = {p: d for p, d in changed.items() if p <= replay.count} or replay.read([1])
        tick(not skip[i] and _write(store, step, encode_pages(_header(replay, step), pages)))
    if len(steps) == len(cuts) + 1:
        marker = steps[-1]
        if skip[-1]:
            tick(False)
        elif pages is None:
            tick(_write_full(store, replay, cuts[-1], marker))
        else:
            tick(_write(store, marker, encode_pages(_header(replay, marker), pages)))


def convert(
    src: Store | LegacySource,
    dst: str | Store,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    age_identity: str | Sequence[str] | None = None,
) -> ConvertReport:
    """Rewrite the 0.3 replica at ``src`` (its ``generations/``) as LTX files at ``dst``.

    ``dst`` is a Store or a URL (opened without the environment: pass a Store for
    credentials from ``LITESTREAM_*``/``AWS_*``). ``progress(done, total)`` counts files.
    ``age_identity`` decrypts an encrypted 0.3 replica (when ``src`` is a Store).
    """
    source = LegacySource(src, age_identity=age_identity) if isinstance(src, Store) else src
    cuts = point_cuts(source.refresh())
    steps = plan_convert(cuts)
    store = dst if isinstance(dst, Store) else open_store(dst)
    present = _present(store, steps)
    if dry_run:
        return ConvertReport(tuple(steps), 0, len(present), True, store.url)
    counts = [0, 0]  # written, skipped

    def tick(wrote: bool) -> None:
        counts[0 if wrote else 1] += 1
        if progress is not None:
            progress(sum(counts), len(steps))

    starts = [i for i, s in enumerate(steps) if s.level == SNAPSHOT_LEVEL] + [len(cuts)]
    for a, b in itertools.pairwise(starts):
        last = b == len(cuts)
        mine = steps[a:] if last else steps[a:b]  # the last route also writes the marker
        skip = [i in present for i in range(a, a + len(mine))]
        if all(skip):
            for _ in mine:
                tick(False)
            continue
        _run_route(source, store, cuts[a:b], mine, skip, tick)
    return ConvertReport(tuple(steps), counts[0], counts[1], False, store.url)
