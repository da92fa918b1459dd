"""The working-day calendar: weekends, Indonesian holidays and cuti bersama, extra days off, WIB dates."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from lapor_sync.domain.timezones import WIB
from lapor_sync.domain.workdays import WorkingCalendar
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


def test_working_days_apart_count_forward_and_backward_across_holidays() -> None:
    assert CALENDAR.working_days_apart(date(2024, 4, 1), date(2024, 4, 3)) == 2  # Tue, Wed
    assert CALENDAR.working_days_apart(date(2024, 4, 3), date(2024, 4, 3)) == 0
    assert CALENDAR.working_days_apart(date(2024, 4, 5), date(2024, 4, 16)) == 1  # 8-15 Apr off
    assert CALENDAR.working_days_apart(date(2024, 4, 17), date(2024, 4, 5)) == -2  # 16, 17 Apr
