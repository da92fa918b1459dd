"""Rechecks alone (pure): the order of the due complaints and the budget per cycle and per day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from lapor_sync.sync.recheck import RecheckBudget, RecheckCandidate, RecheckLimits, plan, wib_day

NOW = datetime(2024, 3, 4, 2, 0, tzinfo=UTC)  # 09:00 WIB
HOUR = timedelta(hours=1)


def ids(candidates: list[RecheckCandidate]) -> list[int]:
    return [c.complaint_id for c in candidates]


def test_the_deadline_falling_due_soonest_comes_first_whatever_was_seen_last() -> None:
    due_later_unseen_longest = RecheckCandidate(1, NOW + 48 * HOUR, NOW - 30 * HOUR)
    due_soonest_seen_lately = RecheckCandidate(2, NOW + HOUR, NOW - 2 * HOUR)
    overdue = RecheckCandidate(3, NOW - HOUR, NOW - 2 * HOUR)

    assert ids(plan([due_later_unseen_longest, due_soonest_seen_lately, overdue])) == [3, 2, 1]


def test_with_the_same_deadline_the_one_unseen_longest_comes_first() -> None:
    seen_lately = RecheckCandidate(1, NOW + HOUR, NOW - 2 * HOUR)
    unseen_longest = RecheckCandidate(2, NOW + HOUR, NOW - 9 * HOUR)

    assert ids(plan([seen_lately, unseen_longest])) == [2, 1]


def test_cases_without_a_pending_deadline_and_set_aside_records_come_last_longest_unseen_first() -> None:
    no_deadline = RecheckCandidate(1, None, NOW - 2 * HOUR)
    set_aside = RecheckCandidate(2, None, NOW - 5 * HOUR, set_aside=True)
    never_read = RecheckCandidate(3, None, None, set_aside=True)
    due = RecheckCandidate(4, NOW + 99 * HOUR, NOW - HOUR)

    assert ids(plan([no_deadline, set_aside, never_read, due])) == [4, 3, 2, 1]


def test_a_complaint_is_planned_once_as_first_given() -> None:
    case = RecheckCandidate(1, NOW, NOW - HOUR, set_aside=True)
    record = RecheckCandidate(1, None, NOW - 9 * HOUR, set_aside=True)

    assert plan([case, record]) == [case]


def test_the_budget_stops_at_the_cycle_limit() -> None:
    budget = RecheckBudget(RecheckLimits(per_cycle=3, per_day=100), spent_today=0)
    reads = 0
    while budget.allows():
        budget.spend(1)
        reads += 1

    assert (reads, budget.spent, budget.spent_today) == (3, 3, 3)


def test_the_budget_stops_at_what_is_left_of_the_day() -> None:
    budget = RecheckBudget(RecheckLimits(per_cycle=60, per_day=100), spent_today=98)

    assert budget.allows()
    budget.spend(2)  # a detail and a page of follow-ups
    assert not budget.allows()
    assert budget.spent_today == 100


def test_a_complaint_started_with_budget_left_is_counted_in_full() -> None:
    budget = RecheckBudget(RecheckLimits(per_cycle=3, per_day=100), spent_today=0)
    budget.spend(2)
    assert budget.allows()
    budget.spend(2)  # the last one read its follow-ups too: the cycle passes its limit by one request

    assert (budget.allows(), budget.spent) == (False, 4)


def test_the_day_of_a_budget_is_the_wib_date() -> None:
    assert wib_day(datetime(2024, 3, 4, 16, 59, 59, tzinfo=UTC)) == date(2024, 3, 4)
    assert wib_day(datetime(2024, 3, 4, 17, 0, tzinfo=UTC)) == date(2024, 3, 5)  # midnight WIB
