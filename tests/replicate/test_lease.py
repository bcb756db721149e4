"""Write leases: Litestream's lock.json on S3, create-if-absent states elsewhere."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import ltx
from ltx.errors import LeaseHeldError, LeaseLostError, UsageError
from ltx.replication import Replicator
from ltx.storage import open_store
from ltx.storage._lease import leaser_for
from ltx.testing import run_sql_transaction
from ltx.times import UTC
from tests.backends import target_for
from tests.replicate.replicate_helpers import app_db, image, replica_image, same_db, target

BACKENDS = ["file", "memory", pytest.param("s3", marks=pytest.mark.servers)]


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.mark.parametrize("kind", BACKENDS)
def test_take_hold_expire_take_over(kind: str, request: Any, tmp_path: Any) -> None:
    url, opts = target_for(kind, request, tmp_path)
    store = open_store(url, **opts)
    clock = Clock()
    a = leaser_for(store, "host-a", clock=clock)
    b = leaser_for(store, "host-b", clock=clock)
    la = a.acquire()
    assert la.generation == 1
    with pytest.raises(LeaseHeldError, match="host-a") as err:
        b.acquire()
    assert err.value.holder == "host-a" and err.value.expires_at == la.expires_at
    la = a.renew(la)
    clock.now += dt.timedelta(seconds=31)
    lb = b.acquire()  # expired: taken over, next generation
    assert lb.generation == 2
    with pytest.raises(LeaseLostError):
        a.renew(la)
    b.release(lb)
    la = a.acquire()
    # Litestream deletes lock.json on release, so S3 starts over at generation 1
    assert la.generation == (1 if kind == "s3" else 3)


@pytest.mark.parametrize("kind", BACKENDS)
def test_racing_writers_one_wins(kind: str, request: Any, tmp_path: Any) -> None:
    """50 rounds of two writers taking the lease at once: exactly one holds it."""
    url, opts = target_for(kind, request, tmp_path)
    store = open_store(url, **opts)
    leasers = [leaser_for(store, f"w{i}") for i in range(2)]
    for _ in range(50):
        gate = threading.Barrier(2)
        got: list[Any] = [None, None]

        def race(i: int, gate: threading.Barrier = gate, got: list[Any] = got) -> None:
            gate.wait()
            try:
                got[i] = leasers[i].acquire()
            except LeaseHeldError as exc:
                got[i] = exc

        threads = [threading.Thread(target=race, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [g for g in got if not isinstance(g, LeaseHeldError)]
        assert len(winners) == 1, got
        leasers[got.index(winners[0])].release(winners[0])


@pytest.mark.servers
def test_s3_lock_json_is_litestreams(request: Any, tmp_path: Any) -> None:
    """The object is ``<replica path>/lock.json`` with Litestream's JSON fields."""
    url, opts = target_for("s3", request, tmp_path)
    store = open_store(url, **opts)
    leaser_for(store, "me").acquire()
    body = json.loads(store.fs.cat_file(f"{store.root}/lock.json"))
    assert set(body) == {"generation", "expires_at", "owner"}
    assert body["generation"] == 1 and body["owner"] == "me"
    assert body["expires_at"].endswith("Z")


def test_schemes_without_atomics_refuse(monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store("memory://x/y")
    monkeypatch.setattr(type(store.backend), "conditional_create", False)
    with pytest.raises(UsageError, match="no atomic"):
        leaser_for(store, "me")


@pytest.mark.parametrize("kind", ["file", pytest.param("s3", marks=pytest.mark.servers)])
def test_expired_lease_is_taken_over_within_ttl_and_one_sync(
    kind: str, request: Any, tmp_path: Path
) -> None:
    """A holder that dies without releasing (no renewal, no release) blocks a new
    replicator until its lease expires, at most one TTL after its last renewal; the
    first open after that expiry takes the lease and its first sync lands the next
    TXID. So a dead holder costs at most TTL + one sync."""
    url, opts, _ = target(kind, request, tmp_path)
    db, ttl = tmp_path / "app.db", 1.0
    app = app_db(db)
    kw: dict[str, Any] = {"lease_ttl": ttl, "levels": False, "replica_options": opts}
    dead = Replicator(db, url, owner="dead", **kw).open()
    run_sql_transaction(app, [("insert", 1, 100)])
    (last,) = dead.sync()  # its last write, under a lease renewed no later than now
    renewed = dt.datetime.now(UTC)
    assert dead.db is not None
    dead.db.close()  # dies: no stop(), so nothing is renewed or released
    run_sql_transaction(app, [("insert", 2, 100)])
    heir = Replicator(db, url, owner="heir", **kw)
    with pytest.raises(LeaseHeldError, match="dead") as err:
        heir.open()
    expires = err.value.expires_at
    assert expires is not None and expires <= renewed + dt.timedelta(seconds=ttl)
    time.sleep(max(0.0, (expires - dt.datetime.now(UTC)).total_seconds()) + 0.05)
    heir.open()  # the first attempt past the expiry
    (first,) = heir.sync()
    assert first.txid == last.txid + 1 and not first.snapshot
    heir.stop()
    assert same_db(replica_image(url, first.txid, **opts), image(app))


PAUSED = """
import sys, time
from ltx.replication import Replicator
r = Replicator(sys.argv[1], sys.argv[2], sync_interval=0.05, owner="paused", lease_ttl=1.0,
               levels=False, on_lease_lost=lambda e: print("lost", flush=True)).start()
print("ready", flush=True)
while True:
    time.sleep(1)
"""


def _l0(url: str, opts: dict[str, Any]) -> dict[int, bytes]:
    store = ltx.open(url, **opts).store
    return {f.max_txid: store.read(f.path) for f in store.list_level(0)}


@pytest.mark.parametrize("kind", ["file", pytest.param("s3", marks=pytest.mark.servers)])
def test_paused_holder_lands_nothing_after_resume(kind: str, request: Any, tmp_path: Path) -> None:
    """A replicator process stopped (SIGSTOP) past its TTL while the app writes; another
    takes the lease and goes on. Resumed (SIGCONT), the first one finds its lease gone
    and says so; every file it wrote before stays as it was and every file after the
    takeover is the heir's, TXIDs contiguous."""
    db = tmp_path / "app.db"
    url, opts, env = target(kind, request, tmp_path)
    app = app_db(db)
    log = tmp_path / "paused.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", PAUSED, str(db), url], stdout=out, env={**os.environ, **env}
        )
    try:
        deadline = time.monotonic() + 60
        while "ready" not in log.read_text():
            assert time.monotonic() < deadline and proc.poll() is None, "did not start"
            time.sleep(0.05)
        for i in range(5):
            run_sql_transaction(app, [("insert", i, 300)])
            time.sleep(0.1)
        proc.send_signal(signal.SIGSTOP)
        before = _l0(url, opts)
        run_sql_transaction(app, [("insert", 10, 300)])
        time.sleep(1.3)  # past the TTL of its last renewal
        heir = Replicator(
            db, url, owner="heir", lease_ttl=1.0, levels=False, replica_options=opts
        ).open()
        ours = [s.txid for s in heir.sync()]
        for i in range(3):
            run_sql_transaction(app, [("insert", 20 + i, 300)])
            ours += [s.txid for s in heir.sync()]
        taken = _l0(url, opts)
        proc.send_signal(signal.SIGCONT)
        while "lost" not in log.read_text():
            assert time.monotonic() < deadline + 60 and proc.poll() is None, "never noticed"
            time.sleep(0.05)
        run_sql_transaction(app, [("insert", 30, 300)])
        ours += [s.txid for s in heir.sync()]
        heir.stop()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    final = _l0(url, opts)
    assert sorted(final) == list(range(1, max(final) + 1))
    assert all(final[t] == data for t, data in taken.items())
    assert set(final) - set(before) == set(ours)
    assert same_db(replica_image(url, max(final), **opts), image(app))


def test_failed_start_releases_lease_and_connections(tmp_path: Path) -> None:
    """A first sync that fails leaves nothing held: the next replicator takes the lease
    at once (not after the TTL) and the database is closed."""
    from ltx.errors import LTXError
    from ltx.replica import Replica
    from ltx.storage import RetryPolicy
    from ltx.testing.faults import FaultyFileSystem

    class NoLevelFiles(FaultyFileSystem):
        def _before(self, name: str, args: tuple[Any, ...]) -> None:
            if name == "makedirs" and "/ltx/" in str(args[:1]):
                raise PermissionError("AccessDenied: injected")
            super()._before(name, args)

    db, url = tmp_path / "app.db", "memory://ltx-tests/failed-start"
    app_db(db)
    faulty = NoLevelFiles(open_store(url).fs)
    store = open_store(url, filesystem=faulty, retry=RetryPolicy(attempts=1))
    rep = Replicator(db, Replica(store), lease_ttl=600)
    with pytest.raises((LTXError, OSError)):
        rep.start()
    assert rep.db is None and rep._thread is None and rep.leases.held == []
    with Replicator(db, url, lease_ttl=600) as second:  # no LeaseHeldError
        assert second.last is not None


def test_an_acquire_whose_reply_was_lost_is_still_ours(tmp_path: Any) -> None:
    """A retried create meets our own attempt that landed (its reply lost): the lease is
    ours, not held by ourselves against us."""
    from ltx.errors import ConflictError

    store = open_store((tmp_path / "r").as_uri())
    leaser = leaser_for(store, "me")
    put = leaser._put

    def landed_then_lost(data: bytes, prev: Any) -> str:
        put(data, prev)
        raise ConflictError("the retry found the object there")

    leaser._put = landed_then_lost  # type: ignore[method-assign]
    lease = leaser.acquire()
    assert (lease.owner, lease.generation) == ("me", 1)
    with pytest.raises(LeaseHeldError):
        leaser_for(store, "other").acquire()
