"""Indonesian working days (hari kerja) for the simulated platform's timers.

Working day: Monday to Friday, minus national public holidays and cuti bersama, as the
``holidays`` package knows them (categories ``public`` and ``government``; DOMAIN.md).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

WIB = ZoneInfo("Asia/Jakarta")

# One calendar object for the process; it adds further years by itself when asked about them.
_NON_WORKING = holidays.country_holidays("ID", years=range(2023, 2027), categories=("public", "government"))


def is_working_day(day: date) -> bool:
    """Return True for a Monday-to-Friday date that is neither a public holiday nor cuti bersama."""
    return day.weekday() < 5 and day not in _NON_WORKING


def working_days_between(start: date, end: date) -> list[date]:
    """Return the working days from ``start`` to ``end``, both inclusive, in order."""
    days = (start + timedelta(days=n) for n in range((end - start).days + 1))
    return [day for day in days if is_working_day(day)]


def add_working_days(instant: datetime, days: int) -> datetime:
    """Return the same WIB time of day on the ``days``-th working day after ``instant``'s WIB date.

    Args:
        instant: an aware datetime.
        days: how many working days to count (>= 1); the starting date itself never counts.

    Returns:
        An aware UTC datetime.
    """
    local = instant.astimezone(WIB)
    day, counted = local.date(), 0
    while counted < days:
        day += timedelta(days=1)
        counted += is_working_day(day)
    return datetime.combine(day, local.timetz()).astimezone(UTC)


def next_working_day_at(instant: datetime, at: time) -> datetime:
    """Return WIB time ``at`` (naive, read as WIB) on the first working day after ``instant``'s WIB date.

    Returns:
        An aware UTC datetime.
    """
    shifted = add_working_days(instant, 1).astimezone(WIB)
    return datetime.combine(shifted.date(), at, tzinfo=WIB).astimezone(UTC)
