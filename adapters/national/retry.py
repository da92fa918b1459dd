"""The retry policy for calls to the national platform: what is retried, how long to wait, when to stop.

CONTRACT §6: retry only what is safe. Exactly ``TransientError`` is retried, never its subclass
``AmbiguousWriteError`` (a write that may have been applied is read back by the engine, not sent
again by the client). Waits are capped, jittered and exponential, or what ``Retry-After`` asks;
retrying stops at an attempt cap and at a total-time cap, whichever comes first. The total-time cap
counts the attempts' own time too: each attempt runs in a ``deadline.scope`` that ends it at the cap
(or sooner, at the request deadline the caller gives), and none starts once the cap is used up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import tenacity

from lapor_sync.adapters.national import deadline
from lapor_sync.domain.errors import AmbiguousWriteError, QuotaExceededError, TransientError

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _no_sleep(_seconds: float) -> None:
    """Test mode: time does not pass."""


def _is_retryable(exc: BaseException) -> bool:
    # A throttle answer is not retried by backoff: the client waits out the quota window (``quota``).
    return isinstance(exc, TransientError) and not isinstance(exc, AmbiguousWriteError | QuotaExceededError)


@dataclass
class _Budget:
    """The time one call has used: from its first attempt, less the waits for a turn of the quota."""

    started: float
    queued: float = 0.0

    def used(self, now: float) -> float:
        return now - self.started - self.queued


def _retry_after(state: tenacity.RetryCallState) -> float | None:
    exc = state.outcome.exception() if state.outcome else None
    return exc.retry_after if isinstance(exc, TransientError) else None


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a call to the national platform is retried.

    Attributes:
        max_attempts: attempts in all, the first included.
        max_total_seconds: the longest the whole call may take, attempts and waits together
            (seconds, measured with ``monotonic`` from the start of the first attempt): no retry
            starts without time left, and an attempt in flight ends when the time is up.
        initial_wait_seconds: the first backoff wait; each next one doubles, plus up to this much
            random jitter.
        max_wait_seconds: cap of one backoff wait.
        retry_after_cap_seconds: a ``Retry-After`` longer than this is not waited for: the error
            is raised at once so the sync run can end and the scheduler come back later.
        sleep: how to wait (seconds); tests inject a fake.
        monotonic: a monotonic clock in seconds; tests inject a fake.
        interrupt: when set (the worker's stop event on SIGTERM), no further attempt starts, a
            backoff wait ends at once and the attempt in flight ends within a fraction of a second
            (a connect or TLS handshake at its timeout: ``deadline``), so shutdown is not held up by a retry
            budget or a slow server.
    """

    max_attempts: int = 5
    max_total_seconds: float = 60.0
    initial_wait_seconds: float = 0.5
    max_wait_seconds: float = 30.0
    retry_after_cap_seconds: float = 120.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    monotonic: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    interrupt: threading.Event | None = field(default=None, repr=False, compare=False)

    def _sleep(self, seconds: float) -> None:
        if self.interrupt is None:
            self.sleep(seconds)
        else:
            self.interrupt.wait(seconds)  # ends early on a stop request

    @classmethod
    def no_wait(cls, **overrides: Any) -> RetryPolicy:
        """Return a test policy: same caps, zero backoff, and nothing ever sleeps.

        A ``Retry-After`` still counts against the caps, as it would in production.
        """
        return replace(cls(**overrides), initial_wait_seconds=0.0, max_wait_seconds=0.0, sleep=_no_sleep)

    def call(
        self,
        operation: Callable[[], T],
        *,
        description: str,
        attempt_seconds: float | None = None,
        turn: Callable[[], float] | None = None,
    ) -> T:
        """Run ``operation`` until it succeeds, fails for good, or the caps are reached.

        Args:
            operation: one attempt; raises domain errors.
            description: what is being done, for the log (e.g. ``"GET /complaints/inbox"``); no secrets.
            attempt_seconds: the wall-clock limit of one attempt (``LAPOR_SYNC_REQUEST_DEADLINE_SECONDS``),
                within what is left of ``max_total_seconds``; ``None``: only the latter.
            turn: waits for the request quota before each attempt and returns the seconds it
                waited (``Quota.take_turn``); that wait is outside the attempt's deadline and is not
                counted in ``max_total_seconds``: the quota is spent by the process, not by this call.

        Returns:
            What ``operation`` returned.

        Raises:
            The last error of ``operation`` when it is not retryable or the caps are reached.
        """
        budget = _Budget(self.monotonic())
        failures: list[BaseException] = []

        def attempt() -> T:
            if failures and self.interrupt is not None and self.interrupt.is_set():
                raise failures[-1]  # shutting down: no new attempt; ``stop`` ends the loop on this error
            if turn is not None:
                try:
                    budget.queued += turn()
                except BaseException as exc:  # stopped while queued: nothing sent, and no further attempt
                    failures.append(exc)
                    raise
            left = self.max_total_seconds - budget.used(self.monotonic())
            if failures and left <= 0:
                raise failures[-1]  # a wait overslept the cap: no attempt without time; ``stop`` ends the loop
            try:
                with deadline.scope(
                    left if attempt_seconds is None else min(attempt_seconds, left), stop=self.interrupt
                ):
                    return operation()
            except BaseException as exc:
                failures.append(exc)
                raise

        # The first attempt runs on its own: almost every call succeeds at once, and building and
        # running a ``tenacity.Retrying`` costs more CPU than a request's own work on the client
        # side. A failure enters tenacity, which takes it as its first attempt (``replay_first``,
        # no second request), so waits, stops and the log are as if tenacity had made it.
        try:
            return attempt()
        except BaseException as exc:
            if not _is_retryable(exc):
                raise
        return self._retrying(attempt, failures, budget, description)

    def _retrying(
        self, attempt: Callable[[], T], failures: list[BaseException], budget: _Budget, description: str
    ) -> T:
        """Go on with ``attempt`` under tenacity after a first, retryable failure (the last of ``failures``)."""
        replay_first = [failures[-1]]

        def attempt_or_replay() -> T:
            if replay_first:
                raise replay_first.pop()
            return attempt()

        backoff = tenacity.wait_exponential_jitter(
            multiplier=self.initial_wait_seconds, max=self.max_wait_seconds, jitter=self.initial_wait_seconds
        )

        def wait(state: tenacity.RetryCallState) -> float:
            retry_after = _retry_after(state)
            return backoff(state) if retry_after is None else retry_after

        def stop(state: tenacity.RetryCallState) -> bool:
            # ``upcoming_sleep`` is already computed here: stop rather than sleep past a cap.
            retry_after = _retry_after(state)
            return (
                (self.interrupt is not None and self.interrupt.is_set())
                or state.attempt_number >= self.max_attempts
                or budget.used(self.monotonic()) + state.upcoming_sleep >= self.max_total_seconds
                or (retry_after is not None and retry_after > self.retry_after_cap_seconds)
            )

        def log_retry(state: tenacity.RetryCallState) -> None:
            # INFO: a retry that then succeeds is routine; a failure that outlives it is reported by the run.
            logger.info(
                "%s failed (%s); attempt %d of %d in %.1f s",
                description,
                state.outcome.exception() if state.outcome else "?",
                state.attempt_number + 1,
                self.max_attempts,
                state.upcoming_sleep,
            )

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_is_retryable),
            stop=stop,
            wait=wait,
            sleep=self._sleep,
            before_sleep=log_retry,
            reraise=True,
        )
        return retrying(attempt_or_replay)
