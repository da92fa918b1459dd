"""Working days for the simulated platform's timers: the domain's :class:`WorkingCalendar`, no extra days off.

The simulator plays the national platform, which knows only the published calendar (public holidays
and cuti bersama from the ``holidays`` package; docs/domain.md "Time limits"), not a city's extra days.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from lapor_sync.domain.timezones import WIB
from lapor_sync.domain.workdays import WorkingCalendar

__all__ = ["WIB", "add_working_days", "is_working_day", "next_working_day_at", "working_days_between"]

CALENDAR = WorkingCalendar()

is_working_day = CALENDAR.is_working_day
working_days_between = CALENDAR.working_days_between
add_working_days = CALENDAR.add_working_days


def next_working_day_at(instant: datetime, at: time) -> datetime:
    """Return WIB time ``at`` (naive, read as WIB) on the first working day after ``instant``'s WIB date.

    Returns:
        An aware UTC datetime.
    """
    shifted = add_working_days(instant, 1).astimezone(WIB)
    return datetime.combine(shifted.date(), at, tzinfo=WIB).astimezone(UTC)
