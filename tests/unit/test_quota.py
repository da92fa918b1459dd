"""The client-side request quota: per minute, per second, a hold after a throttle answer, stop, threads (CONTRACT §7 G4)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from lapor_sync.adapters.national.quota import DEFAULT_REQUESTS_PER_MINUTE, Quota, WaitSpan
from lapor_sync.domain.errors import ConfigurationError, TransientError


class FakeTime:
    """A monotonic clock that only a wait moves: waits are recorded, never slept."""

    def __init__(self, on_sleep: Callable[[threading.Event | None], None] | None = None) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()
        self._on_sleep = on_sleep

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float, stop: threading.Event | None) -> None:
        if self._on_sleep is not None:
            self._on_sleep(stop)
            if stop is not None and stop.is_set():
                return  # a stop ends the wait at once: no time passes
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def quota(per_minute: int, per_second: int = 0, time: FakeTime | None = None) -> tuple[Quota, FakeTime]:
    time = time or FakeTime()
    return Quota(per_minute, per_second, monotonic=time.monotonic, sleep=time.sleep), time


def test_n_requests_in_a_minute_pass_and_the_next_waits_exactly_until_the_window() -> None:
    limiter, time = quota(10)
    started = time.now

    waits = [limiter.take_turn() for _ in range(10)]
    time.now += 12.5  # the 10 went out at once; 12.5 s later an 11th asks
    told: list[float] = []
    eleventh = limiter.take_turn(announce=told.append)

    assert waits == [0.0] * 10
    assert eleventh == pytest.approx(47.5) and told == [pytest.approx(47.5)]
    assert time.now == pytest.approx(started + 60)  # exactly when the first leaves the window


def test_the_window_slides() -> None:
    limiter, time = quota(2)
    limiter.take_turn()
    time.now += 30
    limiter.take_turn()

    assert limiter.take_turn() == pytest.approx(30)  # 60 s after the first
    assert limiter.take_turn() == pytest.approx(30)  # 60 s after the second


def test_per_second_limit_beside_the_minute() -> None:
    limiter, time = quota(100, per_second=3)

    waits = [limiter.take_turn() for _ in range(7)]

    assert waits[:3] == [0.0] * 3 and waits[3] == pytest.approx(1.0) and waits[6] == pytest.approx(1.0)


def test_zero_is_no_limit() -> None:
    limiter, time = quota(0)

    assert [limiter.take_turn() for _ in range(1000)] == [0.0] * 1000 and not time.sleeps
    assert limiter.describe() == "no limit"


def test_a_hold_after_a_throttle_answer_delays_every_turn() -> None:
    limiter, _time = quota(0)
    limiter.hold(65)
    told: list[float] = []

    assert limiter.take_turn(announce=told.append) == pytest.approx(65) and told == [pytest.approx(65)]
    assert limiter.take_turn() == 0.0


def test_a_hold_made_during_a_wait_lengthens_it_and_is_announced() -> None:
    holder: list[Quota] = []

    def hold_once(_stop: threading.Event | None) -> None:
        if not told_holds:
            told_holds.append(True)
            holder[0].hold(65)  # another thread was throttled meanwhile

    told_holds: list[bool] = []
    limiter, time = quota(1, time=FakeTime(on_sleep=hold_once))
    holder.append(limiter)
    limiter.take_turn()
    told: list[float] = []

    waited = limiter.take_turn(announce=told.append)

    assert waited == pytest.approx(65) and told == [pytest.approx(60), pytest.approx(5)]


def test_turns_pushed_back_by_a_hold_are_counted_where_they_go_so_no_window_after_it_holds_more() -> None:
    # A turn handed out before a hold leaves when the hold ends, not at its own instant: the window
    # must count it there, or the turns after it come that much too early (a second throttle answer).
    holder: list[Quota] = []
    sent: list[float] = []

    def throttled_meanwhile(_stop: threading.Event | None) -> None:
        if len(holder) == 1:  # once: another thread's request was throttled
            holder.append(holder[0])
            holder[0].hold(65)

    limiter, time = quota(3, time=FakeTime(on_sleep=throttled_meanwhile))
    holder.append(limiter)
    for _ in range(3):
        limiter.take_turn()
    for _ in range(7):  # the first waits for the window, then for the hold; the others follow
        limiter.take_turn()
        sent.append(time.now)

    assert sent[0] == pytest.approx(1065)
    assert all(sent[i + 3] - sent[i] >= 60 - 1e-9 for i in range(len(sent) - 3)), sent


def test_a_stop_cuts_the_wait_short_and_gives_the_turn_back() -> None:
    stop = threading.Event()
    limiter, time = quota(1, time=FakeTime(on_sleep=lambda event: stop.set()))
    limiter.take_turn()

    with pytest.raises(TransientError, match="stopped while waiting on the request quota; nothing was sent"):
        limiter.take_turn(stop=stop)

    assert time.sleeps == []  # nothing slept: the stop ended the wait at once
    time.now += 60
    assert limiter.take_turn() == 0.0  # the stopped turn holds no later one back


def test_threads_share_the_quota_and_no_window_ever_holds_more() -> None:
    limiter, time = quota(10)
    sent: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(6):
            limiter.take_turn()
            with lock:
                sent.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    sent.sort()
    assert len(sent) == 48
    assert all(sent[i + 10] - sent[i] >= 60 - 1e-9 for i in range(len(sent) - 10))


def test_from_settings_defaults_and_refusals() -> None:
    made = Quota.from_settings(SimpleNamespace())
    assert (made.per_minute, made.per_second) == (DEFAULT_REQUESTS_PER_MINUTE, 0) == (10, 0)
    assert made.describe() == "10 requests a minute"
    assert Quota.from_settings(SimpleNamespace(requests_per_minute=30, requests_per_second=2)).describe() == (
        "30 requests a minute, 2 a second"
    )
    with pytest.raises(ConfigurationError, match="LAPOR_SYNC_REQUESTS_PER_MINUTE"):
        Quota.from_settings(SimpleNamespace(requests_per_minute=-1))


def test_waits_at_once_count_once_and_a_late_report_never_twice() -> None:
    span = WaitSpan()
    assert span.add(0.0, 60.0) == 60.0
    assert span.add(10.0, 60.0) == 0.0  # a second thread waiting the same minute wastes no more of the run
    assert span.add(30.0, 90.0) == 30.0  # only what lies beyond
    assert span.add(100.0, 110.0) == 10.0  # a gap is not counted
    assert span.add(95.0, 105.0) == 0.0  # reported after a later wait: inside what that covered
