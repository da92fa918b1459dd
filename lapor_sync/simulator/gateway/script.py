"""Faults the gateway is told to answer next: the test hook of the client's and the doctor's tests.

``POST /_simulator/gateway/faults {"code": 900900, "count": 3}`` (or :meth:`FaultScript.push`)
makes the next three requests to the API get fault 900900 from the gateway, whatever their key,
before any other check; they never reach LAPOR! and count against no quota.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

MAX_SCRIPTED = 10_000
"""Most requests one script may cover: a bound on what a test can queue."""


@dataclass(frozen=True, slots=True)
class ScriptedFault:
    """One fault to answer: its WSO2 code, and an HTTP status other than the catalogue's, if any."""

    code: int
    status: int | None = None


class FaultScript:
    """A queue of faults, each answered to one request, first in first out. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[ScriptedFault] = deque()

    def push(self, code: int, count: int = 1, status: int | None = None) -> None:
        """Answer fault ``code`` (with ``status``, default the catalogue's) to the next ``count`` requests.

        Raises:
            ValueError: ``count`` below 1 or above :data:`MAX_SCRIPTED` in all; a code that is not a
                positive number; a status outside 400-599.
        """
        if not 1 <= count <= MAX_SCRIPTED:
            raise ValueError(f"count must be from 1 to {MAX_SCRIPTED}")
        if code < 1:
            raise ValueError("code must be a positive number")
        if status is not None and not 400 <= status <= 599:
            raise ValueError("status must be from 400 to 599")
        with self._lock:
            if len(self._queue) + count > MAX_SCRIPTED:
                raise ValueError(f"at most {MAX_SCRIPTED} scripted faults may wait")
            self._queue.extend([ScriptedFault(code, status)] * count)

    def pop(self) -> ScriptedFault | None:
        """Take the fault for this request, or ``None`` when none waits."""
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def clear(self) -> None:
        """Drop every waiting fault."""
        with self._lock:
            self._queue.clear()

    def waiting(self) -> list[dict[str, int | None]]:
        """The waiting faults, in order, as ``{"code", "status"}`` rows."""
        with self._lock:
            return [{"code": f.code, "status": f.status} for f in self._queue]
