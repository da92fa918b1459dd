"""The push's delivery pool: workers' statements run on the owning thread, and every wait is bounded."""

from __future__ import annotations

import threading

import pytest

from lapor_sync.sync.push_pool import DeliveryPool

BOUND = 10.0  # seconds: the longest any wait here may take


def test_a_workers_statement_runs_on_the_owner_and_its_answer_comes_back() -> None:
    owner = threading.get_ident()
    ran_on: list[int] = []

    def statement() -> str:
        ran_on.append(threading.get_ident())
        return "extended"

    with DeliveryPool[str, str](2, BOUND) as pool:
        pool.start("row", lambda: pool.on_owner(statement))
        [(key, future)] = pool.finished()

    assert (key, future.result(), ran_on) == ("row", "extended", [owner])


def test_a_statements_error_is_raised_in_the_worker_that_asked() -> None:
    def statement() -> None:
        raise LookupError("claim gone")

    with DeliveryPool[str, None](1, BOUND) as pool:
        pool.start("row", lambda: pool.on_owner(statement))
        [(_, future)] = pool.finished()

    with pytest.raises(LookupError, match="claim gone"):
        future.result()


def test_a_worker_waits_for_the_owner_no_longer_than_its_bound_and_the_statement_is_then_never_run() -> None:
    ran: list[str] = []
    gave_up = threading.Event()

    def delivery() -> None:
        try:
            pool.on_owner(lambda: ran.append("late"))
        finally:
            gave_up.set()

    with DeliveryPool[str, None](1, 0.05) as pool:
        pool.start("row", delivery)
        assert gave_up.wait(BOUND)  # the owner was busy elsewhere (not serving) all that time
        [(_, future)] = pool.finished()  # serves the stale statement now: it is skipped

    with pytest.raises(TimeoutError):
        future.result()
    assert ran == []


def test_the_owner_waits_for_a_delivery_no_longer_than_its_bound() -> None:
    release = threading.Event()
    with DeliveryPool[str, bool](1, 0.05) as pool:
        pool.start("row", lambda: release.wait(BOUND))
        with pytest.raises(TimeoutError):
            pool.finished()
        release.set()
    assert pool.free == 0  # the delivery that outlived the wait is still counted as running


def test_no_running_delivery_means_nothing_to_wait_for() -> None:
    with DeliveryPool[str, None](3, BOUND) as pool:
        assert (pool.finished(), pool.free) == ([], 3)


def test_a_worker_that_cannot_start_leaves_no_other_worker_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    start = threading.Thread.start
    started: list[threading.Thread] = []

    def start_two_then_fail(thread: threading.Thread) -> None:
        if len(started) == 2:
            raise RuntimeError("can't start new thread")
        started.append(thread)
        thread.daemon = True  # should this test fail, a worker left waiting must not hold the test run open
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", start_two_then_fail)
    with pytest.raises(RuntimeError, match="can't start"), DeliveryPool[str, None](3, BOUND):
        pass

    # Those that started were told to stop and have ended: none waits on its queue for ever,
    # keeping the process from exiting (the pool's workers are not daemons).
    for thread in started:
        thread.join(BOUND)
    assert len(started) == 2 and not any(thread.is_alive() for thread in started)
