"""The console's read models (lapor_sync.queries) on SQLite and PostgreSQL: filters, keyset pages, privacy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlmodel import Session

from lapor_sync.domain.outbox import OutboxState
from lapor_sync.domain.runs import Level
from lapor_sync.domain.sla import SlaPolicy
from lapor_sync.domain.status import CaseState
from lapor_sync.domain.workdays import WorkingCalendar
from lapor_sync.queries.cases import CaseFilter, search_cases
from lapor_sync.queries.daily import daily_series, overdue_by_agency
from lapor_sync.queries.events import EventFilter, search_events
from lapor_sync.queries.outbox import search_outbox
from lapor_sync.queries.page import MAX_LIMIT, Page
from lapor_sync.queries.runs import run_events, search_runs
from lapor_sync.queries.set_aside import search_set_aside
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import Agency, Case, OutboxItem, SetAsideRecord, SyncEvent, SyncRun

INST, OTHER = 6271, 9999
T0 = datetime(2024, 7, 1, 2, 0, tzinfo=UTC)  # Monday 1 July 2024, 09:00 WIB
T = TypeVar("T")


def _case(n: int, **changes: Any) -> Case:
    fields: dict[str, Any] = {
        "institution_id": INST,
        "complaint_id": 3_000_000 + n,
        "tracking_id": str(1_900_000 + n),
        "agency_code": "DISHUB" if n % 2 else "DINSOS",
        "routing_rule": "category",
        "state": "new",
        "title": f"Jalan rusak {n}",
        "content": "Lubang di jalan Tjilik Riwut.",
        "content_length": 29,
        "national_status_code": 1,
        "national_status_name": "Terverifikasi",
        "is_anonymous": False,
        "is_secret": False,
        "is_priority": False,
        "reporter_name": "Budi Contoh",
        "reporter_email": "budi@contoh.id",
        "reporter_phone": "0812-0000-0001",
        "complaint_created_at": T0,
        "dispositioned_at": T0,
        "received_at": T0,
    }
    return Case(**{**fields, **changes})


def _agencies(session: Session) -> None:
    session.add_all([Agency(code="DISHUB", name="Dinas Perhubungan"), Agency(code="DINSOS", name="Dinas Sosial")])
    session.flush()


def _walk(fetch: Callable[[int | None], Page[T]], row_id: Callable[[T], int | None]) -> list[int | None]:
    """Every row id over all pages, following ``next_before``."""
    ids: list[int | None] = []
    before: int | None = None
    while True:
        page = fetch(before)
        ids += [row_id(r) for r in page.rows]
        if page.next_before is None:
            return ids
        before = page.next_before


def test_cases_pages_cover_every_row_once_newest_first(database: Database) -> None:
    with database.session() as session:
        _agencies(session)
        session.add_all([_case(n) for n in range(23)] + [_case(99, institution_id=OTHER)])
        session.commit()
        ids = _walk(lambda b: search_cases(session, INST, before_id=b, limit=5), lambda c: c.id)
        assert len(ids) == 23 == len(set(ids))
        assert ids == sorted(ids, reverse=True)
        whole = search_cases(session, INST, limit=23)
    assert whole.next_before is None and [c.id for c in whole.rows] == ids


def test_cases_filter_by_tracking_prefix_agency_and_state(database: Database) -> None:
    with database.session() as session:
        _agencies(session)
        session.add_all([_case(n, state="completed" if n == 4 else "new") for n in range(12)])
        session.commit()
        by_prefix = search_cases(session, INST, CaseFilter(tracking_id="#190001"))
        exact = search_cases(session, INST, CaseFilter(tracking_id="1900003"))
        dishub = search_cases(session, INST, CaseFilter(agency_code="dishub"))
        done = search_cases(session, INST, CaseFilter(state=CaseState.COMPLETED))
        open_ = search_cases(session, INST, CaseFilter(open_only=True))
    assert sorted(c.tracking_id for c in by_prefix.rows) == ["1900010", "1900011"]
    assert [c.tracking_id for c in exact.rows] == ["1900003"]
    assert {c.agency_code for c in dishub.rows} == {"DISHUB"} and len(dishub.rows) == 6
    assert [c.tracking_id for c in done.rows] == ["1900004"]
    assert len(open_.rows) == 11


def test_case_text_search_matches_title_and_content_case_insensitively(database: Database) -> None:
    with database.session() as session:
        _agencies(session)
        session.add_all(
            [
                _case(1, title="Lampu penerangan MATI"),
                _case(2, content="Sampah menumpuk, lampu 50% mati_total"),
                _case(3),
            ]
        )
        session.commit()
        lamp = search_cases(session, INST, CaseFilter(text="  lampu "))
        literal = search_cases(session, INST, CaseFilter(text="50% mati_"))
        wildcard = search_cases(session, INST, CaseFilter(text="%"))
    assert sorted(c.complaint_id for c in lamp.rows) == [3_000_001, 3_000_002]
    assert [c.complaint_id for c in literal.rows] == [3_000_002]
    assert [c.complaint_id for c in wildcard.rows] == [3_000_002]  # '%' is a character, not a wildcard


@pytest.mark.parametrize("words", ["Budi", "contoh.id", "0812-0000"])
def test_case_text_search_never_matches_reporter_fields(database: Database, words: str) -> None:
    with database.session() as session:
        _agencies(session)
        session.add(
            _case(1, reporter_name="Budi Contoh", reporter_email="budi@contoh.id", reporter_phone="0812-0000-0001")
        )
        session.commit()
        found = search_cases(session, INST, CaseFilter(text=words, include_confidential=True))
    assert found.rows == []


def test_case_text_search_finds_confidential_cases_only_for_allowed_callers(database: Database) -> None:
    with database.session() as session:
        _agencies(session)
        session.add_all([_case(1, is_secret=True, content="Dugaan pungli di kantor"), _case(2)])
        session.commit()
        hidden = search_cases(session, INST, CaseFilter(text="pungli"))
        allowed = search_cases(session, INST, CaseFilter(text="pungli", include_confidential=True))
        listed = search_cases(session, INST)  # without words a confidential case is still listed
    assert hidden.rows == []
    assert [c.complaint_id for c in allowed.rows] == [3_000_001]
    assert len(listed.rows) == 2


def _run(session: Session, job: str, *, outcome: str = "ok", trigger: str = "schedule", inst: int = INST) -> SyncRun:
    run = SyncRun(institution_id=inst, job=job, trigger=trigger, started_at=T0, outcome=outcome)
    session.add(run)
    session.flush()
    return run


def _event(run: SyncRun | None, n: int, **changes: Any) -> SyncEvent:
    fields: dict[str, Any] = {
        "run_id": run.id if run else None,
        "at": T0 + timedelta(minutes=n),
        "tracking_id": str(1_900_000 + n % 3),
        "agency_code": "DISHUB" if n % 2 else "DINSOS",
        "kind": "complaint.created",
        "level": "info",
        "message": f"event {n}",
    }
    return SyncEvent(**{**fields, **changes})


def test_runs_filter_and_page(database: Database) -> None:
    with database.session() as session:
        for n in range(7):
            _run(session, "pull" if n % 2 else "push", outcome="failed" if n == 3 else "ok")
        _run(session, "pull", trigger="manual")
        _run(session, "pull", inst=OTHER)
        session.commit()
        pulls = _walk(lambda b: search_runs(session, INST, job=" Pull ", before_id=b, limit=2), lambda r: r.id)
        failed = search_runs(session, INST, outcome="failed")
        manual = search_runs(session, INST, trigger="manual")
    assert len(pulls) == 4 == len(set(pulls)) and pulls == sorted(pulls, reverse=True)
    assert [r.outcome for r in failed.rows] == ["failed"]
    assert len(manual.rows) == 1 and manual.rows[0].trigger == "manual"


def test_run_events_in_order_from_after_id(database: Database) -> None:
    with database.session() as session:
        run, other = _run(session, "pull"), _run(session, "push")
        session.add_all([_event(run if n % 3 else other, n) for n in range(10)])
        session.commit()
        first = run_events(session, run.id or 0, limit=3)
        rest = run_events(session, run.id or 0, after_id=first[-1].id)
    ids = [e.id for e in first + rest]
    assert len(ids) == 6 == len(set(ids)) and ids == sorted(ids)
    assert {e.run_id for e in first + rest} == {run.id}


def test_events_scope_filters_and_pages(database: Database) -> None:
    with database.session() as session:
        mine, theirs = _run(session, "pull"), _run(session, "pull", inst=OTHER)
        session.add_all([_event(mine, n) for n in range(12)])
        session.add_all(
            [
                _event(theirs, 50),
                _event(None, 51, kind="case.reassigned"),  # an admin's event, outside any run
                _event(mine, 52, kind="outbox.dead_letter", level="error"),
                _event(mine, 53, kind="complaint.triage", level="warning"),
                _event(mine, 54, kind="complaintx", level="info"),
            ]
        )
        session.commit()
        every = _walk(lambda b: search_events(session, INST, before_id=b, limit=4), lambda e: e.id)
        warned = search_events(session, INST, EventFilter(level=Level.WARNING))
        family = search_events(session, INST, EventFilter(kind="complaint"))
        tracked = search_events(session, INST, EventFilter(tracking_id="#1900001", agency_code="dishub"))
        window = search_events(
            session, INST, EventFilter(since=T0 + timedelta(minutes=3), until=T0 + timedelta(minutes=5))
        )
    assert len(every) == 16 == len(set(every)) and every == sorted(every, reverse=True)
    assert sorted(e.message for e in warned.rows) == ["event 52", "event 53"]
    assert len(family.rows) == 13 and all(e.kind.startswith("complaint.") for e in family.rows)
    assert {(e.tracking_id, e.agency_code) for e in tracked.rows} == {("1900001", "DISHUB")}
    assert [e.message for e in window.rows] == ["event 4", "event 3"]


def test_events_tail_gives_newer_events_oldest_first(database: Database) -> None:
    with database.session() as session:
        run = _run(session, "pull")
        session.add_all([_event(run, n) for n in range(5)])
        session.commit()
        newest = search_events(session, INST, limit=2).rows[-1].id or 0
        session.add_all([_event(run, n) for n in range(5, 8)])
        session.commit()
        tail = search_events(session, INST, after_id=newest)
    assert [e.message for e in tail.rows] == ["event 4", "event 5", "event 6", "event 7"]
    assert tail.next_before is None


def _outbox(n: int, state: str, kind: str = "followup", **changes: Any) -> OutboxItem:
    fields: dict[str, Any] = {
        "case_id": 1,
        "institution_id": INST,
        "complaint_id": 3_000_001,
        "tracking_id": "1900001" if n % 2 else "1900002",
        "kind": kind,
        "payload": {"content": "x"},
        "idempotency_key": f"k{n}",
        "state": state,
        "next_attempt_at": T0,
        "created_at": T0,
    }
    return OutboxItem(**{**fields, **changes})


def test_outbox_filters_and_pages(database: Database) -> None:
    with database.session() as session:
        _agencies(session)
        session.add(_case(1))
        session.flush()
        states = ["pending", "dead", "delivered", "cancelled", "sending"]
        session.add_all([_outbox(n, states[n % 5], "complete" if n == 7 else "followup") for n in range(15)])
        session.add(_outbox(99, "dead", institution_id=OTHER))
        session.commit()
        every = _walk(lambda b: search_outbox(session, INST, before_id=b, limit=4), lambda r: r.id)
        dead = search_outbox(session, INST, state=OutboxState.DEAD)
        complete = search_outbox(session, INST, kind="complete")
        tracked = search_outbox(session, INST, tracking_id="#1900001")
    assert len(every) == 15 == len(set(every))
    assert len(dead.rows) == 3 and {r.state for r in dead.rows} == {"dead"}
    assert [r.idempotency_key for r in complete.rows] == ["k7"]
    assert len(tracked.rows) == 7 and {r.tracking_id for r in tracked.rows} == {"1900001"}


def test_set_aside_hides_resolved_unless_asked(database: Database) -> None:
    with database.session() as session:
        session.add_all(
            [
                SetAsideRecord(
                    institution_id=INST,
                    complaint_id=n,
                    reason="bad date",
                    raw="{}",
                    first_seen_at=T0,
                    last_seen_at=T0,
                    resolved_at=T0 if n % 2 else None,
                )
                for n in range(9)
            ]
        )
        session.commit()
        unresolved = _walk(lambda b: search_set_aside(session, INST, before_id=b, limit=2), lambda r: r.id)
        every = search_set_aside(session, INST, include_resolved=True)
        one = search_set_aside(session, INST, include_resolved=True, complaint_id=3)
    assert len(unresolved) == 5 == len(set(unresolved))
    assert len(every.rows) == 9
    assert [r.complaint_id for r in one.rows] == [3]


def test_limit_is_capped(database: Database) -> None:
    with database.session() as session:
        run = _run(session, "pull")
        session.add_all([_event(run, n) for n in range(MAX_LIMIT + 5)])
        session.commit()
        page = search_events(session, INST, limit=10_000)
    assert len(page.rows) == MAX_LIMIT and page.next_before == page.rows[-1].id


def _wib(day: int, hour: int) -> datetime:
    """An instant on ``day`` July 2024 at ``hour`` WIB."""
    return datetime(2024, 7, day, hour, tzinfo=UTC) - timedelta(hours=7)


def test_daily_series_counts_per_wib_day(database: Database) -> None:
    policy = SlaPolicy(WorkingCalendar(()), followup_working_days=5, autoclose_working_days=10, due_soon_working_days=2)
    with database.session() as session:
        _agencies(session)
        session.add_all(
            [
                _case(1, received_at=_wib(1, 10), dispositioned_at=_wib(1, 9), closed_at=_wib(3, 1), state="completed"),
                # 2 July 06:30 WIB is still 1 July in UTC: counted on the 2nd
                _case(2, received_at=_wib(2, 6) + timedelta(minutes=30), dispositioned_at=_wib(1, 9)),
                _case(3, received_at=_wib(3, 23), dispositioned_at=_wib(3, 22)),
                _case(4, received_at=_wib(1, 10), institution_id=OTHER),
            ]
        )
        session.flush()
        session.add_all(
            [
                _outbox(1, "delivered", delivered_at=_wib(2, 0) + timedelta(minutes=5)),
                _outbox(2, "delivered", delivered_at=_wib(3, 12)),
                _outbox(3, "pending"),
            ]
        )
        session.commit()
        series = daily_series(session, INST, now=_wib(3, 23) + timedelta(minutes=30), days=3)
        on_time = overdue_by_agency(session, INST, policy=policy, now=_wib(3, 23))
        late = overdue_by_agency(session, INST, policy=policy, now=_wib(31, 12))
    assert series.days == [date(2024, 7, 1), date(2024, 7, 2), date(2024, 7, 3)]
    assert series.pulled == [1, 1, 1]
    assert series.pushed == [0, 1, 1]
    assert series.backlog == [1, 2, 2]  # case 1 closed on the 3rd
    assert on_time == {}
    assert late == {"DINSOS": 1, "DISHUB": 1}


def test_text_search_on_postgresql_reads_the_trigram_indexes(database: Database) -> None:
    if database.engine.dialect.name != "postgresql":
        pytest.skip("trigram indexes exist on PostgreSQL only")
    with database.engine.connect() as connection:
        connection.exec_driver_sql("SET enable_seqscan = off")  # an empty table: make the index the only way
        plan = "\n".join(
            row[0]
            for row in connection.exec_driver_sql(
                """EXPLAIN SELECT id FROM "case" WHERE title ILIKE %(w)s OR content ILIKE %(w)s""", {"w": "%lampu%"}
            )
        )
    assert "ix_case_title_trgm" in plan and "ix_case_content_trgm" in plan
