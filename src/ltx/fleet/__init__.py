"""Fleets: discover, verify, drill, size and compact thousands of replicas under a prefix.

Each operation is a pure function of (replica URL, options) returning a small
JSON-ready ``Verdict``; ``run`` maps one over many replicas on a local pool, any
``concurrent.futures.Executor`` (``dask.distributed.Client.get_executor()``) or Ray,
in batches of replicas per task. Nothing below this package knows which runs it.
"""

from ltx.fleet._discover import Discovery, Root, child_url, discover
from ltx.fleet._engines import RayExecutor, dask_executor
from ltx.fleet._ops import Options, compact, drill, verify
from ltx.fleet._project import Projection, project
from ltx.fleet._run import OPERATIONS, Run, run
from ltx.fleet._stats import stats
from ltx.fleet._verdict import VERDICTS, Reason, Verdict

__all__ = [
    "OPERATIONS",
    "VERDICTS",
    "Discovery",
    "Options",
    "Projection",
    "RayExecutor",
    "Reason",
    "Root",
    "Run",
    "Verdict",
    "child_url",
    "compact",
    "dask_executor",
    "discover",
    "drill",
    "project",
    "run",
    "stats",
    "verify",
]
