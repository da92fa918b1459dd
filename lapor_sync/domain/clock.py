"""Clocks: the one place "now" comes from, so tests and the demo can move time by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Gives the current time as an aware UTC datetime."""

    def now(self) -> datetime:
        """Return the current instant, aware, in UTC."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """Return the machine's current time in UTC."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told; for tests and the demo's simulated period.

    Args:
        start: the initial instant; must be timezone-aware.

    Raises:
        ValueError: on a naive datetime, or when asked to move backwards.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        """Return the instant the clock was last set to, in UTC."""
        return self._now

    def set(self, instant: datetime) -> None:
        """Move the clock to ``instant`` (aware, not earlier than now)."""
        if instant.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        instant = instant.astimezone(UTC)
        if instant < self._now:
            raise ValueError("ManualClock cannot move backwards")
        self._now = instant

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta``."""
        self.set(self._now + delta)
