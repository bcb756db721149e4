"""The database checksum along a replica's checksum-tracked files (sans-I/O).

A tracked file states the database checksum before it applies (header) and after
(trailer). Files ending at one TXID in different levels must state the same
post-apply checksum; and replaying page checksums from the empty database or a
snapshot through each file in TXID order must give both of each file's checksums.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import attrs

from ltx.codec._checksum import CHECKSUM_FLAG
from ltx.codec._fileinfo import SNAPSHOT_LEVEL, FileInfo
from ltx.codec._values import Header

__all__ = ["TrackedFile", "ChainFinding", "compare_levels", "replay_checksums"]


@attrs.frozen
class TrackedFile:
    """A checksum-tracked file as read whole: ``pages`` maps pgno to its page checksum
    (None when the pages were not read)."""

    info: FileInfo
    header: Header
    post_apply: int
    pages: Mapping[int, int] | None = None


@attrs.frozen
class ChainFinding:
    """A checksum the bytes disprove: which file, at which TXID, expected versus found."""

    path: str
    txid: int
    what: str
    expected: int
    found: int

    @property
    def message(self) -> str:
        """One line naming the TXID, the checksum and both values."""
        return (
            f"TXID {self.txid:016x}: {self.what} checksum {self.found:016x}, "
            f"expected {self.expected:016x}"
        )


def compare_levels(files: Iterable[TrackedFile]) -> list[ChainFinding]:
    """Files ending at one TXID must agree on the post-apply checksum.

    The reference is the snapshot there (its pages prove its checksum), else the file
    of the lowest level.
    """
    by_txid: dict[int, list[TrackedFile]] = {}
    for f in files:
        by_txid.setdefault(f.info.max_txid, []).append(f)
    out = []
    for txid, group in sorted(by_txid.items()):
        group.sort(key=lambda f: (f.info.level != SNAPSHOT_LEVEL, f.info.level))
        ref = group[0]
        for f in group[1:]:
            if f.post_apply != ref.post_apply:
                what = f"post-apply (level {f.info.level} against level {ref.info.level})"
                out.append(ChainFinding(f.info.path, txid, what, ref.post_apply, f.post_apply))
    return out


class _State:
    """Page checksums of the database at one TXID, and their XOR."""

    __slots__ = ("commit", "pages", "value")

    def __init__(self, pages: Mapping[int, int], value: int, commit: int) -> None:
        self.pages = dict(pages)
        self.value = value
        self.commit = commit

    def copy(self) -> _State:
        return _State(self.pages, self.value, self.commit)

    def apply(self, f: TrackedFile, out: list[ChainFinding]) -> None:
        """Apply ``f``'s pages, checking both of its checksums against the replay."""
        hdr, path = f.header, f.info.path
        if hdr.is_snapshot:  # starts at TXID 1: the whole database, no pre-apply checksum
            self.pages, self.value, self.commit = {}, CHECKSUM_FLAG, 0
        elif hdr.pre_apply_checksum != self.value:
            found = hdr.pre_apply_checksum
            out.append(ChainFinding(path, f.info.min_txid - 1, "pre-apply", self.value, found))
        value = self.value
        assert f.pages is not None
        for pgno, checksum in f.pages.items():
            value ^= self.pages.get(pgno, 0) ^ checksum
            self.pages[pgno] = checksum
        if hdr.commit < self.commit:
            for pgno in [p for p in self.pages if p > hdr.commit]:
                value ^= self.pages.pop(pgno)
        self.value, self.commit = value | CHECKSUM_FLAG, hdr.commit
        if f.post_apply != self.value:
            out.append(ChainFinding(path, f.info.max_txid, "post-apply", self.value, f.post_apply))


def replay_checksums(files: Sequence[TrackedFile]) -> list[ChainFinding]:
    """Replay the database checksum through every tracked file whose pages were read.

    The walk starts from the empty database (TXID 0) and goes through the file of the
    lowest level starting at each next TXID; a file of another level starting there is
    replayed from a copy of the state and compared where the walk reaches its end. A
    snapshot the walk reaches must agree with it; where no file continues, the walk
    resumes at the next snapshot.
    """
    out: list[ChainFinding] = []
    snaps = {f.info.max_txid: f for f in files if f.info.level == SNAPSHOT_LEVEL and f.pages}
    starts: dict[int, list[TrackedFile]] = {}
    for f in sorted(files, key=lambda f: f.info.level):
        if f.info.level != SNAPSHOT_LEVEL and f.pages is not None:
            starts.setdefault(f.info.min_txid, []).append(f)
    state: _State | None = _State({}, CHECKSUM_FLAG, 0)
    ends: dict[int, list[tuple[TrackedFile, int]]] = {}
    txid = 0
    while True:
        snap = snaps.get(txid)
        if snap is not None:
            if state is not None and state.value != snap.post_apply:
                what = "replayed (snapshot against the files before it)"
                out.append(ChainFinding(snap.info.path, txid, what, state.value, snap.post_apply))
            assert snap.pages is not None
            state = _State(snap.pages, snap.post_apply, snap.header.commit)
        for f, value in ends.pop(txid, []):
            if state is not None and value != state.value:
                what = f"replayed post-apply (level {f.info.level} against the walk)"
                out.append(ChainFinding(f.info.path, txid, what, state.value, value))
        nexts = starts.get(txid + 1, [])
        if state is None or not nexts:
            txid = min((t for t in snaps if t > txid), default=0)
            if not txid:
                return out
            state = None
            continue
        for f in nexts[1:]:
            fork = state.copy()
            fork.apply(f, out)
            ends.setdefault(f.info.max_txid, []).append((f, fork.value))
        state.apply(nexts[0], out)
        txid = nexts[0].info.max_txid
