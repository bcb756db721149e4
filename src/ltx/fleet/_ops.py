"""Fleet operations: each a pure function of (replica URL, options) -> Verdict.

Nothing here knows which executor runs it. Every failure becomes a verdict (the
others carry on), and messages are scrubbed of the secrets the URL or the storage
options carry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from ltx.compaction import CompactStep, DeleteStep, LevelsConfig, SnapshotStep
from ltx.errors import StorageError
from ltx.fleet._discover import Root
from ltx.fleet._listing import handed_files, points
from ltx.fleet._verdict import Reason, Verdict, classify_error, worst
from ltx.replica import Replica
from ltx.resolve import RestorePoint
from ltx.storage import RetryPolicy, open_store, redact
from ltx.times import UTC, format_timestamp
from ltx.verify import verify_files

__all__ = ["Options", "compact", "drill", "run_op", "verify"]

_SECRET_KEYS = ("key", "secret", "token", "password", "credential", "sas", "passphrase", "auth")


@attrs.frozen
class Options:
    """What an operation needs besides the URL (JSON-ready, so it ships to workers).

    ``stale_after`` (seconds): a newest point older than this is ``stale``.
    ``now`` (epoch seconds): the clock for RPO, staleness and retention (default: now).
    ``probe``: a read-only SQL query the drill runs on the restored database.
    ``timeout`` (seconds): give up on a storage call after this long, retries included.
    ``listing_max_age`` (seconds): verify-quick and drill reuse a ``Root``'s listing from
    discovery while it is younger than this (0: always list again; see ``_listing``).
    Stats: ``levels`` (L1.. intervals in seconds; default Litestream's) and, to
    project, ``writes_per_second``, ``bytes_per_write`` and ``days``.
    """

    deep: bool = False
    stale_after: float | None = None
    now: float | None = None
    probe: str | None = None
    levels: tuple[float, ...] | None = None
    snapshot_interval: float = 86400.0
    snapshot_retention: float = 86400.0
    l0_retention: float = 300.0
    writes_per_second: float | None = None
    bytes_per_write: int | None = None
    days: float = 30.0
    dry_run: bool = False
    timeout: float = 120.0
    listing_max_age: float = 600.0

    def clock(self) -> dt.datetime:
        """``now`` as an aware datetime."""
        return dt.datetime.fromtimestamp(time.time() if self.now is None else self.now, UTC)

    def config(self) -> LevelsConfig:
        """The LevelsConfig these options describe."""
        base = LevelsConfig.default()
        levels = (
            base.intervals
            if self.levels is None
            else tuple(dt.timedelta(seconds=s) for s in self.levels)
        )
        return LevelsConfig(
            levels,
            snapshot_interval=dt.timedelta(seconds=self.snapshot_interval),
            snapshot_retention=dt.timedelta(seconds=self.snapshot_retention),
            l0_retention=dt.timedelta(seconds=self.l0_retention),
        )


def iso(when: dt.datetime) -> str:
    """RFC 3339 with milliseconds, as Litestream prints times."""
    return format_timestamp(int(when.timestamp() * 1000))


def secrets_of(url: str, storage_options: Mapping[str, Any]) -> list[str]:
    """The strings that must never be printed: user info and masked query values of the
    URL, and storage options whose names say they are credentials."""
    out: list[str] = []
    for k, v in storage_options.items():
        if any(s in k.lower() for s in _SECRET_KEYS):
            out += [str(x) for x in v] if isinstance(v, tuple | list) else [str(v)]
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        out += [parts.password, urllib.parse.unquote(parts.password)]
    shown = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(redact(url)).query))
    for k, v in urllib.parse.parse_qsl(parts.query):
        if shown.get(k) == "***":
            out.append(v)
    return sorted({s for s in out if len(s) >= 3}, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every secret replaced by ``***``."""
    for s in secrets:
        text = text.replace(s, "***")
    return text


@attrs.define
class Found:
    """What an operation body found: reasons, details, file counts."""

    reasons: list[Reason] = attrs.field(factory=list)
    detail: dict[str, Any] = attrs.field(factory=dict)
    files: int = 0
    bytes: int = 0
    newest: tuple[int, dt.datetime] | None = None
    handed: bool = False  # the body works from discovery's listing (see _listing)
    points: list[RestorePoint] | None = None
    requests: int = 0


Body = Callable[[Replica, Options, Found], None]


def points_of(replica: Replica, found: Found) -> list[RestorePoint]:
    """The replica's restorable points, found once per attempt."""
    if found.points is None:
        found.points = points(replica)
    return found.points


def _newest(replica: Replica, found: Found) -> None:
    files = replica.files()
    found.files, found.bytes = len(files), sum(f.size for f in files)
    got = points_of(replica, found)
    if got:
        found.newest = (got[-1].txid, got[-1].created_at)
        found.detail["oldest_txid"] = got[0].txid
        found.detail["oldest_at"] = iso(got[0].created_at)


def _attempt(
    body: Body,
    target: str | Root,
    options: Options,
    storage_options: Mapping[str, Any],
    reuse: bool,
) -> Found:
    """One go at a replica: open it, run ``body`` (from discovery's listing when ``reuse``
    and it is fresh), find its newest point and whether that is stale."""
    found = Found()
    url = target.url if isinstance(target, Root) else target
    replica: Replica | None = None
    try:
        store = open_store(url, retry=RetryPolicy(deadline=options.timeout), **storage_options)
        inner = store.call

        def counted(fn: Callable[[], Any], what: str) -> Any:
            found.requests += 1
            return inner(fn, what)

        store.call = counted  # type: ignore[method-assign]  # requests for --max-requests
        replica = Replica(store)
        handed = handed_files(target, replica, options.listing_max_age) if reuse else None
        if handed is not None:
            replica.adopt(handed)
            found.handed = True
        body(replica, options, found)
        _newest(replica, found)  # from the listing the body made: no second LIST
    except Exception as exc:  # every failure is this replica's verdict; the fleet goes on
        found.reasons.append(classify_error(exc))
        if replica is not None and not isinstance(exc, StorageError):  # how old is it?
            with contextlib.suppress(Exception):
                _newest(replica, found)
    rpo = None if found.newest is None else (options.clock() - found.newest[1]).total_seconds()
    if rpo is not None and options.stale_after is not None and rpo > options.stale_after:
        message = (
            f"newest point {found.newest[0]:016x} is {rpo:.0f} s old (> {options.stale_after:g} s)"  # type: ignore[index]
        )
        found.reasons.append(Reason("stale", "stale", message))
    return found


def run_op(
    op: str,
    body: Body,
    target: str | Root,
    options: Options,
    storage_options: Mapping[str, Any],
    *,
    reuse: bool = False,
) -> Verdict:
    """Open the replica, run ``body`` and turn what it found (or raised) into a Verdict.
    With ``reuse``, a ``Root``'s fresh listing from discovery stands in for listing the
    root; any verdict but healthy is then made again from a fresh listing (``_listing``)."""
    started = time.perf_counter()
    url = target.url if isinstance(target, Root) else target
    now = options.clock()
    options = attrs.evolve(options, now=now.timestamp())  # one clock for both attempts
    found = _attempt(body, target, options, storage_options, reuse)
    if found.handed and found.reasons:
        spent = found.requests
        found = _attempt(body, url, options, storage_options, False)
        found.requests += spent
        found.detail["listed_again"] = True
    secrets = secrets_of(url, storage_options)
    reasons = tuple(attrs.evolve(r, message=scrub(r.message, secrets)) for r in found.reasons)
    found.detail["requests"] = found.requests
    rpo = None if found.newest is None else (now - found.newest[1]).total_seconds()
    return Verdict(
        url=redact(url),
        op=op,
        verdict=worst(reasons),
        reasons=reasons,
        newest_txid=None if found.newest is None else found.newest[0],
        newest_at=None if found.newest is None else iso(found.newest[1]),
        rpo_seconds=None if rpo is None else round(rpo, 3),
        seconds=round(time.perf_counter() - started, 4),
        files=found.files,
        bytes=found.bytes,
        detail=found.detail,
    )


def _restore_check(replica: Replica, options: Options, found: Found) -> None:
    """Restore the latest point to a temp file, integrity-check it, run the probe."""
    with tempfile.TemporaryDirectory(prefix="ltx-fleet-") as tmp:
        path = Path(tmp) / "drill.db"
        t0 = time.perf_counter()
        replica.restore(path)
        found.detail["restore_seconds"] = round(time.perf_counter() - t0, 4)
        found.detail["db_bytes"] = path.stat().st_size
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            for (row,) in con.execute("PRAGMA integrity_check"):
                if row != "ok":
                    found.reasons.append(Reason("corrupt", "integrity", str(row)))
            if options.probe:
                try:
                    rows = con.execute(options.probe).fetchmany(5)
                    found.detail["probe"] = [list(map(str, r)) for r in rows]
                except sqlite3.Error as exc:
                    found.reasons.append(Reason("corrupt", "probe", f"probe query failed: {exc}"))
        finally:
            con.close()


def _verify(replica: Replica, options: Options, found: Found) -> None:
    if found.handed and not options.deep:  # discovery's listing: read each file, no LIST
        report = verify_files(replica.store, replica.files())
    else:
        report = replica.verify(deep=options.deep)  # lists once; kind reads that listing
    if not report.files and replica.kind == "0.3":
        # a Litestream 0.3 root: its objects are read by restoring (deep) or planning (quick)
        if options.deep:
            _restore_check(replica, options, found)
        else:
            replica.page_map()
        return
    found.detail["points"] = report.points
    found.reasons += [Reason.of_problem(p.kind, p.message, p.path) for p in report.problems]


def _drill(replica: Replica, options: Options, found: Found) -> None:
    if not points_of(replica, found):
        found.reasons.append(Reason("incomplete", "empty", replica.store.explain_empty()))
        return
    _restore_check(replica, options, found)


def _compact(replica: Replica, options: Options, found: Found) -> None:
    steps = replica.compact(options.config(), now=options.clock(), dry_run=options.dry_run)
    deleted = [f for s in steps if isinstance(s, DeleteStep) for f in s.files]
    found.detail.update(
        compactions=sum(isinstance(s, CompactStep) for s in steps),
        snapshots=sum(isinstance(s, SnapshotStep) for s in steps),
        deleted=len(deleted),
        deleted_bytes=sum(f.size for f in deleted),
        dry_run=options.dry_run,
    )


def verify(replica: str | Root, options: Options | None = None, **storage_options: Any) -> Verdict:
    """Verify one replica, a URL or a ``Root`` from discovery whose listing it then reuses
    while fresh (``options.deep`` rebuilds and integrity-checks, as ``ltx verify``)."""
    return run_op("verify", _verify, replica, options or Options(), storage_options, reuse=True)


def drill(replica: str | Root, options: Options | None = None, **storage_options: Any) -> Verdict:
    """Restore the latest point to a temp file, run ``PRAGMA integrity_check`` and the
    probe, report the RPO and the restore time; the temp file is removed. A ``Root``'s
    listing from discovery is reused while fresh, as by ``verify``."""
    return run_op("drill", _drill, replica, options or Options(), storage_options, reuse=True)


def compact(replica: str | Root, options: Options | None = None, **storage_options: Any) -> Verdict:
    """Apply Litestream's compaction and retention (``options.dry_run`` only plans); it
    always lists the root afresh before deleting anything."""
    return run_op("compact", _compact, replica, options or Options(), storage_options)
