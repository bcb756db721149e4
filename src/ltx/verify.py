"""Verify a replica: is this backup really restorable?

Every file is read once, in parallel, through the verifying decoder (checksums, page
order, index); names must agree with headers, the page size must be constant, each
level's TXID chain contiguous, timestamps must not go backwards, checksums must chain
where files carry them (and agree across levels at one TXID), NoChecksum files must
carry no post-apply checksum (Go's ``Trailer.Validate``), the latest state must be
reachable and every point ``history()`` reports must plan. ``deep`` also replays the
database checksum through every checksum-tracked file (each file's pre- and post-apply
checksums against its pages), rebuilds the latest point and each snapshot into a temp
file (exactly as restore does) and runs SQLite's ``integrity_check`` and
``foreign_key_check`` on it.
"""

from __future__ import annotations

import itertools
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs

from ltx.codec import (
    SNAPSHOT_LEVEL,
    Decoder,
    FileInfo,
    Header,
    TrackedFile,
    checksum_page,
    compare_levels,
    format_txid,
    replay_checksums,
)
from ltx.errors import FormatError, LTXError, StorageError, UnsupportedFormatError
from ltx.resolve import PageMap, PageReader, Plan, check_header, plan_restore, restorable_points
from ltx.restore import restore_file
from ltx.storage import Store

__all__ = ["Problem", "Report", "VerifySource", "verify_files", "verify_replica"]

Progress = Callable[[int, int], None]


class VerifySource(Protocol):
    """What verifying needs of a replica (``ltx.Replica`` provides it)."""

    store: Store
    reader: PageReader

    def refresh(self) -> list[FileInfo]: ...

    def plan(self, txid: int | None = None) -> Plan: ...


@attrs.frozen
class Problem:
    """One thing wrong with a replica: what kind, where (file, offset) and a message."""

    kind: str
    message: str
    path: str | None = None
    offset: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return attrs.asdict(self)


@attrs.frozen
class Report:
    """The outcome of verifying one replica; ``ok`` only when nothing was found."""

    url: str
    files: int
    points: int
    problems: tuple[Problem, ...]
    deep: bool = False

    @property
    def ok(self) -> bool:
        """True when the replica is clean."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with every problem."""
        return {
            "url": self.url,
            "ok": self.ok,
            "files": self.files,
            "points": self.points,
            "deep": self.deep,
            "problems": [p.to_json() for p in self.problems],
        }


@attrs.frozen
class _Checked:
    """What verifying one file found: its header, trailer's post-apply checksum and, for
    a deep look at a checksum-tracked file, its page checksums."""

    header: Header
    post_apply: int
    pages: dict[int, int] | None = None


def _check_file(store: Store, f: FileInfo, deep: bool = False) -> _Checked | Problem:
    """Read one file whole through the verifying decoder."""
    try:
        with store.open_reader(f) as fp:
            dec = Decoder(fp, name=f.path)
            if deep and not dec.header.no_checksum:
                pages = {ph.pgno: checksum_page(ph.pgno, data) for ph, data in dec}
                trailer = dec.verify()
            else:
                pages, trailer = None, dec.verify()
        check_header(f, dec.header)
        return _Checked(dec.header, trailer.post_apply_checksum, pages)
    except UnsupportedFormatError as exc:
        return Problem("unsupported", f"{exc.what}: {exc.message}", exc.path or f.path, exc.offset)
    except FormatError as exc:
        return Problem("format", exc.message, exc.path or f.path, exc.offset)
    except StorageError as exc:
        return Problem("storage", str(exc), f.path)


def _pair_problems(
    prev: FileInfo, cur: FileInfo, a: _Checked | None, b: _Checked | None
) -> list[Problem]:
    """What is wrong between two neighbours of one level's chain."""
    out = []
    if cur.min_txid != prev.max_txid + 1:
        lo, hi = prev.max_txid + 1, cur.min_txid - 1
        what = f"missing TXIDs {format_txid(lo)}-{format_txid(hi)}" if lo <= hi else "overlap"
        out.append(Problem("chain", f"level {cur.level}: {what} before this file", cur.path))
        return out
    if a is None or b is None:
        return out
    if b.header.timestamp < a.header.timestamp:
        out.append(Problem("time", f"timestamp goes backwards after {prev.path}", cur.path))
    tracked = not (a.header.no_checksum or b.header.no_checksum)
    if tracked and b.header.pre_apply_checksum != a.post_apply:
        message = f"pre-apply checksum breaks after {prev.path}"
        out.append(Problem("checksum", message, cur.path))
    return out


def _chains(files: Sequence[FileInfo], checked: dict[str, _Checked]) -> list[Problem]:
    """Per level 0..8: contiguous TXIDs, time order, checksums chaining where present.

    A gap a file of another level bridges (a snapshot, or a compaction, ending just
    before it) is how restores continue there, not a problem.
    """
    out: list[Problem] = []
    for level in sorted({f.level for f in files} - {SNAPSHOT_LEVEL}):
        chain = sorted((f for f in files if f.level == level), key=lambda f: f.sort_key)
        bridges = {f.max_txid for f in files if f.level != level}
        for prev, cur in itertools.pairwise(chain):
            if cur.min_txid > prev.max_txid + 1 and cur.min_txid - 1 in bridges:
                continue
            out += _pair_problems(prev, cur, checked.get(prev.path), checked.get(cur.path))
    return out


def _checksums(files: Sequence[FileInfo], checked: dict[str, _Checked]) -> list[Problem]:
    """Tracked files agree across levels; with their pages read, the replay holds."""
    tracked = [
        TrackedFile(f, c.header, c.post_apply, c.pages)
        for f in files
        if (c := checked.get(f.path)) is not None and not c.header.no_checksum
    ]
    found = compare_levels(tracked)
    if any(t.pages is not None for t in tracked):
        found += replay_checksums(tracked)
    return [Problem("checksum", x.message, x.path) for x in found]


def _page_sizes(checked: dict[str, _Checked]) -> list[Problem]:
    sizes: dict[int, str] = {}
    for path, c in checked.items():
        sizes.setdefault(c.header.page_size, path)
    if len(sizes) <= 1:
        return []
    first = min(sizes)
    return [
        Problem("page_size", f"page size {ps} differs from {first} ({sizes[first]})", path)
        for ps, path in sizes.items()
        if ps != first
    ]


def _reachability(files: Sequence[FileInfo]) -> tuple[int, list[Problem]]:
    """The points history() reports must plan; the newest TXID must be reachable."""
    out: list[Problem] = []
    points = restorable_points(files)
    newest = max((f.max_txid for f in files), default=0)
    reached = max((p.txid for p in points), default=0)
    if newest and reached < newest:
        out.append(
            Problem(
                "chain",
                f"latest state {format_txid(newest)} is unreachable: no chain of files covers "
                f"TXIDs {format_txid(reached + 1)}-{format_txid(newest)}",
            )
        )
    for p in points:
        try:
            plan_restore(files, txid=p.txid)
        except LTXError as exc:
            out.append(Problem("plan", f"point {format_txid(p.txid)} does not plan: {exc}"))
    return len(points), out


def _integrity(path: Path) -> list[str]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = [row[0] for row in con.execute("PRAGMA integrity_check") if row[0] != "ok"]
        found += [f"foreign key: {row}" for row in con.execute("PRAGMA foreign_key_check")]
        return found
    finally:
        con.close()


def _deep(store: Store, maps: Sequence[PageMap]) -> list[Problem]:
    """Rebuild each point into a temp file and ask SQLite whether it is sound."""
    out = []
    with tempfile.TemporaryDirectory(prefix="ltx-verify-") as tmp:
        for pm in maps:
            db = Path(tmp) / f"{pm.txid:016x}.db"
            try:
                restore_file(store, pm, db, overwrite=True)
                bad = _integrity(db)
            except (LTXError, sqlite3.DatabaseError) as exc:
                bad = [str(exc)]
            out += [Problem("integrity", f"at TXID {pm.txid:016x}: {b}") for b in bad[:20]]
            db.unlink(missing_ok=True)
    return out


def verify_files(
    store: Store,
    files: Sequence[FileInfo],
    *,
    deep_maps: Callable[[], Sequence[PageMap]] | None = None,
    progress: Progress | None = None,
) -> Report:
    """Verify the listed ``files`` of ``store``; ``deep_maps`` gives the points to rebuild."""
    done = 0
    lock = threading.Lock()

    def one(f: FileInfo) -> _Checked | Problem:
        nonlocal done
        got = _check_file(store, f, deep_maps is not None)
        with lock:
            done += 1
            if progress is not None:
                progress(done, len(files))
        return got

    results = store.map(one, files)
    checked = {f.path: r for f, r in zip(files, results, strict=True) if isinstance(r, _Checked)}
    problems = [r for r in results if isinstance(r, Problem)]
    problems += _page_sizes(checked) + _chains(files, checked) + _checksums(files, checked)
    points, reach = _reachability(files)
    problems += reach
    if deep_maps is not None and not problems:
        problems += _deep(store, deep_maps())
    return Report(store.url, len(files), points, tuple(problems), deep=deep_maps is not None)


def verify_replica(
    source: VerifySource, *, deep: bool = False, progress: Progress | None = None
) -> Report:
    """List the replica afresh and verify it; ``deep`` rebuilds the latest point and each
    snapshot; an empty replica is a problem that says what was looked for."""
    files = source.refresh()
    if not files:
        problem = Problem("empty", source.store.explain_empty())
        return Report(source.store.url, 0, 0, (problem,), deep=deep)

    def maps() -> list[PageMap]:
        snaps = [f.max_txid for f in files if f.level == SNAPSHOT_LEVEL]
        return [source.reader.page_map(source.plan(t)) for t in dict.fromkeys([None, *snaps])]

    return verify_files(source.store, files, deep_maps=maps if deep else None, progress=progress)
