"""What a task already knows about its replica: discovery's listing, and the points it needs.

Discovery lists every object under the prefix in one walk; each ``Root`` carries its
own files from it, so verify-quick and drill need not list the root again (two
requests per replica on S3: the root, then its level folder). The rule that keeps
verdicts right:

* the listing is used only for an LTX root (no ``generations/``: 0.3 and mixed roots
  list afresh) and only while younger than ``Options.listing_max_age`` seconds,
  counted from when the discovery walk started;
* a verdict made from it stands only when it is ``healthy``; any reason (a file gone
  since, a gap, corruption, staleness) makes the task list the root again and decide
  from that fresh listing, so every unhealthy verdict names files that exist now;
* a ``healthy`` verdict from it says: every file listed at ``listed_at`` was read
  afterwards and checks out (files written since are not seen: the RPO is then
  overstated, never understated).
"""

from __future__ import annotations

import time

from ltx.codec import FileInfo
from ltx.fleet._discover import Root
from ltx.replica import Replica
from ltx.resolve import RestorePoint, restorable_points

__all__ = ["handed_files", "points"]


def handed_files(
    target: str | Root, replica: Replica, max_age: float, now: float | None = None
) -> list[FileInfo] | None:
    """The LTX files discovery saw for ``target`` when it may stand in for a listing of
    ``replica`` (an LTX root listed less than ``max_age`` seconds ago), else None."""
    if not isinstance(target, Root) or target.kind != "ltx" or target.listed_at is None:
        return None
    age = (time.time() if now is None else now) - target.listed_at
    if not 0 <= age < max_age:
        return None
    files = replica.store.files_in(target.listing)
    return files or None


def points(replica: Replica) -> list[RestorePoint]:
    """The restorable points, oldest first. On an LTX root only the first and the last
    carry exact times (S3: a HEAD for each file ending there); the points between keep
    the listing's times: a fleet verdict reads the first and the last only."""
    if replica.kind != "ltx":
        return list(replica.history())
    files = replica.files()
    if not files:
        return list(replica.history())  # raises NotFoundError saying what was looked for
    rough = restorable_points(files)
    if not rough:
        return []
    ends = {rough[0].txid, rough[-1].txid}
    exact = {f.path: f for f in replica.store.exact_times([f for f in files if f.max_txid in ends])}
    return restorable_points([exact.get(f.path, f) for f in files])
