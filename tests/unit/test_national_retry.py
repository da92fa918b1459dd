"""The retry policy: what is retried, the waits, and both caps (attempts, total time), on fake time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from lapor_sync.adapters.national.retry import RetryPolicy
from lapor_sync.domain.errors import (
    AmbiguousWriteError,
    ItemRejectedError,
    NationalPlatformError,
    RunStoppingError,
    TransientError,
)


class FakeTime:
    """Monotonic time that moves only when slept on or when a fake request takes time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def policy(time: FakeTime, **changes: float) -> RetryPolicy:
    return RetryPolicy(sleep=time.sleep, monotonic=time.monotonic, **changes)  # type: ignore[arg-type]


def failing(errors: list[Exception], time: FakeTime | None = None, takes: float = 0.0) -> Callable[[], str]:
    """An operation that raises ``errors`` in turn (each attempt taking ``takes`` seconds), then succeeds."""
    calls: list[int] = []

    def operation() -> str:
        calls.append(1)
        if time is not None:
            time.now += takes
        if errors:
            raise errors.pop(0)
        return "ok"

    operation.calls = calls  # type: ignore[attr-defined]
    return operation


def test_transient_errors_are_retried_until_success() -> None:
    time = FakeTime()
    operation = failing([TransientError("busy", status=503), TransientError("reset")])
    assert policy(time).call(operation, description="GET /x") == "ok"
    assert len(operation.calls) == 3  # type: ignore[attr-defined]
    assert len(time.sleeps) == 2


def test_each_retry_is_logged_with_the_attempt_it_leads_to(caplog: pytest.LogCaptureFixture) -> None:
    time = FakeTime()
    operation = failing([TransientError("busy", status=503, retry_after=2.0), TransientError("reset", retry_after=3.0)])
    with caplog.at_level("INFO", logger="lapor_sync.adapters.national.retry"):
        assert policy(time).call(operation, description="GET /x") == "ok"
    assert [record.getMessage() for record in caplog.records] == [
        "GET /x failed (HTTP 503: busy); attempt 2 of 5 in 2.0 s",
        "GET /x failed (reset); attempt 3 of 5 in 3.0 s",
    ]
    assert time.sleeps == [2.0, 3.0]


def test_attempt_cap_stops_with_the_last_error() -> None:
    time = FakeTime()
    last = TransientError("still down", status=502)
    operation = failing([TransientError("down", status=502)] * 4 + [last, TransientError("never reached")])
    with pytest.raises(TransientError) as caught:
        policy(time, max_total_seconds=1e6).call(operation, description="GET /x")
    assert caught.value is last
    assert len(operation.calls) == 5  # type: ignore[attr-defined]
    # Jittered, capped exponential backoff: 0.5·2^n plus up to 0.5 of jitter.
    for n, wait in enumerate(time.sleeps):
        assert 0.5 * 2**n <= wait <= 0.5 * 2**n + 0.5


def test_backoff_waits_are_capped() -> None:
    time = FakeTime()
    operation = failing([TransientError("down")] * 10)
    with pytest.raises(TransientError):
        policy(time, max_attempts=10, max_total_seconds=1e6, max_wait_seconds=3).call(operation, description="GET /x")
    assert max(time.sleeps) <= 3


def test_total_time_cap_stops_before_the_attempt_cap() -> None:
    time = FakeTime()
    operation = failing([TransientError("read timeout")] * 10, time, takes=25.0)
    with pytest.raises(TransientError):
        policy(time, max_total_seconds=60).call(operation, description="GET /x")
    # 25 s, wait ~0.5 s, 25 s (t≈50.5), wait ~1 s, 25 s (t≈77): no fourth attempt would start in time.
    assert len(operation.calls) == 3  # type: ignore[attr-defined]
    assert time.now < 80


def test_a_wait_that_would_cross_the_total_time_cap_is_not_taken() -> None:
    time = FakeTime()
    operation = failing([TransientError("busy", retry_after=50.0)] * 3, time, takes=20.0)
    with pytest.raises(TransientError):
        policy(time, max_total_seconds=60).call(operation, description="GET /x")
    assert len(operation.calls) == 1 and time.sleeps == []  # type: ignore[attr-defined]


def test_retry_after_is_honoured() -> None:
    time = FakeTime()
    operation = failing([TransientError("slow down", status=429, retry_after=7.0)])
    assert policy(time).call(operation, description="POST /x") == "ok"
    assert time.sleeps == [7.0]


def test_retry_after_beyond_its_cap_is_raised_at_once() -> None:
    time = FakeTime()
    operation = failing([TransientError("maintenance", status=503, retry_after=3600.0)])
    with pytest.raises(TransientError) as caught:
        policy(time, max_total_seconds=1e6).call(operation, description="GET /x")
    assert caught.value.retry_after == 3600.0
    assert len(operation.calls) == 1 and time.sleeps == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "error",
    [
        AmbiguousWriteError("read timeout; the write may have been applied"),
        RunStoppingError("authentication refused", status=401),
        ItemRejectedError("status sudah Selesai", status=422),
    ],
)
def test_other_errors_are_never_retried(error: NationalPlatformError) -> None:
    time = FakeTime()
    operation = failing([error])
    with pytest.raises(type(error)):
        policy(time).call(operation, description="POST /x")
    assert len(operation.calls) == 1 and time.sleeps == []  # type: ignore[attr-defined]


def test_no_wait_mode_retries_without_waiting() -> None:
    no_wait = RetryPolicy.no_wait(max_attempts=3)
    operation = failing([TransientError("down")] * 2)
    assert no_wait.call(operation, description="GET /x") == "ok"
    assert len(operation.calls) == 3  # type: ignore[attr-defined]
    assert (no_wait.initial_wait_seconds, no_wait.max_wait_seconds, no_wait.max_total_seconds) == (0.0, 0.0, 60.0)


def test_a_stop_request_ends_the_retries_without_waiting_out_the_backoff() -> None:
    stop = threading.Event()
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        stop.set()  # SIGTERM arrives during the first attempt
        raise TransientError("HTTP 503", status=503)

    policy = RetryPolicy(initial_wait_seconds=30.0, max_wait_seconds=30.0, interrupt=stop)
    started = time.monotonic()
    with pytest.raises(TransientError):
        policy.call(flaky, description="GET /complaints/inbox")
    assert calls == [1] and time.monotonic() - started < 1.0


def test_no_attempt_starts_once_the_total_cap_is_used_up() -> None:
    time = FakeTime()
    operation = failing([TransientError("read timeout")] * 3, time, takes=60.0)
    with pytest.raises(TransientError):
        policy(time, max_total_seconds=60, initial_wait_seconds=0, max_wait_seconds=0).call(
            operation, description="GET /x"
        )
    # The first attempt took the whole minute: a second one would have had no time at all.
    assert len(operation.calls) == 1  # type: ignore[attr-defined]
