"""When the replicator's thread syncs (``_pace.Pacer``), on a fake clock: a change seen
once the last sync is an interval old starts one within a poll; never two syncs for
changes within one interval; idle syncs each second without opening an interval."""

from __future__ import annotations

import itertools
import threading

from ltx.replication._pace import IDLE_SYNC, Pacer


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class _Wake(threading.Event):
    """An event whose ``wait`` advances the fake clock instead of sleeping."""

    def __init__(self, clock: _Clock) -> None:
        super().__init__()
        self.clock = clock

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None and timeout > 0
        self.clock.t += timeout
        return self.is_set()


def _pacer(interval: float) -> tuple[Pacer, _Clock, dict[str, int]]:
    clock = _Clock()
    state = {"wal": 0}
    return Pacer(interval, lambda: state["wal"], clock=clock), clock, state


def _synced_within_a_poll(
    pacer: Pacer, clock: _Clock, state: dict[str, int], wake: _Wake, stop: threading.Event
) -> None:
    """A change now starts a sync within one poll."""
    state["wal"] += 1
    t0 = clock.t
    assert pacer.wait(wake, stop)
    assert clock.t - t0 <= pacer.poll


def test_a_change_after_a_quiet_interval_syncs_within_a_poll() -> None:
    pacer, clock, state = _pacer(1.0)
    wake, stop = _Wake(clock), threading.Event()
    clock.t += 5.0  # quiet
    _synced_within_a_poll(pacer, clock, state, wake, stop)


def test_changes_within_an_interval_wait_for_its_end() -> None:
    pacer, clock, state = _pacer(0.5)
    wake, stop = _Wake(clock), threading.Event()
    state["wal"] += 1
    assert pacer.wait(wake, stop)  # an interval after start (the start synced)
    first = clock.t
    state["wal"] += 1
    assert pacer.wait(wake, stop)
    assert clock.t - first >= 0.5


def test_idle_syncs_each_second_and_do_not_open_an_interval() -> None:
    pacer, clock, state = _pacer(1.0)
    wake, stop = _Wake(clock), threading.Event()
    t0 = clock.t
    assert pacer.wait(wake, stop)  # nothing changed: the idle sync
    assert IDLE_SYNC <= clock.t - t0 <= IDLE_SYNC + pacer.poll
    _synced_within_a_poll(pacer, clock, state, wake, stop)  # right after an idle sync


def test_wake_syncs_at_once_unless_backing_off() -> None:
    pacer, clock, _ = _pacer(1.0)
    wake, stop = _Wake(clock), threading.Event()
    wake.set()
    t0 = clock.t
    assert pacer.wait(wake, stop) and clock.t == t0
    pacer.done(False)  # an error: the next sync waits twice the interval
    wake.set()
    assert pacer.wait(wake, stop)
    assert clock.t - t0 >= 2.0
    pacer.done(True)
    assert pacer.backoff == 0


def test_stopping_ends_the_wait() -> None:
    pacer, clock, _ = _pacer(1.0)
    stop = threading.Event()
    stop.set()
    assert not pacer.wait(_Wake(clock), stop)


def test_a_steady_stream_at_the_idle_period_syncs_once_per_interval() -> None:
    """At an interval equal to the idle period, the idle timer and the interval fall
    due together: one sync, not an idle one followed at once by one for the change."""
    pacer, clock, state = _pacer(IDLE_SYNC)
    wake, stop = _Wake(clock), threading.Event()
    starts = []
    t0 = clock.t
    while clock.t - t0 < 10 * IDLE_SYNC:
        state["wal"] += 1  # the app commits all the time
        assert pacer.wait(wake, stop)
        starts.append(clock.t)
        pacer.done(True)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= IDLE_SYNC - pacer.poll, gaps


def test_wakes_faster_than_a_poll_share_a_sync() -> None:
    """An attached connection committing every 0.1 ms to a local target: one sync per
    poll at most, each starting as soon as the poll since the last one is over."""
    pacer, clock, _ = _pacer(1.0)
    wake, stop = _Wake(clock), threading.Event()
    starts = []
    for _ in range(50):
        wake.set()
        assert pacer.wait(wake, stop)
        starts.append(clock.t)
        clock.t += 0.0001  # the sync itself
        pacer.done(True)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert starts[0] == 100.0 and all(abs(g - pacer.poll) < 1e-9 for g in gaps), gaps
