"""The working-day calendar: weekends, Indonesian holidays and cuti bersama, extra days off, WIB dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from lapor_sync.domain.timezones import WIB
from lapor_sync.domain.workdays import ONE_MICROSECOND, Span, WorkingCalendar
from lapor_sync.simulator import workdays as simulator_workdays

CALENDAR = WorkingCalendar()


def wib(*parts: int) -> datetime:
    """An aware instant written in WIB."""
    return datetime(*parts, tzinfo=WIB)


def test_idul_fitri_2024_and_its_cuti_bersama_are_not_working_days() -> None:
    # Idul Fitri 10-11 Apr 2024; cuti bersama 8, 9, 12 and 15 Apr.
    for day in (8, 9, 10, 11, 12, 15):
        assert not CALENDAR.is_working_day(date(2024, 4, day)), day
    assert CALENDAR.is_working_day(date(2024, 4, 5)) and CALENDAR.is_working_day(date(2024, 4, 16))
    assert not CALENDAR.is_working_day(date(2024, 4, 13))  # Saturday
    assert CALENDAR.working_days_between(date(2024, 4, 1), date(2024, 4, 19)) == [
        date(2024, 4, d) for d in (1, 2, 3, 4, 5, 16, 17, 18, 19)
    ]


def test_christmas_and_its_cuti_bersama_are_skipped() -> None:
    assert not CALENDAR.is_working_day(date(2024, 12, 25)) and not CALENDAR.is_working_day(date(2024, 12, 26))
    assert CALENDAR.add_working_days(wib(2024, 12, 24, 10, 0), 1) == wib(2024, 12, 27, 10, 0)


def test_ten_working_days_across_idul_fitri_keep_the_wib_time_of_day_and_come_back_in_utc() -> None:
    due = CALENDAR.add_working_days(wib(2024, 4, 2, 10, 0), 10)
    assert due == wib(2024, 4, 24, 10, 0)  # 3-5 Apr, then 16-19 and 22-24 Apr
    assert due.tzinfo is UTC


def test_an_extra_configured_day_off_is_skipped_only_where_configured() -> None:
    calendar = WorkingCalendar([date(2024, 12, 27)])
    assert not calendar.is_working_day(date(2024, 12, 27))
    assert calendar.add_working_days(wib(2024, 12, 24, 10, 0), 1) == wib(2024, 12, 30, 10, 0)
    assert CALENDAR.is_working_day(date(2024, 12, 27))


def test_a_start_on_a_weekend_or_holiday_counts_like_one_on_the_working_day_before() -> None:
    monday = wib(2024, 7, 22, 10, 0)
    assert CALENDAR.add_working_days(wib(2024, 7, 19, 10, 0), 1) == monday  # Friday
    assert CALENDAR.add_working_days(wib(2024, 7, 20, 10, 0), 1) == monday  # Saturday
    assert CALENDAR.add_working_days(wib(2024, 7, 21, 10, 0), 1) == monday  # Sunday
    assert CALENDAR.add_working_days(wib(2024, 12, 25, 10, 0), 1) == wib(2024, 12, 27, 10, 0)  # Christmas


def test_the_day_counted_from_is_the_wib_date_not_the_utc_date() -> None:
    # Friday 19 Jul 2024 17:30 UTC is already Saturday 00:30 WIB.
    start = datetime(2024, 7, 19, 17, 30, tzinfo=UTC)
    assert CALENDAR.add_working_days(start, 1) == wib(2024, 7, 22, 0, 30)


def test_zero_days_is_the_same_instant_and_bad_arguments_are_refused() -> None:
    assert CALENDAR.add_working_days(wib(2024, 7, 20, 10, 0), 0) == wib(2024, 7, 20, 10, 0)
    with pytest.raises(ValueError, match="forwards"):
        CALENDAR.add_working_days(wib(2024, 7, 20, 10, 0), -1)
    with pytest.raises(ValueError, match="aware"):
        CALENDAR.add_working_days(datetime(2024, 7, 20, 10, 0), 1)  # noqa: DTZ001 - the naive case itself
    assert CALENDAR.working_days_between(date(2024, 7, 22), date(2024, 7, 19)) == []


def test_years_are_read_when_first_asked_about() -> None:
    calendar = WorkingCalendar()
    assert not calendar.is_working_day(date(2025, 3, 31))  # Idul Fitri 2025
    assert not calendar.is_working_day(date(2031, 1, 1))  # far outside any preloaded range
    assert CALENDAR.add_working_days(wib(2024, 12, 31, 9, 0), 1) == wib(2025, 1, 2, 9, 0)  # across New Year


def test_the_simulator_uses_the_same_calendar() -> None:
    assert simulator_workdays.add_working_days(wib(2024, 4, 2, 10, 0), 10) == CALENDAR.add_working_days(
        wib(2024, 4, 2, 10, 0), 10
    )
    assert isinstance(simulator_workdays.CALENDAR, WorkingCalendar)


def _within(instant: datetime, spans: list[Span]) -> bool:
    return any((since is None or since <= instant) and instant < until for since, until in spans)


# Instants to judge at: a working afternoon, a Saturday, the last day of Idul Fitri's cuti bersama,
# the first working day after it (deadlines of many starting days fall on it), midnight, Christmas Eve.
JUDGED_AT = [
    wib(2024, 7, 17, 14, 30),
    wib(2024, 7, 20, 9, 0),
    wib(2024, 4, 15, 11, 0),
    wib(2024, 4, 16, 10, 0),
    wib(2024, 4, 16, 0, 0),
    wib(2024, 12, 24, 23, 59, 59),
]


@pytest.mark.parametrize("at", JUDGED_AT)
@pytest.mark.parametrize("days", [0, 1, 5, 10])
def test_started_due_by_gives_exactly_the_starts_whose_deadline_has_come(at: datetime, days: int) -> None:
    spans = CALENDAR.started_due_by(at, days)
    # Every half hour over the 40 days before ``at``, and each starting time of day around ``at``'s.
    starts = [at - timedelta(minutes=30 * n) for n in range(40 * 48)]
    starts += [s + delta for s in starts[::48] for delta in (ONE_MICROSECOND, -ONE_MICROSECOND)]
    wrong = [s for s in starts if _within(s, spans) != (CALENDAR.add_working_days(s, days) <= at)]
    assert wrong == []
    assert spans[0][0] is None and all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False) if b[0])


def test_after_a_long_holiday_the_starts_due_today_are_those_up_to_the_time_of_day() -> None:
    # Tue 16 Apr 2024 10:00 WIB, the first working day after Idul Fitri: a follow-up 1 working day
    # after 5 Apr (Fri) or any day off since falls due today at that start's time of day.
    spans = CALENDAR.started_due_by(wib(2024, 4, 16, 10, 0), 1)
    assert spans[0] == (None, wib(2024, 4, 5, 10, 0) + ONE_MICROSECOND)
    assert spans[1:4] == [(wib(2024, 4, d, 0, 0), wib(2024, 4, d, 10, 0) + ONE_MICROSECOND) for d in (6, 7, 8)]
    assert len(spans) == 11  # 5 Apr, then each day off from 6 to 15 Apr


def test_started_due_on_or_before_is_the_wib_midnight_after_the_last_such_start() -> None:
    # Deadlines 1 working day later falling on Fri 19 Jul or before: starts up to Thu 18 Jul.
    assert CALENDAR.started_due_on_or_before(date(2024, 7, 19), 1) == wib(2024, 7, 19, 0, 0)
    # ... falling on Sun 21 Jul or before: the same (nothing falls due on a weekend).
    assert CALENDAR.started_due_on_or_before(date(2024, 7, 21), 1) == wib(2024, 7, 19, 0, 0)
    assert CALENDAR.started_due_on_or_before(date(2024, 7, 21), 0) == wib(2024, 7, 22, 0, 0)


def test_working_days_apart_count_forward_and_backward_across_holidays() -> None:
    assert CALENDAR.working_days_apart(date(2024, 4, 1), date(2024, 4, 3)) == 2  # Tue, Wed
    assert CALENDAR.working_days_apart(date(2024, 4, 3), date(2024, 4, 3)) == 0
    assert CALENDAR.working_days_apart(date(2024, 4, 5), date(2024, 4, 16)) == 1  # 8-15 Apr off
    assert CALENDAR.working_days_apart(date(2024, 4, 17), date(2024, 4, 5)) == -2  # 16, 17 Apr
