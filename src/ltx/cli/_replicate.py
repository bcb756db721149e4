"""``ltx replicate DB URL [URL ...]``: the replicator as a daemon, named like Litestream's
(``-sync-interval``, ``-exec``): a line per level-0 file written (a JSON object per
line with ``--json``), a clean stop on SIGTERM or SIGINT with a final sync."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Any

from ltx.cli._output import Output

if TYPE_CHECKING:
    from ltx.replication import Synced

__all__ = ["add_replicate", "cmd_replicate"]


def add_replicate(sub: argparse._SubParsersAction[Any], common: Any) -> None:
    """The ``replicate`` command's arguments."""
    r = sub.add_parser("replicate", help="replicate a live SQLite database (Litestream 0.5)")
    r.add_argument("db", help="the SQLite database (WAL mode) to replicate")
    r.add_argument(
        "urls", nargs="+", metavar="url", help="replica URLs: every one gets the same files"
    )
    r.add_argument(
        "-sync-interval",
        "--sync-interval",
        dest="sync_interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="seconds between syncs (default 1, as Litestream)",
    )
    r.add_argument(
        "-exec", "--exec", dest="exec_cmd", metavar="CMD", help="run CMD as a child; stop with it"
    )
    r.add_argument("--no-lease", action="store_true", help="do not take the replicas' write lease")
    r.add_argument(
        "--no-compact",
        action="store_true",
        help="write level 0 only: no compaction levels, snapshots or L0 retention "
        "(default: Litestream's, L1 30s, L2 5m, L3 1h, daily snapshot)",
    )
    common(r, url=False)


def _event(out: Output, kind: str, **fields: Any) -> None:
    """One log event: a JSON line in the JSON formats, a text line otherwise."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if out.json_mode:
        out.stdout.write(json.dumps({"time": stamp, "event": kind, **fields}) + "\n")
        out.stdout.flush()
        return
    text = " ".join(f"{k}={v}" for k, v in fields.items())
    out.line(f"{stamp} {kind} {text}")
    out.stdout.flush()


def cmd_replicate(args: argparse.Namespace, out: Output) -> int:
    """Run until SIGTERM/SIGINT (or the ``-exec`` child ends), then sync a last time."""
    from ltx.replication import Replicator

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def synced(s: Synced) -> None:
        kind = "snapshot" if s.snapshot else "sync"
        fields: dict[str, Any] = {"txid": f"{s.txid:016x}", "pages": s.pages, "commit": s.commit}
        if s.reason:
            fields["reason"] = s.reason
        _event(out, kind, **fields)

    def failed(exc: BaseException) -> None:
        _event(out, "error", type=type(exc).__name__, message=str(exc))

    rep = Replicator(
        args.db,
        *args.urls,
        sync_interval=args.sync_interval,
        lease=not args.no_lease,
        levels=False if args.no_compact else None,
        on_sync=synced,
        on_error=failed,
        on_lease_lost=failed,
    )
    rep.open()
    pos = rep.position.txid if rep.position else 0
    _event(out, "started", db=args.db, replicas=len(args.urls), txid=f"{pos:016x}", owner=rep.owner)
    rep.start()
    child = subprocess.Popen(shlex.split(args.exec_cmd)) if args.exec_cmd else None
    try:
        while not stop.wait(0.2):
            if child is not None and child.poll() is not None:
                break
    finally:
        if child is not None and child.poll() is None:
            child.terminate()
            child.wait()
        rep.stop()
    pos = rep.position.txid if rep.position else 0
    _event(out, "stopped", txid=f"{pos:016x}", files=rep.files_written)
    return child.returncode if child is not None else 0
