"""SLA rules: follow-up due after disposition, expected auto-close after the last follow-up, status at an instant."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from lapor_sync.domain.complaint import AuthorType
from lapor_sync.domain.sla import DeadlineKind, SlaCase, SlaPolicy, SlaStatus, ThreadMark
from lapor_sync.domain.status import CaseState
from lapor_sync.domain.timezones import WIB
from lapor_sync.domain.workdays import WorkingCalendar

POLICY = SlaPolicy(WorkingCalendar(), followup_working_days=5, autoclose_working_days=10, due_soon_working_days=1)
# Thu 4 Apr 2024 10:00 WIB; 5 working days: Fri 5 Apr, then 8-15 Apr off (Idul Fitri), 16, 17, 18, 19 Apr.
DISPOSITIONED = datetime(2024, 4, 4, 10, 0, tzinfo=WIB)
FOLLOWUP_DUE = datetime(2024, 4, 19, 10, 0, tzinfo=WIB)


def wib(*parts: int) -> datetime:
    """An aware instant written in WIB."""
    return datetime(*parts, tzinfo=WIB)


def agency(at: datetime) -> ThreadMark:
    """A follow-up written by the city's staff here."""
    return ThreadMark(AuthorType.INSTITUTION, "agency", at)


def national(author: AuthorType, at: datetime) -> ThreadMark:
    """An entry read from LAPOR!."""
    return ThreadMark(author, "national", at)


def case(*thread: ThreadMark, state: CaseState = CaseState.NEW, dispositioned: datetime = DISPOSITIONED) -> SlaCase:
    """A case dispositioned at ``dispositioned`` with ``thread``."""
    return SlaCase(dispositioned, state, thread)


@pytest.mark.parametrize(
    ("at", "status"),
    [
        (wib(2024, 4, 5, 9, 0), SlaStatus.ON_TRACK),
        (wib(2024, 4, 17, 16, 0), SlaStatus.ON_TRACK),  # next working day is the 18th: not yet due soon
        (wib(2024, 4, 18, 9, 0), SlaStatus.DUE_SOON),  # due on the next working day
        (wib(2024, 4, 19, 9, 59), SlaStatus.DUE_SOON),
        (wib(2024, 4, 19, 10, 0), SlaStatus.OVERDUE),
        (wib(2024, 5, 1, 10, 0), SlaStatus.OVERDUE),
    ],
)
def test_followup_is_due_five_working_days_after_disposition_across_idul_fitri(at: datetime, status: SlaStatus) -> None:
    result = POLICY.evaluate(case(), at)

    assert result.followup.kind is DeadlineKind.FOLLOWUP
    assert result.followup.due_at == FOLLOWUP_DUE and result.followup.due_at.tzinfo is UTC
    assert (result.followup.status, result.status, result.followup.met_at) == (status, status, None)
    assert result.auto_close is None and result.pressing is result.followup


def test_a_followup_meets_the_deadline_and_starts_the_auto_close_expectation() -> None:
    # Followed up on Tue 16 Apr 14:00: auto-close 10 working days later, Tue 30 Apr 14:00 WIB.
    followed = wib(2024, 4, 16, 14, 0)
    result = POLICY.evaluate(case(national(AuthorType.INSTITUTION, followed)), wib(2024, 4, 22, 9, 0))

    followup = result.followup
    assert (followup.status, followup.met_at, followup.met_late) == (SlaStatus.MET, followed, False)
    assert result.auto_close is not None and result.auto_close.due_at == wib(2024, 4, 30, 14, 0)
    assert result.auto_close.status is SlaStatus.ON_TRACK
    assert result.status is SlaStatus.ON_TRACK and result.pressing is result.auto_close


def test_a_late_followup_still_meets_the_deadline_but_is_marked_late() -> None:
    late = wib(2024, 4, 22, 9, 0)
    result = POLICY.evaluate(case(agency(late)), wib(2024, 4, 22, 10, 0))
    assert (result.followup.status, result.followup.met_late) == (SlaStatus.MET, True)


def test_auto_close_counts_from_the_last_followup_across_labour_day() -> None:
    # Last follow-up Fri 26 Apr 11:00; 1 May (Labour Day) and 9-10 May (Ascension) are off:
    # 29, 30 Apr, 2, 3, 6, 7, 8, 13, 14, 15 May.
    first, last = wib(2024, 4, 16, 9, 0), wib(2024, 4, 26, 11, 0)
    thread = (agency(last), national(AuthorType.INSTITUTION, first))  # any order
    result = POLICY.evaluate(case(*thread, state=CaseState.IN_PROGRESS), wib(2024, 5, 14, 12, 0))

    assert result.followup.met_at == first
    assert result.auto_close is not None and result.auto_close.due_at == wib(2024, 5, 15, 11, 0)
    assert result.status is SlaStatus.DUE_SOON
    overdue = POLICY.evaluate(case(*thread, state=CaseState.IN_PROGRESS), wib(2024, 5, 15, 11, 0))
    assert overdue.status is SlaStatus.OVERDUE and overdue.pressing.kind is DeadlineKind.AUTO_CLOSE


@pytest.mark.parametrize("author", [AuthorType.REPORTER, AuthorType.ADMIN])
def test_a_reply_after_the_last_followup_stops_the_auto_close_until_the_next_followup(author: AuthorType) -> None:
    followed, replied, again = wib(2024, 4, 16, 9, 0), wib(2024, 4, 17, 9, 0), wib(2024, 4, 18, 15, 0)
    at = wib(2024, 4, 30, 12, 0)

    waiting = POLICY.evaluate(case(agency(followed), national(author, replied)), at)
    assert waiting.auto_close is None and waiting.status is SlaStatus.MET

    reset = POLICY.evaluate(case(agency(followed), national(author, replied), agency(again)), at)
    assert reset.auto_close is not None and reset.auto_close.due_at == wib(2024, 5, 3, 15, 0)  # 1 May off


def test_a_reply_before_the_followup_does_not_stop_the_auto_close() -> None:
    thread = (national(AuthorType.REPORTER, wib(2024, 4, 5, 9, 0)), agency(wib(2024, 4, 16, 9, 0)))
    assert POLICY.evaluate(case(*thread), wib(2024, 4, 17, 9, 0)).auto_close is not None


def test_a_closed_case_owes_nothing() -> None:
    result = POLICY.evaluate(case(state=CaseState.ARCHIVED), wib(2024, 6, 1, 9, 0))
    assert (result.status, result.followup.status, result.auto_close) == (SlaStatus.MET, SlaStatus.MET, None)


def test_limits_and_extra_days_off_come_from_the_policy() -> None:
    extra = SlaPolicy(
        WorkingCalendar([date(2024, 4, 19)]),
        followup_working_days=5,
        autoclose_working_days=10,
        due_soon_working_days=0,
    )
    result = extra.evaluate(case(), wib(2024, 4, 19, 12, 0))
    assert result.followup.due_at == wib(2024, 4, 22, 10, 0) and result.status is SlaStatus.ON_TRACK
    assert extra.evaluate(case(), wib(2024, 4, 22, 8, 0)).status is SlaStatus.DUE_SOON  # due today
    shorter = SlaPolicy(WorkingCalendar(), followup_working_days=1, autoclose_working_days=10, due_soon_working_days=1)
    assert shorter.evaluate(case(), wib(2024, 4, 5, 10, 0)).status is SlaStatus.OVERDUE


def test_on_a_weekend_a_deadline_on_monday_is_due_soon() -> None:
    # Dispositioned Mon 15 Jul 2024 10:00: due Mon 22 Jul 10:00, seen on Saturday 20 Jul.
    result = POLICY.evaluate(case(dispositioned=wib(2024, 7, 15, 10, 0)), wib(2024, 7, 20, 9, 0))
    assert result.followup.due_at == wib(2024, 7, 22, 10, 0) and result.status is SlaStatus.DUE_SOON


def test_working_days_left_count_to_the_due_date_and_past_it_and_stop_once_met() -> None:
    owed = POLICY.evaluate(case(), wib(2024, 4, 5, 9, 0)).followup
    assert POLICY.working_days_left(owed, wib(2024, 4, 5, 9, 0)) == 4  # 16-19 Apr
    late = POLICY.evaluate(case(), wib(2024, 4, 23, 9, 0)).followup
    assert POLICY.working_days_left(late, wib(2024, 4, 23, 9, 0)) == -2  # 22, 23 Apr
    met = POLICY.evaluate(case(agency(wib(2024, 4, 5, 11, 0))), wib(2024, 4, 23, 9, 0)).followup
    assert POLICY.working_days_left(met, wib(2024, 4, 23, 9, 0)) is None


def _status_by_cutoffs(start: datetime, kind: DeadlineKind, at: datetime) -> SlaStatus:
    cut = POLICY.cutoffs(kind, at)
    if any((since is None or since <= start) and start < until for since, until in cut.overdue):
        return SlaStatus.OVERDUE
    return SlaStatus.DUE_SOON if start < cut.due_soon_before else SlaStatus.ON_TRACK


@pytest.mark.parametrize("at", [wib(2024, 4, 16, 9, 59), wib(2024, 4, 16, 10, 0), wib(2024, 4, 20, 12, 0)])
def test_the_cutoffs_judge_each_deadline_as_evaluate_does(at: datetime) -> None:
    starts = [wib(2024, 3, 20, 10, 0) + n * (wib(2024, 3, 20, 17, 0) - wib(2024, 3, 20, 10, 0)) for n in range(100)]
    for start in starts:
        owed = POLICY.evaluate(case(dispositioned=start), at)  # no follow-up yet: the follow-up is owed
        assert _status_by_cutoffs(start, DeadlineKind.FOLLOWUP, at) is owed.status, start
        waiting = POLICY.evaluate(case(agency(start), dispositioned=start), at)  # the auto-close is expected
        assert _status_by_cutoffs(start, DeadlineKind.AUTO_CLOSE, at) is waiting.status, start
