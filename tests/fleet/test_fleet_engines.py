"""ltx.fleet on moto S3 through real engines: a local process pool, a Dask LocalCluster
with worker processes and a local Ray runtime; verdicts must equal the local pool's.
Fault cases: a worker killed mid-run, an unreachable replica, secrets in URLs.

``LTX_FLEET_N`` sets the fleet size (40 here; the issue's 200 runs under ``slow``).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import math
import multiprocessing
import os
import pickle
import signal
import uuid

import pytest

from ltx import fleet
from ltx.storage import redact
from tests.backends import S3_ENV
from tests.fleet.fleet_helpers import make_fleet

pytestmark = pytest.mark.servers
N = int(os.environ.get("LTX_FLEET_N", "40"))
OPTS = {"key": "test", "secret": "test"}


def _prefix(s3_endpoint: str) -> str:
    return f"s3://ltx-test/fleet-{uuid.uuid4().hex[:8]}?endpoint={s3_endpoint}&region=us-east-1"


@pytest.fixture(scope="module")
def s3_fleet(s3_endpoint):
    prefix = _prefix(s3_endpoint)
    expected = make_fleet(prefix, N, **OPTS)
    found = fleet.discover(prefix, **OPTS)
    local = fleet.run("verify", found.roots, storage_options=OPTS, workers=2)
    return prefix, expected, found, {v.url: v for v in local.verdicts}


def _same(got: fleet.Run, local: dict[str, fleet.Verdict]) -> None:
    assert len(got.verdicts) == len(local) and got.complete
    for v in got.verdicts:
        assert v.same_outcome(local[v.url]), (v, local[v.url])


def test_discovery_costs_a_request_per_thousand_keys(s3_fleet):
    _p, expected, found, local = s3_fleet
    assert len(found.roots) == N and found.listed == 4 * N - sum(
        1 for v in expected.values() if v == "incomplete"
    )
    assert found.requests <= math.ceil(found.listed / 1000) + 1
    assert {v.url: v.verdict for v in local.values()} == expected


def test_dask_local_cluster_with_worker_processes(s3_fleet, monkeypatch, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    from ltx.cli import main

    prefix, _e, found, local = s3_fleet
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        got = fleet.run(
            "verify", found.roots, executor=client.get_executor(), storage_options=OPTS, workers=2
        )
        _same(got, local)
        pids = list(client.run(os.getpid).values())
        killed = []

        def kill_once(v: fleet.Verdict) -> None:
            if not killed:
                killed.append(pids[0])
                os.kill(pids[0], signal.SIGKILL)

        # a worker killed mid-run: Dask reschedules its tasks, one verdict per replica
        again = fleet.run(
            "verify",
            found.roots,
            executor=client.get_executor(),
            storage_options=OPTS,
            workers=2,
            batch_size=2,
            on_verdict=kill_once,
        )
        assert killed
        _same(again, local)
        assert sorted(v.url for v in again.verdicts) == sorted(local)
        # the CLI on the same scheduler: credentials from the environment as storage options
        for k, v in S3_ENV.items():
            monkeypatch.setenv(k, v)
        out = tmp_path / "dask.jsonl"
        assert (
            main(
                ["fleet", "verify", prefix, "--dask", cluster.scheduler_address, "--out", str(out)]
            )
            == 1
        )
        lines = [fleet.Verdict.from_json(json.loads(x)) for x in out.read_text().splitlines()]
        assert sorted(v.url for v in lines) == sorted(local)
        assert all(v.same_outcome(local[v.url]) for v in lines)


def test_ray_local_runtime(s3_fleet, monkeypatch, tmp_path):
    ray = pytest.importorskip("ray")
    from ltx.cli import main
    from ltx.fleet._engines import RayExecutor

    prefix, _e, found, local = s3_fleet
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        got = fleet.run(
            "verify", found.roots, executor=RayExecutor(), storage_options=OPTS, workers=2
        )
        _same(got, local)
        # the CLI's --ray joins the runtime already up in this process
        for k, v in S3_ENV.items():
            monkeypatch.setenv(k, v)
        out = tmp_path / "ray.jsonl"
        assert main(["fleet", "verify", prefix, "--ray", "auto", "--out", str(out)]) == 1
        lines = [fleet.Verdict.from_json(json.loads(x)) for x in out.read_text().splitlines()]
        assert sorted(v.url for v in lines) == sorted(local)
    finally:
        ray.shutdown()


def test_local_pool_worker_killed_then_resume_finishes(s3_fleet):
    _p, _e, found, local = s3_fleet
    ex = cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    lines: list[fleet.Verdict] = []

    def kill_once(v: fleet.Verdict) -> None:
        lines.append(v)
        if len(lines) == 1:
            for p in list(ex._processes.values()):  # the pool's own worker processes
                os.kill(p.pid, signal.SIGKILL)

    first = fleet.run(
        "verify",
        found.roots,
        executor=ex,
        storage_options=OPTS,
        workers=2,
        batch_size=2,
        on_verdict=kill_once,
    )
    ex.shutdown()
    assert not first.complete and first.errors
    rest = fleet.run(
        "verify", found.roots, storage_options=OPTS, workers=2, done={v.url for v in lines}
    )
    assert rest.complete and rest.skipped == len(lines)
    every = [v.url for v in [*lines, *rest.verdicts]]
    assert sorted(every) == sorted(local)  # exactly one verdict per replica
    for v in [*lines, *rest.verdicts]:
        assert v.same_outcome(local[v.url])


def test_secrets_in_urls_never_printed(s3_endpoint, tmp_path, capsys, monkeypatch):
    from ltx.cli import _fleet, main

    shipped = []
    real_run = fleet.run

    def spy(op, replicas, *args, **kw):
        shipped.append((list(replicas), kw["storage_options"]))
        return real_run(op, shipped[-1][0], *args, **kw)

    monkeypatch.setattr(_fleet.fleet, "run", spy)

    secret = "sEkReT-fleet-42xyz"
    host = s3_endpoint.split("://", 1)[1]
    prefix = f"s3://AKIAFLEET:{secret}@ltx-test/sec-{uuid.uuid4().hex[:6]}?endpoint=http://{host}&region=us-east-1"
    make_fleet(prefix, 4)
    dead = f"s3://AKIAFLEET:{secret}@ltx-test/x?endpoint=http://127.0.0.1:9&region=us-east-1"
    v = fleet.verify(dead, fleet.Options(timeout=1))
    assert v.verdict == "unreachable" and secret not in repr(v) and secret not in str(v.to_json())
    out = tmp_path / "run.jsonl"
    assert main(["fleet", "verify", prefix, "--out", str(out), "--workers", "1"]) == 1
    assert main(["fleet", "drill", prefix, "--workers", "1", "--progress"]) == 0
    printed = capsys.readouterr()
    assert secret not in printed.out + printed.err + out.read_text()
    assert "AKIAFLEET" not in out.read_text()
    assert redact(prefix) in printed.out or "ltx-test/sec-" in printed.out
    # what reaches the workers: roots (URL and listing) without credentials; credentials
    # as storage options
    for replicas, opts in shipped:
        for r in replicas:
            shipped_bytes = pickle.dumps(r)
            assert secret.encode() not in shipped_bytes and b"AKIAFLEET" not in shipped_bytes
        assert opts["secret"] == secret


@pytest.mark.slow
def test_two_hundred_replicas_local_dask_and_ray_agree(s3_endpoint):
    distributed = pytest.importorskip("dask.distributed")
    ray = pytest.importorskip("ray")
    from ltx.fleet._engines import RayExecutor

    prefix = _prefix(s3_endpoint)
    expected = make_fleet(prefix, 200, **OPTS)
    roots = fleet.discover(prefix, **OPTS).roots
    local = {v.url: v for v in fleet.run("verify", roots, storage_options=OPTS).verdicts}
    assert {u: v.verdict for u, v in local.items()} == expected
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as c,
        distributed.Client(c) as client,
    ):
        _same(
            fleet.run("verify", roots, executor=client.get_executor(), storage_options=OPTS), local
        )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        _same(fleet.run("verify", roots, executor=RayExecutor(), storage_options=OPTS), local)
    finally:
        ray.shutdown()
