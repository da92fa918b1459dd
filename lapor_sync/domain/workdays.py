"""Indonesian working days (hari kerja): the one calendar behind every deadline in working days."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

import holidays

from lapor_sync.domain.timezones import WIB

# Public holidays plus cuti bersama (collective leave set by joint decree); docs/domain.md "Time limits".
HOLIDAY_CATEGORIES = ("public", "government")
ONE_MICROSECOND = timedelta(microseconds=1)  # the resolution of datetime and of both databases' timestamps

Span = tuple[datetime | None, datetime]
"""Instants from ``since`` (inclusive; ``None``: no lower bound) to ``until`` (exclusive), aware UTC."""


class WorkingCalendar:
    """Monday to Friday, minus Indonesian public holidays and cuti bersama, minus extra days off.

    Working days as docs/domain.md "Time limits" defines them for the limits of the LAPOR! service
    (PermenPANRB 62/2018, since replaced by PermenPANRB 5/2025): Mon–Fri minus national holidays and
    cuti bersama. The ``holidays`` package supplies both (``country_holidays("ID", categories=("public",
    "government"))``), one year at a time, read the first time a date of that year is asked about.
    Cuti bersama change during the year by decree, hence ``extra_non_working_days``.

    Dates are calendar dates in WIB (Asia/Jakarta): the day an instant falls on is its WIB date.

    Args:
        extra_non_working_days: further days off (e.g. a cuti bersama decreed after the ``holidays``
            release), from the ``extra_non_working_days`` setting.
    """

    def __init__(self, extra_non_working_days: Iterable[date] = ()) -> None:
        self._extra = frozenset(extra_non_working_days)
        self._by_year: dict[int, frozenset[date]] = {}
        # (start date, days) -> date: thousands of open cases share a few hundred disposition dates,
        # and the dashboard evaluates them all on every view.
        self._later: dict[tuple[date, int], date] = {}

    def _holidays(self, year: int) -> frozenset[date]:
        """The public holidays and cuti bersama of ``year`` (read once, then kept)."""
        if year not in self._by_year:
            found = holidays.country_holidays("ID", years=year, categories=HOLIDAY_CATEGORIES)
            self._by_year[year] = frozenset(found)
        return self._by_year[year]

    def is_working_day(self, day: date) -> bool:
        """Return True for a Monday-to-Friday date that is no holiday, cuti bersama or extra day off."""
        return day.weekday() < 5 and day not in self._holidays(day.year) and day not in self._extra

    def working_days_between(self, start: date, end: date) -> list[date]:
        """Return the working days from ``start`` to ``end``, both inclusive, oldest first.

        Empty when ``end`` is before ``start``.
        """
        days = (start + timedelta(days=n) for n in range((end - start).days + 1))
        return [day for day in days if self.is_working_day(day)]

    def working_days_apart(self, start: date, end: date) -> int:
        """Return the working days after ``start`` up to ``end`` inclusive; negative when ``end`` is before ``start``.

        Seen from today (``start``), a deadline on ``end`` is that many working days away (0: due today);
        a deadline already past is ``-n``: ``n`` working days overdue. Monday to Wednesday is 2, Wednesday
        to Monday is -3 (Thursday, Friday, Monday).
        """
        if end >= start:
            return len(self.working_days_between(start + timedelta(days=1), end))
        return -len(self.working_days_between(end + timedelta(days=1), start))

    def add_working_days(self, instant: datetime, days: int) -> datetime:
        """Return the instant ``days`` working days after ``instant``, at the same WIB time of day.

        Counting starts on the WIB date after ``instant``'s; the starting date itself never counts,
        working or not. So Friday 10:00 + 1 is Monday 10:00, and a start on a non-working day is
        counted like a start at the same time on the last working day before it: Saturday 10:00 + 1
        and a holiday's 10:00 + 1 are both 10:00 on the next working day. ``days`` = 0 returns
        ``instant`` itself (in UTC).

        Example: Tue 2 Apr 2024 10:00 WIB + 10 is Wed 24 Apr 2024 10:00 WIB (3-5 Apr count, then
        8-15 Apr are Idul Fitri and cuti bersama, then 16-19 and 22-24 Apr).

        Args:
            instant: an aware datetime.
            days: how many working days to count, >= 0.

        Returns:
            An aware UTC datetime.

        Raises:
            ValueError: ``instant`` is naive or ``days`` is negative.
        """
        if instant.tzinfo is None:
            raise ValueError("add_working_days needs an aware datetime")
        if days < 0:
            raise ValueError("add_working_days counts forwards only")
        local = instant.astimezone(WIB)
        # WIB has no daylight saving time, so the same wall-clock time always exists.
        return datetime.combine(self._working_days_after(local.date(), days), local.timetz()).astimezone(UTC)

    def _working_days_after(self, start: date, days: int) -> date:
        """The date ``days`` working days after ``start`` (``start`` itself not counted), remembered."""
        key = (start, days)
        if key not in self._later:
            day, counted = start, 0
            while counted < days:
                day += timedelta(days=1)
                counted += self.is_working_day(day)
            self._later[key] = day
        return self._later[key]

    def started_due_by(self, at: datetime, days: int) -> list[Span]:
        """The starting instants whose deadline ``days`` working days later has come at ``at``.

        ``add_working_days(x, days) <= at`` holds exactly when ``x`` lies in one of the returned spans:
        so a database can count the deadlines that have fallen due with range conditions on an
        indexed column, the working days counted once per call rather than once per row. Starting
        dates whose deadline falls before ``at``'s WIB date are all in; those whose deadline falls
        on that date (several after a weekend or a holiday) only up to ``at``'s WIB time of day.

        Args:
            at: the instant deadlines are judged at (aware).
            days: the deadline's length in working days, >= 0.

        Returns:
            Disjoint spans ``(since, until)``, oldest first; the first has no lower bound.
        """
        local = at.astimezone(WIB)
        today = local.date()
        spans: list[Span] = [(None, self.started_due_on_or_before(today - timedelta(days=1), days))]
        day = today
        while (due := self._working_days_after(day, days)) >= today:
            if due == today:  # due today, at the starting time of day: due when that time has come
                spans.append((_midnight(day), datetime.combine(day, local.timetz()).astimezone(UTC) + ONE_MICROSECOND))
            day -= timedelta(days=1)
        return _joined(spans[:1] + spans[:0:-1])

    def started_due_on_or_before(self, last: date, days: int) -> datetime:
        """The instant before which every start has its deadline ``days`` working days later on ``last`` or earlier.

        ``add_working_days(x, days)`` falls on a WIB date no later than ``last`` exactly when ``x`` is
        before the returned instant (the deadline's date never decreases as the start moves later).

        Args:
            last: a WIB date.
            days: the deadline's length in working days, >= 0.

        Returns:
            An aware UTC instant: a WIB midnight.
        """
        day = last
        while self._working_days_after(day, days) > last:
            day -= timedelta(days=1)
        return _midnight(day + timedelta(days=1))


def _midnight(day: date) -> datetime:
    """The instant ``day`` begins in WIB, in UTC."""
    return datetime.combine(day, time(), tzinfo=WIB).astimezone(UTC)


def _joined(spans: list[Span]) -> list[Span]:
    """``spans`` (oldest first) with each one that starts where the one before ends merged into it."""
    joined = [spans[0]]
    for since, until in spans[1:]:
        if since == joined[-1][1]:
            joined[-1] = (joined[-1][0], until)
        else:
            joined.append((since, until))
    return joined
