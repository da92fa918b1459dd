"""The gateway's per-minute quota per key: fixed windows, as WSO2 API Manager counts them.

CONTRACT §7 G3 and G4: quotas are requests per minute, and a request over the quota is refused
with 429 and fault 900800, without ``Retry-After``. Each key's count starts again at every whole
minute of the clock (windows ``[60 k, 60 (k + 1))`` seconds), so a client that waits out a refusal
for longer than a minute always finds a fresh window.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

WINDOW_SECONDS = 60


class MinuteQuota:
    """At most ``limit`` requests per key in each fixed one-minute window.

    Thread-safe: the server thread takes while a test reads the counts.

    Args:
        limit: requests per key per window; 0 turns the quota off.
        clock: seconds (wall or monotonic: only differences and whole minutes matter); injectable
            so tests move time instead of sleeping.

    Raises:
        ValueError: a negative ``limit``.
    """

    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        if limit < 0:
            raise ValueError("the quota must not be negative (0 turns it off)")
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._window = -1
        self._used: dict[str, int] = {}

    def take(self, key: str) -> bool:
        """Count one request of ``key``; return False when it is over the quota of this window."""
        if self.limit == 0:
            return True
        with self._lock:
            window = int(self._clock() // WINDOW_SECONDS)
            if window != self._window:  # a new minute: every key starts again
                self._window, self._used = window, {}
            used = self._used.get(key, 0)
            if used >= self.limit:
                return False
            self._used[key] = used + 1
            return True

    def used(self, key: str) -> int:
        """Requests of ``key`` counted in the current window (refused ones not included)."""
        with self._lock:
            current = int(self._clock() // WINDOW_SECONDS) == self._window
            return self._used.get(key, 0) if current else 0
