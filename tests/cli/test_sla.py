"""The ``sla`` command and the worker's daily SLA check, on a temp SQLite database of received cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlmodel import col, select

from lapor_sync.adapters.city.builtin import BuiltinCityRecords
from lapor_sync.app import App
from lapor_sync.config.mapping_file import load_mapping
from lapor_sync.config.settings import Settings
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.complaint import AuthorType
from lapor_sync.domain.timezones import WIB
from lapor_sync.reports.sla import check_sla, sla_policy
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import SyncEvent
from lapor_sync.sync.journal import RunJournal
from lapor_sync.sync.service import sync_agencies
from tests.support.cli import PERSONAL, cli_env, invoke, invoke_json, utc
from tests.support.factories import complaint, followup, snapshot

__all__ = ["cli_env"]  # fixture

CITY = 6271
DINSOS, DISHUB = 627104, 627103


def wib(*parts: int) -> datetime:
    """An aware instant written in WIB."""
    return datetime(*parts, tzinfo=WIB)


@dataclass(frozen=True)
class Cases:
    """The complaint ids :func:`seed_cases` received."""

    late: int = 3_100_001  # DINSOS, dispositioned Thu 4 Apr 10:00, never followed up: due Fri 19 Apr 10:00
    fresh: int = 3_100_002  # DINSOS, dispositioned Thu 25 Apr 09:00: due Fri 3 May 09:00 (1 May off)
    followed: int = 3_100_003  # DISHUB, staff follow-up Fri 5 Apr 15:00: auto-close expected Mon 29 Apr 15:00
    replied: int = 3_100_004  # DINSOS, followed up then the reporter replied: nothing due
    closed: int = 3_100_005  # DINSOS, completed nationally: never listed


def seed_cases(url: str) -> Cases:
    """Receive five complaints as a pull would, and post one follow-up as staff would."""
    ids, clock = Cases(), ManualClock(wib(2024, 4, 5, 15, 0))
    db, mapping = Database(url), load_mapping()
    db.upgrade()
    snapshots = [
        snapshot(complaint(ids.late, created_at=wib(2024, 4, 4, 10, 0))),
        snapshot(complaint(ids.fresh, created_at=wib(2024, 4, 25, 9, 0))),
        snapshot(
            complaint(
                ids.followed,
                created_at=wib(2024, 4, 5, 8, 0),
                disposition_id=DISHUB,
                disposition_name="Dinas Perhubungan",
            )
        ),
        snapshot(
            complaint(ids.replied, created_at=wib(2024, 4, 1, 9, 0)),
            thread=(
                followup(1, "Sedang dicek.", at=wib(2024, 4, 2, 10, 0)),
                followup(2, "Terima kasih.", author=AuthorType.REPORTER, at=wib(2024, 4, 3, 10, 0)),
            ),
        ),
        snapshot(complaint(ids.closed, created_at=wib(2024, 4, 1, 9, 0), status_code=3, status_name="Selesai")),
    ]
    with db.session() as session:
        sync_agencies(session, mapping)
        records = BuiltinCityRecords(session, mapping=mapping, clock=clock)
        for snap in snapshots:
            c = snap.complaint
            routing = mapping.route(c.disposition_id, c.category_id, c.category_name)
            records.receive(
                snap,
                agency_code=routing.agency_code,
                routing_rule=routing.rule,
                state=mapping.case_state_for(c.status_code),
            )
        records.act(
            records.get_case(complaint_id=ids.followed),
            AgencyAction.FOLLOWUP,
            institution_id=DISHUB,
            content="Petugas meninjau lokasi.",
        )
        session.commit()
    db.dispose()
    return ids


@pytest.fixture
def cases(cli_env: str) -> Cases:
    """The temp database with :class:`Cases` received."""
    return seed_cases(cli_env)


def test_json_lists_overdue_and_due_soon_cases_per_agency_in_utc(cases: Cases) -> None:
    report = invoke_json("sla", "--at", "2024-04-26T12:00")

    assert utc(report["at"]) == wib(2024, 4, 26, 12, 0)
    assert report["limits"] == {
        "sla_followup_working_days": 5,
        "sla_autoclose_working_days": 10,
        "sla_due_soon_working_days": 1,
        "extra_non_working_days": [],
    }
    assert report["open_cases"] == 4
    assert report["counts"] == {"overdue": 1, "due_soon": 1, "on_track": 1, "met": 1}
    assert [(a["agency_code"], a["agency_name"]) for a in report["agencies"]] == [
        ("DINSOS", "Dinas Sosial"),
        ("DISHUB", "Dinas Perhubungan"),
    ]
    late = report["agencies"][0]["cases"]
    assert [c["complaint_id"] for c in late] == [cases.late]
    assert (late[0]["status"], late[0]["pressing"], late[0]["tracking_id"]) == ("overdue", "followup", "1900001")
    assert utc(late[0]["followup"]["due_at"]) == wib(2024, 4, 19, 10, 0)  # across Idul Fitri
    assert late[0]["followup"]["met_at"] is None and late[0]["auto_close"] is None
    soon = report["agencies"][1]["cases"][0]
    assert (soon["complaint_id"], soon["status"], soon["pressing"]) == (cases.followed, "due_soon", "auto_close")
    assert utc(soon["followup"]["met_at"]) == wib(2024, 4, 5, 15, 0)
    assert utc(soon["auto_close"]["due_at"]) == wib(2024, 4, 29, 15, 0)
    assert report["agencies"][1]["counts"]["due_soon"] == 1


def test_all_lists_every_open_case_and_agency_filters(cases: Cases) -> None:
    report = invoke_json("sla", "--all", "--agency", "dinsos", "--at", "2024-04-26T12:00+07:00")

    assert [a["agency_code"] for a in report["agencies"]] == ["DINSOS"]
    listed = [(c["complaint_id"], c["status"]) for c in report["agencies"][0]["cases"]]
    assert listed == [(cases.late, "overdue"), (cases.fresh, "on_track"), (cases.replied, "met")]
    fresh = report["agencies"][0]["cases"][1]
    assert utc(fresh["followup"]["due_at"]) == wib(2024, 5, 3, 9, 0)  # 1 May, Labour Day, skipped


def test_table_shows_wib_and_no_personal_data_or_titles(cases: Cases) -> None:
    result = invoke("sla", "--all", "--at", "2024-04-26T12:00")

    assert result.exit_code == 0, result.output
    assert "DINSOS — Dinas Sosial: 1 overdue, 0 due soon, 3 open" in result.stdout
    assert "overdue (follow-up)" in result.stdout and "due soon (expected auto-close)" in result.stdout
    assert "2024-04-19 10:00 WIB" in result.stdout and "#1900001" in result.stdout
    for hidden in (*PERSONAL, "Bantuan sosial", "Bantuan belum diterima"):
        assert hidden not in result.stdout
    assert "Budi" not in invoke("sla", "--json", "--all", "--at", "2024-04-26").stdout


def test_nothing_pressing_and_unknown_agency(cases: Cases) -> None:
    quiet = invoke("sla", "--at", "2024-04-08")
    assert quiet.exit_code == 0 and "No overdue or due-soon cases at 2024-04-08 00:00 WIB (4 open cases" in quiet.stdout
    unknown = invoke("sla", "--agency", "NOPE")
    assert unknown.exit_code == 2 and "NOPE" in unknown.output


def test_daily_check_reports_each_overdue_deadline_once(cases: Cases, cli_env: str) -> None:
    clock = ManualClock(wib(2024, 4, 29, 16, 0))  # follow-up of `late` and auto-close of `followed` overdue
    app = App(Settings.load(), clock=clock)

    def run() -> tuple[dict[str, int], list[SyncEvent]]:
        journal = RunJournal(app.db, clock, CITY, "sla", "schedule").start()
        counts = check_sla(journal, sla_policy(app.settings))
        journal.finish()
        with app.db.session() as session:
            events = list(
                session.exec(select(SyncEvent).where(SyncEvent.run_id == journal.run_id).order_by(col(SyncEvent.id)))
            )
        return counts, events

    counts, events = run()
    assert counts == {"checked": 4, "overdue": 2, "due_soon": 0, "reported": 2}
    assert [(e.kind, e.level, e.complaint_id, e.agency_code) for e in events] == [
        ("sla.overdue", "warning", cases.late, "DINSOS"),
        ("sla.overdue", "warning", cases.followed, "DISHUB"),
    ]
    assert events[0].message.startswith("#1900001 (DINSOS): follow-up overdue since 2024-04-19 10:00 WIB")
    assert events[1].message.startswith("#1900003 (DISHUB): expected auto-close overdue since 2024-04-29 15:00 WIB")
    for event in events:
        assert not any(p in event.message for p in (*PERSONAL, "Bantuan"))

    clock.advance(timedelta(days=1))
    assert run() == ({"checked": 4, "overdue": 2, "due_soon": 0, "reported": 0}, [])

    with app.db.session() as session:  # a new follow-up moves the expected auto-close: a new deadline
        records = BuiltinCityRecords(session, mapping=app.mapping, clock=clock)
        records.act(
            records.get_case(complaint_id=cases.followed),
            AgencyAction.FOLLOWUP,
            institution_id=DISHUB,
            content="Perbaikan dijadwalkan.",
        )
        session.commit()
    clock.set(wib(2024, 5, 17, 16, 0))  # Tue 30 Apr 16:00 + 10 working days (1, 9 and 10 May off)
    counts, events = run()
    assert counts["reported"] == 2
    assert [e.message.split(";")[0] for e in events] == [
        "#1900002 (DINSOS): follow-up overdue since 2024-05-03 09:00 WIB",
        "#1900003 (DISHUB): expected auto-close overdue since 2024-05-17 16:00 WIB",
    ]
    app.db.dispose()
