"""The one-query SLA count equals the rule evaluated case by case, on a varied year of cases."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session

from lapor_sync.domain.complaint import AuthorType
from lapor_sync.domain.sla import SlaPolicy, SlaStatus
from lapor_sync.domain.workdays import ONE_MICROSECOND, WorkingCalendar
from lapor_sync.reports.sla import CaseSla, by_agency, evaluate_open_cases
from lapor_sync.reports.sla_counts import SlaCounts, count_open_cases, most_pressing_cases, pressing_cases
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import Agency, Case, ThreadEntry

INST, OTHER = 6271, 9999
AGENCIES = ("DISHUB", "DINSOS", "DPUPR")
# 1 March 2024 00:00 WIB: the data runs over Ramadan, Idul Fitri and its cuti bersama (8-15 April).
START = datetime(2024, 2, 29, 17, 0, tzinfo=UTC)
POLICY = SlaPolicy(
    WorkingCalendar([datetime(2024, 4, 22, tzinfo=UTC).date()]),  # an extra day off, as configured
    followup_working_days=5,
    autoclose_working_days=10,
    due_soon_working_days=2,
)
# Who writes a thread entry: the agency here, the institution on LAPOR!, the reporter, LAPOR!'s admin.
AUTHORS = (("agency", AuthorType.INSTITUTION), ("national", AuthorType.INSTITUTION))
REPLIES = (("national", AuthorType.REPORTER), ("national", AuthorType.ADMIN))


def _case(rng: random.Random, n: int) -> Case:
    # Whole hours, and some on the stroke of a judged instant's time of day, so boundaries are hit.
    dispositioned = START + timedelta(hours=rng.randrange(0, 24 * 75), minutes=rng.choice((0, 0, 30, 59)))
    fields: dict[str, Any] = {
        "institution_id": OTHER if n % 23 == 0 else INST,
        "complaint_id": 4_000_000 + n,
        "tracking_id": str(2_100_000 + n),
        "agency_code": AGENCIES[n % 3],
        "routing_rule": "category",
        "state": rng.choice(("new", "in_progress", "in_progress", "completed", "archived")),
        "title": "Lampu jalan mati",
        "content": "Lampu penerangan jalan mati sejak seminggu.",
        "content_length": 43,
        "national_status_code": 1,
        "national_status_name": "Terverifikasi",
        "is_anonymous": False,
        "is_secret": False,
        "is_priority": False,
        "complaint_created_at": dispositioned,
        "dispositioned_at": dispositioned,
        "received_at": dispositioned,
    }
    return Case(**fields)


def _thread(rng: random.Random, case: Case) -> list[ThreadEntry]:
    entries, at = [], case.dispositioned_at
    for _ in range(rng.choice((0, 0, 1, 2, 3, 5))):
        at += timedelta(hours=rng.choice((0, 1, 20, 50, 200)))  # 0: two entries at the same instant
        origin, author = rng.choice(AUTHORS + AUTHORS + REPLIES)
        entries.append(
            ThreadEntry(
                case_id=case.id, origin=origin, author_type=author.value, content="Sudah ditindaklanjuti.",
                content_length=22, created_at=at,
            )
        )  # fmt: skip
    return entries


def _per_case(session: Session, at: datetime) -> dict[str, SlaCounts]:
    """The counts from the rule evaluated case by case."""
    counts: dict[str, list[int]] = {}
    for row in evaluate_open_cases(session, INST, POLICY, at):
        tally = counts.setdefault(row.agency_code, [0, 0, 0, 0])
        tally[0] += 1
        tally[1] += row.result.status is SlaStatus.OVERDUE
        tally[2] += row.result.status is SlaStatus.DUE_SOON
        tally[3] += row.result.status is SlaStatus.MET
    return {code: SlaCounts(*tally) for code, tally in sorted(counts.items())}


@pytest.fixture
def varied(database: Database) -> list[datetime]:
    """600 cases over March to mid-May 2024; returns instants to judge at, boundaries among them."""
    rng = random.Random(15)
    with database.session() as session:
        session.add_all([Agency(code=code, name=code) for code in AGENCIES])
        session.flush()
        cases = [_case(rng, n) for n in range(600)]
        session.add_all(cases)
        session.flush()
        for case in cases:
            session.add_all(_thread(rng, case))
        session.commit()
        due = [POLICY.calendar.add_working_days(c.dispositioned_at, 5) for c in cases[:40:4]]
    at = [START + timedelta(days=d, hours=h) for d in (10, 30, 38, 46, 47, 52, 60, 80) for h in (2, 9, 16)]
    return at + due + [d - ONE_MICROSECOND for d in due]


def test_the_one_query_count_equals_the_rule_case_by_case(database: Database, varied: list[datetime]) -> None:
    with database.session() as session:
        differ = {
            at: (fast, slow)
            for at in varied
            if (fast := count_open_cases(session, INST, POLICY, at)) != (slow := _per_case(session, at))
        }
        some = count_open_cases(session, INST, POLICY, varied[-1], agency_code="DINSOS")
    assert differ == {}
    assert set(some) == {"DINSOS"}
    # The data set is varied enough to say something: each status is found at some instant.
    with database.session() as session:
        totals = [count_open_cases(session, INST, POLICY, at).values() for at in varied]
    assert any(c.overdue for t in totals for c in t) and any(c.due_soon for t in totals for c in t)
    assert any(c.on_track for t in totals for c in t) and any(c.met for t in totals for c in t)


def test_the_pressing_cases_are_those_the_rule_finds_overdue_or_due_soon(
    database: Database, varied: list[datetime]
) -> None:
    pressing = (SlaStatus.OVERDUE, SlaStatus.DUE_SOON)
    with database.session() as session:
        for at in varied[::3]:
            every = evaluate_open_cases(session, INST, POLICY, at)
            some = evaluate_open_cases(session, INST, POLICY, at, among=pressing_cases(INST, POLICY, at))
            assert sorted(some, key=lambda r: r.case_id) == [
                r for r in sorted(every, key=lambda r: r.case_id) if r.result.status in pressing
            ]


def _urgency(rows: list[CaseSla]) -> list[tuple[str, int, datetime]]:
    """Each row's place in the rule's order (agency, status, due instant); ties are equally pressing."""
    return [(r.agency_code, r.result.status.rank, r.result.pressing.due_at) for r in rows]


@pytest.mark.parametrize("per_agency", [1, 4, 25])
def test_the_most_pressing_cases_are_the_first_the_rule_lists(
    database: Database, varied: list[datetime], per_agency: int
) -> None:
    pressing = (SlaStatus.OVERDUE, SlaStatus.DUE_SOON)
    with database.session() as session:
        for at in varied[::3]:
            every = [r for r in evaluate_open_cases(session, INST, POLICY, at) if r.result.status in pressing]
            among = most_pressing_cases(session, INST, POLICY, at, per_agency)
            chosen = evaluate_open_cases(session, INST, POLICY, at, among=among)
            assert len(chosen) <= max(len(every) // 3, 4 * per_agency * len(AGENCIES))  # a few evaluated
            first = [r for rows in by_agency(every).values() for r in rows[:per_agency]]
            shown = [r for rows in by_agency(chosen).values() for r in rows[:per_agency]]
            assert _urgency(shown) == _urgency(first), at
