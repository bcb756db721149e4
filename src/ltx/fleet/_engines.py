"""Executors on engines the team already runs: Dask (``ltx[dask]``) and Ray (``ltx[ray]``).

Both come out as ``concurrent.futures.Executor``s, so ``run`` treats them like the
local pool. Dask reschedules the tasks of a worker that dies; Ray retries them
(``max_retries``). Task names are the function's name: no URL or secret in them.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Callable
from typing import Any

from ltx.errors import UsageError

__all__ = ["RayExecutor", "dask_executor"]


def dask_executor(scheduler: str) -> tuple[cf.Executor, Callable[[], None]]:
    """An executor on the Dask scheduler at ``scheduler`` and a function closing it."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise UsageError("--dask needs Dask: pip install 'ltx[dask]'") from None
    client = Client(scheduler)  # type: ignore[no-untyped-call]
    executor: cf.Executor = client.get_executor(pure=False)  # type: ignore[no-untyped-call]
    return executor, client.close


class RayExecutor(cf.Executor):
    """Each ``submit`` a Ray task (retried ``max_retries`` times if its worker dies);
    the future is Ray's own ``ObjectRef.future()``."""

    def __init__(self, address: str | None = None, *, max_retries: int = 3, **init: Any) -> None:
        # Workers run this interpreter's environment (ltx must be installed where they run).
        # Under `uv run`, Ray's uv hook would rebuild the uv project in a copied working dir
        # on each worker instead, which fails offline and leaves every task pending.
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        try:
            import ray
        except ImportError:
            raise UsageError("--ray needs Ray: pip install 'ltx[ray]'") from None
        self._ray = ray
        self._owned = not ray.is_initialized()
        if self._owned:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, **init)
        self._max_retries = max_retries
        self._remotes: dict[Callable[..., Any], Any] = {}

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        remote = self._remotes.get(fn)
        if remote is None:
            remote = self._ray.remote(max_retries=self._max_retries)(fn)
            self._remotes[fn] = remote
        fut: cf.Future[Any] = remote.remote(*args, **kwargs).future()
        return fut

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._owned:
            self._ray.shutdown()
