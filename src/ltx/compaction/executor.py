"""Runs compaction steps against a replica: streaming merges, verified before anything goes.

Each output is built in a temp file (memory: the output's page index plus one page per
input), uploaded atomically, read back and verified; deletions only follow in later
steps, so a crash at any storage call leaves a restorable replica and a rerun of the
planner finishes the work.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, cast

from ltx.codec import (
    SNAPSHOT_LEVEL,
    Decoder,
    FileInfo,
    Header,
    compact,
)
from ltx.compaction.planner import CompactStep, DeleteStep, SnapshotStep, Step
from ltx.errors import FormatError
from ltx.storage import Store
from ltx.times import ms_to_datetime

__all__ = ["merge_files", "run_steps", "STALE_TEMP_AGE"]

STALE_TEMP_AGE = dt.timedelta(hours=1)
"""Temp files of interrupted uploads older than this are removed by the next run."""


def merge_files(
    store: Store,
    inputs: Sequence[FileInfo],
    level: int,
    *,
    timestamp_ms: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    check: Callable[[], None] | None = None,
) -> FileInfo:
    """Compact ``inputs`` into one file at ``level``, upload it, verify it; return its info.
    ``check()`` runs before each read of an input: it raises to abandon the merge."""
    # Buffers per input shrink as inputs grow: about 16 MiB in all, 16 KiB at least.
    chunk = max(16 << 10, min(4 << 20, (16 << 20) // len(inputs)))
    ahead = 1 if len(inputs) <= 8 else 0
    with contextlib.ExitStack() as stack:
        readers: list[BinaryIO] = [
            stack.enter_context(store.open_reader(f, chunk=chunk, ahead=ahead)) for f in inputs
        ]
        if check is not None:
            readers = [cast(BinaryIO, _Checked(r, check)) for r in readers]
        fd, tmp = tempfile.mkstemp(prefix="ltx-compact-", suffix=".ltx")
        stack.callback(_remove, tmp)
        with os.fdopen(fd, "wb") as out:
            header, trailer = compact(
                readers,
                out,
                names=[f.path for f in inputs],
                timestamp=timestamp_ms,
                progress=progress,
                read_size=min(chunk, 1 << 16),
            )
        info = store.write(
            level, header.min_txid, header.max_txid, Path(tmp), timestamp_ms=header.timestamp
        )
    verify_file(store, info, header, trailer.file_checksum)
    return info


class _Checked(io.RawIOBase):
    """An input whose every read first runs ``check`` (which raises to abandon)."""

    def __init__(self, raw: BinaryIO, check: Callable[[], None]) -> None:
        super().__init__()
        self._raw, self._check = raw, check

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        self._check()
        data = self._raw.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def _remove(path: str) -> None:
    if os.path.exists(path):
        os.unlink(path)


def verify_file(store: Store, info: FileInfo, expected: Header, checksum: int) -> None:
    """Read a written file back through the verifying decoder and compare with what we wrote."""
    with store.open_reader(info) as fp:
        dec = Decoder(fp, name=info.path)
        trailer = dec.verify()
    if dec.header != expected or trailer.file_checksum != checksum:
        raise FormatError("written file does not read back as written", path=info.path)


def run_steps(
    store: Store,
    steps: Sequence[Step],
    *,
    snapshot_inputs: Callable[[int], Iterable[FileInfo]],
    now_ms: int,
    progress: Callable[[int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
    check: Callable[[], None] | None = None,
) -> list[FileInfo]:
    """Run ``steps`` in order against ``store``; return the files written.

    ``snapshot_inputs(txid)`` gives the files a snapshot at ``txid`` is built from (the
    restore plan, listed after the earlier steps ran); ``now_ms`` stamps snapshots and
    dates the temp files of killed earlier runs: those older than an hour are removed.
    ``check()`` runs before each step and each input a merge opens; it raises to abandon
    the run (each output is created whole or not at all, so nothing is left half-done).
    """
    store.remove_stale_temps(ms_to_datetime(now_ms) - STALE_TEMP_AGE)
    written: list[FileInfo] = []
    for step in steps:
        if check is not None:
            check()
        if log is not None:
            log(step.describe())
        if isinstance(step, CompactStep):
            # Inputs made by an earlier step of this plan exist only now: list them.
            listed = {f.sort_key: f for f in store.list_level(step.level - 1)}
            inputs = [listed.get(f.sort_key, f) for f in step.inputs]
            written.append(merge_files(store, inputs, step.level, progress=progress, check=check))
        elif isinstance(step, SnapshotStep):
            inputs = list(snapshot_inputs(step.max_txid))
            written.append(
                merge_files(
                    store,
                    inputs,
                    SNAPSHOT_LEVEL,
                    timestamp_ms=now_ms,
                    progress=progress,
                    check=check,
                )
            )
        elif isinstance(step, DeleteStep):
            store.delete(step.files)
    return written
