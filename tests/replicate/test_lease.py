"""Write leases: Litestream's lock.json on S3, create-if-absent states elsewhere."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import pytest

from ltx.errors import LeaseHeldError, LeaseLostError, UsageError
from ltx.storage import open_store
from ltx.storage._lease import leaser_for
from ltx.times import UTC
from tests.backends import target_for

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
