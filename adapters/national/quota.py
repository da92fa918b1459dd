"""The client-side quota: at most so many requests a minute (and, optionally, a second) to the national API.

SPLP's WSO2 gateway counts requests per minute and answers a 429 without ``Retry-After`` once the
quota is spent (CONTRACT §7 G3); LAPOR publishes no figure (G12), and one production SPLP client
keeps itself to 10 a minute (G4). So the client spends the quota itself rather than learn it from
refusals: every request first takes a turn here. One :class:`Quota` serves every job of a process
(the ``App`` owns it), so a pull's fetch threads, a push's delivery threads and a reconcile share
it; turns are handed out in the order they are asked for, so a push is not starved by a long pull.

The windows slide: a request is sent only when fewer than ``per_minute`` were sent in the 60 s
before it (and fewer than ``per_second`` in the second before it), so no fixed minute the gateway
counts can see more. After a throttle answer the client holds every turn (:meth:`Quota.hold`) until the
gateway's window has passed; a turn handed out before the hold is taken again after it, where its
request really goes. A wait is bounded: by the window (and a hold) times the turns queued
before it, which the fetch and delivery pools bound; a stop request ends it at once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from lapor_sync.domain.errors import ConfigurationError, TransientError

DEFAULT_REQUESTS_PER_MINUTE = 10
"""The default quota (``LAPOR_SYNC_REQUESTS_PER_MINUTE``): what one production SPLP client allows itself (CONTRACT §7 G4)."""
DEFAULT_QUOTA_WAIT_SECONDS = 65.0
"""How long to wait after a throttle answer (``LAPOR_SYNC_QUOTA_WAIT_SECONDS``): one minute window and a margin (G4)."""
_MINUTE, _SECOND = 60.0, 1.0


def _wait(seconds: float, stop: threading.Event | None) -> None:
    """Wait ``seconds``, ended early by ``stop``."""
    if stop is None:
        time.sleep(seconds)
    else:
        stop.wait(seconds)


class Quota:
    """A thread-safe limiter of requests per minute and per second, with a hold after a throttle answer.

    Args:
        per_minute: requests allowed in any 60 s; 0: no limit a minute.
        per_second: requests allowed in any 1 s; 0: no limit a second.
        monotonic: the clock turns are measured on, seconds (tests inject a fake).
        sleep: waits ``(seconds, stop)``, returning early when ``stop`` is set (tests inject a
            fake that moves their clock).

    Raises:
        ValueError: a negative limit.
    """

    def __init__(
        self,
        per_minute: int = DEFAULT_REQUESTS_PER_MINUTE,
        per_second: int = 0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float, threading.Event | None], None] = _wait,
    ) -> None:
        if per_minute < 0 or per_second < 0:
            raise ValueError("a request quota cannot be negative")
        self.per_minute, self.per_second = per_minute, per_second
        self._limits = [(limit, window) for limit, window in ((per_minute, _MINUTE), (per_second, _SECOND)) if limit]
        # The send instants handed out (some still ahead), oldest first: only the last ``limit`` of
        # each window decide the next turn, so no more are kept.
        self._turns: deque[float] = deque(maxlen=max((limit for limit, _ in self._limits), default=1))
        self._held_until = float("-inf")
        self._lock = threading.Lock()
        self._monotonic = monotonic
        self._sleep = sleep

    @classmethod
    def from_settings(cls, settings: Any) -> Quota:
        """Build the quota of ``requests_per_minute`` and ``requests_per_second`` (defaults when absent).

        Raises:
            ConfigurationError: a negative value, naming its ``LAPOR_SYNC_*`` variable.
        """
        per_minute = int(getattr(settings, "requests_per_minute", DEFAULT_REQUESTS_PER_MINUTE))
        per_second = int(getattr(settings, "requests_per_second", 0) or 0)
        for name, value in (("REQUESTS_PER_MINUTE", per_minute), ("REQUESTS_PER_SECOND", per_second)):
            if value < 0:
                raise ConfigurationError(f"LAPOR_SYNC_{name} must be 0 (no limit) or more")
        return cls(per_minute, per_second)

    def describe(self) -> str:
        """The quota in words, for log lines: ``"10 requests a minute"``, ``"no limit"``."""
        parts = [f"{self.per_minute} requests a minute"] * bool(self.per_minute)
        parts += [f"{self.per_second} a second"] * bool(self.per_second)
        return ", ".join(parts) or "no limit"

    def now(self) -> float:
        """The quota's own clock (monotonic seconds), on which its waits are measured."""
        return self._monotonic()

    def hold(self, seconds: float) -> None:
        """Let no request start for ``seconds`` from now (the gateway's window after a throttle answer)."""
        with self._lock:
            self._held_until = max(self._held_until, self._monotonic() + seconds)

    def take_turn(
        self, *, stop: threading.Event | None = None, announce: Callable[[float], None] | None = None
    ) -> float:
        """Wait for this request's turn; return how long it waited, seconds.

        Args:
            stop: ends the wait at once when set (the worker's stop event).
            announce: told the seconds left whenever a wait starts or is made longer (by a
                :meth:`hold`), before waiting.

        Raises:
            TransientError: ``stop`` was set during the wait; the turn is given back, nothing was sent.
        """
        started = self._monotonic()
        turn = self._reserve(started)
        announced = started
        while True:
            with self._lock:
                if self._held_until > turn:
                    # A hold came after this turn was handed out: the request leaves after the hold,
                    # so it takes a turn there, or the window would count it where it never went and
                    # let the turns after it out too early (a second throttle answer).
                    self._forget(turn)
                    turn = self._reserve_locked(self._monotonic())
                at = turn
            now = self._monotonic()
            if at <= now:
                return now - started
            if stop is not None and stop.is_set():
                self._give_back(turn)
                raise TransientError("stopped while waiting on the request quota; nothing was sent")
            if announce is not None and at > announced:
                announce(at - now)
            announced = at
            self._sleep(at - now, stop)

    def _reserve(self, now: float) -> float:
        """Hand out the next send instant: the earliest at which each window still has room, never before an earlier turn."""
        with self._lock:
            return self._reserve_locked(now)

    def _reserve_locked(self, now: float) -> float:
        """:meth:`_reserve`, the lock held."""
        at = max(now, self._held_until, self._turns[-1] if self._turns else now)
        for limit, window in self._limits:
            if len(self._turns) >= limit:
                at = max(at, self._turns[-limit] + window)
        if self._limits:
            self._turns.append(at)
        return at

    def _give_back(self, turn: float) -> None:
        """Forget a turn that was not used (its wait was stopped), so it holds no later request back."""
        with self._lock:
            self._forget(turn)

    def _forget(self, turn: float) -> None:
        """Drop ``turn`` from the turns handed out, the lock held."""
        try:
            self._turns.remove(turn)
        except ValueError:  # already pushed out by later turns
            pass


class WaitSpan:
    """The time during which at least one request waited: the union of the waits, not their sum.

    Four fetch threads waiting the same minute wasted one minute of the run, not four: a run's
    ``quota_waited_seconds`` must add up to no more than its wall time. Waits are reported as they
    end; FIFO turns end nearly in order, and a wait reported after a later one is counted only
    beyond what that one covered (never twice).
    """

    def __init__(self) -> None:
        self._covered_until = float("-inf")
        self._lock = threading.Lock()

    def add(self, start: float, end: float) -> float:
        """Count the wait from ``start`` to ``end`` (the quota's clock, seconds); return the seconds it adds."""
        with self._lock:
            fresh = max(0.0, end - max(start, self._covered_until))
            self._covered_until = max(self._covered_until, end)
            return fresh
