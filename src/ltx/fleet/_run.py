"""Running an operation over many replicas on an executor the caller already has.

Work goes out in batches (several replicas per task, never one task per file), at
most a few batches per worker in flight, so a request budget can stop the run and a
killed run loses only the batches in flight. Each verdict is handed to ``on_verdict``
as soon as its batch returns (the CLI writes it out at once; ``--resume`` skips it).
A batch whose task fails for good leaves its replicas "not run", never half-reported.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import multiprocessing
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from ltx.fleet._discover import Root
from ltx.fleet._ops import Options, compact, drill, scrub, secrets_of, verify
from ltx.fleet._stats import stats
from ltx.fleet._verdict import VERDICTS, Verdict
from ltx.storage import redact

__all__ = ["OPERATIONS", "Run", "run", "run_batch"]

Operation = Callable[..., Verdict]
OPERATIONS: dict[str, Operation] = {
    "verify": verify,
    "drill": drill,
    "stats": stats,
    "compact": compact,
}


def run_batch(
    op: str,
    replicas: Sequence[str | Root],
    options: Options,
    storage_options: Mapping[str, Any],
    threads: int = 1,
) -> list[Verdict]:
    """One task: ``op`` on each replica (a URL, or a ``Root`` carrying discovery's listing
    of it), ``threads`` replicas at a time (the work is mostly waiting on storage);
    module level, so engines can ship it."""
    fn = OPERATIONS[op]
    if threads <= 1 or len(replicas) <= 1:
        return [fn(r, options, **storage_options) for r in replicas]
    with cf.ThreadPoolExecutor(min(threads, len(replicas))) as pool:
        return list(pool.map(lambda r: fn(r, options, **storage_options), replicas))


def _url(replica: str | Root) -> str:
    return replica.url if isinstance(replica, Root) else replica


@attrs.frozen
class Run:
    """What a fleet run did: the verdicts it got, the replicas skipped (already done)
    or not run (and why), and the requests and time it took."""

    op: str
    verdicts: tuple[Verdict, ...]
    skipped: int = 0
    not_run: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    requests: int = 0
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """True when every replica asked for got a verdict (now or in an earlier run)."""
        return not self.not_run

    def summary(self, earlier: Iterable[Verdict] = ()) -> dict[str, Any]:
        """Counts per verdict, the worst RPO, total bytes and identical-copy bytes."""
        every = [*earlier, *self.verdicts]
        rpos = [(v.rpo_seconds, v.url) for v in every if v.rpo_seconds is not None]
        worst = max(rpos, default=None)
        return {
            "op": self.op,
            "replicas": len(every),
            "counts": {k: sum(v.verdict == k for v in every) for k in VERDICTS},
            "worst_rpo_seconds": None if worst is None else worst[0],
            "worst_rpo_url": None if worst is None else worst[1],
            "bytes": sum(v.bytes for v in every),
            "identical_bytes": sum(int(v.detail.get("identical_bytes", 0)) for v in every),
            "not_run": len(self.not_run),
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
        }


def _batches(items: Sequence[str | Root], size: int) -> list[list[str | Root]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _local_pool(workers: int) -> cf.Executor:
    # spawn: the parent holds fsspec's I/O thread, which a forked child must not inherit
    return cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


@attrs.define
class _Driver:
    """Keeps a few batches per worker in flight and collects what comes back."""

    op: str
    options: Options
    storage_options: dict[str, Any]
    ex: cf.Executor
    window: int
    total: int
    on_verdict: Callable[[Verdict], None] | None
    progress: Callable[[int, int], None] | None
    secrets: list[str]
    threads: int = 1
    requests: int = 0
    got: list[Verdict] = attrs.field(factory=list)
    errors: list[str] = attrs.field(factory=list)
    lost: list[str] = attrs.field(factory=list)
    broken: bool = False

    def submit(
        self, pending: list[list[str | Root]], inflight: dict[Any, list[str | Root]]
    ) -> None:
        while pending and not self.broken and len(inflight) < self.window:
            batch = pending.pop(0)
            args = (self.op, batch, self.options, self.storage_options, self.threads)
            try:
                inflight[self.ex.submit(run_batch, *args)] = batch
            except Exception as exc:  # the engine is gone (a broken pool): stop here
                pending.insert(0, batch)
                self.broken = True
                self.errors.append(scrub(f"{type(exc).__name__}: {exc}", self.secrets))

    def collect(self, fut: cf.Future[list[Verdict]], batch: list[str | Root]) -> None:
        try:
            verdicts = fut.result()
        except Exception as exc:  # the engine gave up on this batch: not run
            self.errors.append(scrub(f"{type(exc).__name__}: {exc}", self.secrets))
            self.lost += [redact(_url(r)) for r in batch]
            return
        for v in verdicts:
            self.requests += int(v.detail.get("requests", 0))
            self.got.append(v)
            if self.on_verdict is not None:
                self.on_verdict(v)
            if self.progress is not None:
                self.progress(len(self.got), self.total)

    def drive(self, pending: list[list[str | Root]], max_requests: int | None) -> None:
        inflight: dict[Any, list[str | Root]] = {}
        while True:
            if max_requests is None or self.requests < max_requests:
                self.submit(pending, inflight)
            if not inflight:
                return
            ready, _ = cf.wait(inflight, return_when=cf.FIRST_COMPLETED)
            for fut in ready:
                self.collect(fut, inflight.pop(fut))


def run(
    op: str,
    replicas: Iterable[str | Root],
    options: Options | None = None,
    *,
    executor: cf.Executor | None = None,
    workers: int = 4,
    batch_size: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
    done: Iterable[str] = (),
    on_verdict: Callable[[Verdict], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_requests: int | None = None,
    spent: int = 0,
    threads_per_task: int = 8,
) -> Run:
    """Run ``op`` (verify, drill, stats, compact) on every replica, in batches, on
    ``executor`` (default: a local pool of ``workers`` processes, started with spawn:
    a script calling this needs the ``if __name__ == "__main__":`` guard); ``progress``
    gets (done, total) after each verdict; replicas whose redacted URL is in ``done``
    are skipped. Each task runs ``threads_per_task`` replicas at a time.
    ``max_requests`` stops submitting once the requests reported (plus ``spent``
    already, e.g. by discovery) reach it."""
    if op not in OPERATIONS:
        raise ValueError(f"unknown fleet operation {op!r}: one of {', '.join(OPERATIONS)}")
    started = time.perf_counter()
    opts = dict(storage_options or {})
    items = list(replicas)
    finished = set(done)
    todo = [r for r in items if redact(_url(r)) not in finished]
    size = batch_size or max(1, min(64, math.ceil(len(todo) / (workers * 4))))
    pending = _batches(todo, size)
    ex = _local_pool(workers) if executor is None else executor
    secrets = sorted({s for r in todo[:1] for s in secrets_of(_url(r), opts)})
    d = _Driver(
        op, options or Options(), opts, ex, 2 * workers, len(todo), on_verdict, progress, secrets
    )
    d.threads = threads_per_task
    d.requests = spent
    try:
        d.drive(pending, max_requests)
    finally:
        if executor is None:
            ex.shutdown(wait=True, cancel_futures=True)
    if pending and not d.broken:
        d.errors.append(f"request budget of {max_requests} reached after {d.requests} requests")
    not_run = tuple(d.lost + [redact(_url(r)) for b in pending for r in b])
    seconds = time.perf_counter() - started
    return Run(
        op, tuple(d.got), len(items) - len(todo), not_run, tuple(d.errors), d.requests, seconds
    )
