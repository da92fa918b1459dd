"""The purge (UU 27/2022): reporter identity and texts of long-closed cases go, what statistics need stays."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import Result
from sqlmodel import select
from typer.testing import CliRunner

from lapor_sync.adapters.city.builtin import BuiltinCityRecords
from lapor_sync.checks import check_invariants
from lapor_sync.cli.app import app
from lapor_sync.config.mapping_file import load_mapping
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.complaint import AuthorType, Complaint, ComplaintSnapshot, Reporter
from lapor_sync.domain.errors import LeaseBusy
from lapor_sync.domain.reference import tag_content
from lapor_sync.domain.status import NATIONAL_STATUS_NAMES, NationalStatus
from lapor_sync.domain.timezones import WIB, display_wib
from lapor_sync.simulator.catalog import category_id
from lapor_sync.simulator.faults.plan import FaultPlan
from lapor_sync.storage.database import Database
from lapor_sync.storage.lease import Leases, held_leases, holder_name
from lapor_sync.storage.models import PURGED_TEXT, Case, OutboxItem, SetAsideRecord, SyncEvent, ThreadEntry
from lapor_sync.sync.admin.outbox import OutboxRefused, requeue
from lapor_sync.sync.admin.purge import PurgeResult, plan_purge, run_purge
from lapor_sync.sync.admin.resync import run_resync
from lapor_sync.sync.admin.selection import Selection
from lapor_sync.sync.journal import RunJournal
from lapor_sync.sync.service import JobRunner, sync_agencies
from tests.support.cli import cli_env, invoke, invoke_json, receive_as_pulled
from tests.support.e2e import CITY, DINSOS, Harness
from tests.support.factories import T0, complaint, followup, snapshot
from tests.support.secret_search import table_rows

__all__ = ["cli_env"]  # fixture

MAPPING = load_mapping()
DAYS = 730
# Fictitious personal data and texts of the case to purge; each value appears nowhere else.
NAME, EMAIL, PHONE = "Rahmat Pelapor", "rahmat@contoh.id", "0811-5555-0101"
TITLE, CONTENT, PLACE = "Jalan berlubang di gang Mawar", "Lubang di depan rumah saya, Gang Mawar 7.", "Gang Mawar 7"
REPLY = "Sudah tiga bulan belum diperbaiki."
FOLLOWUP_TEXT, COMPLETE_NOTE = "Petugas meninjau Gang Mawar.", "Lubang Gang Mawar sudah ditambal."
RAW_TEXT = "Gang Mawar mentah"
REMOVED = (NAME, EMAIL, PHONE, TITLE, CONTENT, PLACE, REPLY, FOLLOWUP_TEXT, COMPLETE_NOTE, RAW_TEXT)
# What purging the one due case of ``_build`` removes: its reporter's identity, content and place, the
# reporter's reply and our follow-up, the texts of its two outbox rows, its set-aside record's payload.
REMOVED_COUNTS = {
    "reporter_identities": 1,
    "contents": 1,
    "places": 1,
    "thread_entries": 2,
    "outbox_payloads": 2,
    "set_aside_records": 1,
}


@dataclass(frozen=True)
class Cases:
    """Case ids: ``due`` (closed 731 days ago), ``open`` (received as long ago, still open),
    ``waiting`` (closed as long ago, its completion still pending), ``recent`` (closed 31 days ago)."""

    due: int
    open: int
    waiting: int
    recent: int


def replace_status(c: Complaint, status: NationalStatus) -> Complaint:
    """``c`` with another national status (its name from the contract's table)."""
    return replace(c, status_code=int(status), status_name=NATIONAL_STATUS_NAMES[status])


def _receive(db: Database, clock: ManualClock, snap: ComplaintSnapshot) -> int:
    """Store ``snap`` as a pull would (routing, state, events); return the case id."""
    journal = RunJournal(db, clock, CITY, "pull", "command").start()
    with db.session() as session:
        sync_agencies(session, MAPPING)
        received = receive_as_pulled(session, journal, BuiltinCityRecords(session, mapping=MAPPING, clock=clock), snap)
        session.commit()
    journal.finish()
    return received.case_id


def _act(
    db: Database, clock: ManualClock, case_id: int, action: AgencyAction, content: str, *, delivered: bool = True
) -> None:
    with db.session() as session:
        records = BuiltinCityRecords(session, mapping=MAPPING, clock=clock)
        item = records.act(records.get_case(case_id=case_id), action, institution_id=627104, content=content)
        if delivered:
            item.state, item.delivered_at = "delivered", clock.now()
            session.add(item)
        session.commit()


def _build(db: Database, clock: ManualClock) -> Cases:
    """Four cases as pulls and staff actions make them; the clock ends 731 days after the first closings."""
    reply = followup(1, REPLY, author=AuthorType.REPORTER, at=T0)
    due_complaint = complaint(
        3_100_001, title=TITLE, content=CONTENT, location_name=PLACE, reporter=Reporter(NAME, EMAIL, PHONE)
    )
    due = _receive(db, clock, snapshot(due_complaint, thread=(reply,)))
    _act(db, clock, due, AgencyAction.FOLLOWUP, FOLLOWUP_TEXT)
    _act(db, clock, due, AgencyAction.COMPLETE, COMPLETE_NOTE)
    _receive(db, clock, snapshot(replace_status(due_complaint, NationalStatus.COMPLETED), thread=(reply,)))
    with db.session() as session:
        session.add(
            SetAsideRecord(
                institution_id=CITY,
                complaint_id=3_100_001,
                reason="created_at: not a date",
                raw=json.dumps({"complaint_id": 3_100_001, "content": RAW_TEXT}),
                first_seen_at=clock.now(),
                last_seen_at=clock.now(),
                resolved_at=clock.now(),
            )
        )
        session.commit()
    open_ = _receive(db, clock, snapshot(complaint(3_100_002)))
    waiting = _receive(db, clock, snapshot(complaint(3_100_003)))
    _act(db, clock, waiting, AgencyAction.FOLLOWUP, "Ditinjau.")
    _act(db, clock, waiting, AgencyAction.COMPLETE, "Selesai.", delivered=False)
    recent = _receive(db, clock, snapshot(complaint(3_100_004)))
    clock.advance(timedelta(days=700))
    _receive(db, clock, snapshot(replace_status(complaint(3_100_004), NationalStatus.REJECTED)))
    clock.advance(timedelta(days=31))
    return Cases(due, open_, waiting, recent)


def _runner(db: Database, clock: ManualClock) -> JobRunner:
    return JobRunner(db=db, mapping=MAPPING, clock=clock, leases=Leases(db, clock, holder_name("test")))


def _purge(db: Database, clock: ManualClock, days: int = DAYS) -> PurgeResult:
    return run_purge(_runner(db, clock), days, requested_by="admin")


def _case(db: Database, case_id: int) -> Case:
    with db.session() as session:
        found = session.get(Case, case_id)
        assert found is not None
        return found


@pytest.fixture
def built(database: Database, clock: ManualClock) -> Cases:
    return _build(database, clock)


# -- the purge's effect ----------------------------------------------------------------------------


def test_a_purge_removes_reporter_identity_and_every_text_of_the_case(database, clock, built) -> None:
    before = _case(database, built.due)

    result = _purge(database, clock)

    assert [c.case_id for c in result.purged] == [built.due]
    case = _case(database, built.due)
    assert (case.reporter_name, case.reporter_email, case.reporter_phone, case.location_name) == (None,) * 4
    assert (case.title, case.content, case.content_length) == (PURGED_TEXT, PURGED_TEXT, 0)
    assert case.purged_at == clock.now()
    with database.session() as session:
        thread = session.exec(select(ThreadEntry).where(ThreadEntry.case_id == built.due)).all()
        outbox = session.exec(select(OutboxItem).where(OutboxItem.case_id == built.due).order_by(OutboxItem.id)).all()
        raw = session.exec(select(SetAsideRecord.raw)).one()
    assert {(e.origin, e.content, e.content_length) for e in thread} == {
        ("national", PURGED_TEXT, 0),
        ("agency", PURGED_TEXT, 0),
    }
    followup_row, complete_row = outbox
    assert followup_row.payload == {
        "call": "followup",
        "content": tag_content(followup_row.idempotency_key, PURGED_TEXT),
        "is_secret": False,
        "institution_id": 627104,
    }
    assert complete_row.payload == {"call": "status", "status_code": 3, "note": PURGED_TEXT, "institution_id": 627104}
    assert json.loads(raw) == PURGED_TEXT
    # No removed value is left anywhere: not in the case, the thread, the outbox, the events or the runs.
    everything = repr(table_rows(database.engine))
    assert [value for value in REMOVED if value in everything] == []
    assert result.removed() == REMOVED_COUNTS
    # What statistics need stays.
    kept = (
        "tracking_id",
        "agency_code",
        "routing_rule",
        "state",
        "category_name",
        "national_status_code",
        "complaint_created_at",
        "dispositioned_at",
        "received_at",
        "closed_at",
        "is_anonymous",
    )
    assert {k: getattr(case, k) for k in kept} == {k: getattr(before, k) for k in kept}


def test_a_purge_is_one_run_with_one_event_per_case_naming_what_went(database, clock, built) -> None:
    result = _purge(database, clock)

    assert result.run is not None and (result.run.job, result.run.outcome, result.run.updated) == ("purge", "ok", 1)
    with database.session() as session:
        events = session.exec(select(SyncEvent).where(SyncEvent.run_id == result.run.id).order_by(SyncEvent.id)).all()
    assert [(e.kind, e.tracking_id) for e in events] == [
        ("case.purged", "1900001"),
        ("case.purge_skipped", "1900003"),
        ("purge.done", None),
    ]
    assert (
        "removed 1 reporter identity, 1 title and content, 1 place, 2 thread entries' texts, 2 outbox rows' "
        "texts, 1 set-aside raw payload." in events[0].message
    )
    assert "1 outbox row still waiting" in events[1].message and events[1].level == "warning"
    assert "by admin" in events[2].message and "1 case purged; 1 case skipped" in events[2].message


def test_only_closed_cases_older_than_the_cutoff_are_purged(database, clock, built) -> None:
    untouched = {i: _case(database, i) for i in (built.open, built.waiting, built.recent)}

    result = _purge(database, clock)

    assert [c.case_id for c in result.skipped] == [built.waiting]
    assert {i: _case(database, i) for i in untouched} == untouched
    assert _case(database, built.recent).purged_at is None and _case(database, built.recent).state == "rejected"
    # A shorter limit reaches the recently closed case too; the open one never.
    assert [c.case_id for c in _purge(database, clock, days=30).purged] == [built.recent]
    assert _case(database, built.open) == untouched[built.open]


def test_a_second_purge_removes_nothing(database, clock, built) -> None:
    _purge(database, clock)
    data_before = {k: v for k, v in table_rows(database.engine).items() if k not in ("sync_run", "sync_event")}
    clock.advance(timedelta(days=1))

    again = _purge(database, clock)

    assert again.purged == [] and again.removed()["contents"] == 0 and again.run.updated == 0
    assert {k: v for k, v in table_rows(database.engine).items() if k not in ("sync_run", "sync_event")} == data_before


def test_a_dry_run_tells_what_would_go_and_writes_nothing(database, clock, built) -> None:
    before = table_rows(database.engine)

    dry = plan_purge(database, CITY, clock.now(), DAYS)

    assert table_rows(database.engine) == before  # not even a run row or an event
    assert dry.dry_run and dry.run is None
    real = _purge(database, clock)
    assert (dry.purged, dry.skipped, dry.removed(), dry.cutoff) == (
        real.purged,
        real.skipped,
        real.removed(),
        real.cutoff,
    )


# -- a purged case stays purged --------------------------------------------------------------------


def test_a_changed_closed_complaint_received_again_stays_purged_and_its_new_entries_too(database, clock, built) -> None:
    _purge(database, clock)
    rating = followup(9, "Terima kasih, Gang Mawar beres.", author=AuthorType.REPORTER, at=clock.now())
    changed = replace_status(
        complaint(
            3_100_001,
            title=TITLE,
            content=CONTENT,
            location_name=PLACE,
            reporter=Reporter(NAME, EMAIL, PHONE),
            category_name="Pekerjaan Umum",
        ),
        NationalStatus.COMPLETED,
    )

    _receive(database, clock, snapshot(changed, thread=(followup(1, REPLY, author=AuthorType.REPORTER), rating)))

    case = _case(database, built.due)
    assert case.purged_at is not None and case.category_name == "Pekerjaan Umum"
    assert (case.title, case.reporter_name, case.location_name) == (PURGED_TEXT, None, None)
    everything = repr(table_rows(database.engine))
    assert [value for value in (*REMOVED, "Gang Mawar beres") if value in everything] == []


def test_a_complaint_reopened_on_lapor_brings_its_content_back_and_says_so(database, clock, built) -> None:
    _purge(database, clock)
    reopened = replace_status(
        complaint(3_100_001, title=TITLE, content=CONTENT, location_name=PLACE, reporter=Reporter(NAME, EMAIL, PHONE)),
        NationalStatus.IN_PROCESS,
    )

    _receive(database, clock, snapshot(reopened))

    case = _case(database, built.due)
    assert (case.state, case.purged_at, case.closed_at) == ("in_progress", None, None)
    assert (case.title, case.content, case.reporter_name, case.location_name) == (TITLE, CONTENT, NAME, PLACE)
    with database.session() as session:
        lifted = session.exec(select(SyncEvent).where(SyncEvent.kind == "complaint.purge_lifted")).one()
        old_entries = session.exec(select(ThreadEntry.content).where(ThreadEntry.case_id == built.due)).all()
    assert lifted.tracking_id == "1900001" and NAME not in lifted.message
    assert set(old_entries) == {PURGED_TEXT}  # earlier thread entries stay purged


@pytest.mark.e2e
def test_a_later_pull_or_resync_of_the_unchanged_complaint_does_not_restore_it(h: Harness) -> None:
    complaint_id = h.new_case()
    h.act(complaint_id, AgencyAction.FOLLOWUP, "Petugas sudah meninjau lokasi.")
    h.sync()
    h.act(complaint_id, AgencyAction.COMPLETE, "Bantuan sudah disalurkan.")
    h.sync()
    h.advance(timedelta(days=3))
    h.sync()
    national = h.world.complaint(complaint_id)
    assert national.status_code == NationalStatus.COMPLETED and h.case(complaint_id).state == "completed"
    words = [
        w
        for w in (
            national.title,
            national.content,
            national.location_name,
            *((national.reporter.name, national.reporter.email, national.reporter.phone) if national.reporter else ()),
        )
        if w
    ]

    assert [c.complaint_id for c in _purge(h.app.db, h.clock, days=1).purged] == [complaint_id]
    h.advance(timedelta(minutes=10))
    pulled = h.sync()
    resynced = run_resync(h.service(), Selection(everything=True), requested_by="admin")

    assert pulled.outcome == "ok" and pulled.updated == 0
    assert resynced.run.outcome == "ok" and resynced.summary()["unchanged"] == 1
    case = h.case(complaint_id)
    assert case.purged_at is not None and (case.title, case.reporter_name) == (PURGED_TEXT, None)
    assert {e.content for e in h.thread(complaint_id)} == {PURGED_TEXT}
    everything = repr(table_rows(h.app.db.engine))
    assert [w for w in words if w in everything] == []
    report = check_invariants(h.simulator, h.app.db, CITY, overlap=timedelta(seconds=h.app.settings.overlap_seconds))
    assert report.violations == []


# -- the command -----------------------------------------------------------------------------------


@pytest.fixture
def cli_cases(cli_env: str) -> Cases:
    """The four cases in the CLI's database, built so that the real clock is 731 days after the first closings."""
    db = Database(cli_env)
    db.upgrade()
    start = datetime.now(UTC) - timedelta(days=731)
    built = _build(db, ManualClock(start))
    db.dispose()
    return built


def invoke_input(answer: str, *args: str) -> Result:
    """Run ``lapor-sync *args`` with ``answer`` typed on stdin (as at a terminal)."""
    return CliRunner().invoke(app, list(args), input=answer)


def test_the_command_refuses_without_yes_when_no_one_can_confirm(cli_env, cli_cases) -> None:
    db = Database(cli_env)
    before = table_rows(db.engine)

    result = invoke("purge")

    assert result.exit_code == 2
    assert "--yes" in result.stderr and "--dry-run" in result.stderr
    assert table_rows(db.engine) == before


def test_the_command_asks_at_a_terminal_and_a_no_changes_nothing(cli_env, cli_cases, monkeypatch) -> None:
    monkeypatch.setattr("lapor_sync.cli.purge._interactive", lambda: True)
    db = Database(cli_env)
    before = table_rows(db.engine)

    declined = invoke_input("n\n", "purge")

    assert declined.exit_code == 1 and "1 case closed before" in declined.stderr
    assert table_rows(db.engine) == before
    accepted = invoke_input("y\n", "purge")
    assert accepted.exit_code == 0 and _case(db, cli_cases.due).purged_at is not None


def _status() -> tuple[str, list[str]]:
    """``status --json``'s health and reasons (it exits 2 here: no pull yet)."""
    shown = invoke("status", "--json")
    assert shown.exit_code in (0, 1, 2), shown.output
    summary = json.loads(shown.stdout)
    return summary["health"], summary["reasons"]


def test_the_command_says_what_it_removed_with_the_tracking_ids_in_json(cli_env, cli_cases) -> None:
    report_before = invoke_json("report", "--from", "2020-01-01", "--to", "2030-12-31")
    status_before = _status()

    out = invoke_json("purge", "--yes")

    assert (out["dry_run"], out["outcome"], out["older_than_days"], out["cases"]) == (False, "ok", 730, 1)
    assert out["tracking_ids"] == ["1900001"]
    assert out["removed"] == REMOVED_COUNTS
    assert out["skipped"] == [{"tracking_id": "1900003", "agency": "DINSOS", "waiting_outbox_rows": 1}]
    cutoff = datetime.fromisoformat(out["cutoff"])
    assert cutoff.utcoffset() == timedelta(0) and abs(datetime.now(UTC) - timedelta(days=730) - cutoff) < timedelta(
        minutes=5
    )
    # Statistics and the other views still count and show the purged case.
    assert invoke_json("report", "--from", "2020-01-01", "--to", "2030-12-31") == report_before
    assert invoke("sla", "--all").exit_code == 0
    assert _status() == status_before
    shown = invoke("case", "show", "#1900001")
    assert shown.exit_code == 0 and PURGED_TEXT in shown.stdout
    assert invoke_json("purge", "--yes")["cases"] == 0  # a second purge removes nothing


def test_the_dry_run_table_tells_the_cutoff_in_wib_and_writes_nothing(cli_env, cli_cases) -> None:
    db = Database(cli_env)
    before = table_rows(db.engine)

    result = invoke("purge", "--dry-run")

    assert result.exit_code == 0, result.output
    assert "Purge dry run (nothing written): 1 case closed before" in result.stdout and "WIB" in result.stdout
    assert "reporter identities" in result.stdout and "thread entries' texts" in result.stdout
    assert "#1900003" in result.stdout
    assert table_rows(db.engine) == before


def test_older_than_days_overrides_the_setting(cli_env, cli_cases) -> None:
    out = invoke_json("purge", "--yes", "--older-than-days", "1")
    assert out["older_than_days"] == 1 and sorted(out["tracking_ids"]) == ["1900001", "1900004"]


def test_help_teaches_what_goes_what_stays_and_why(cli_env) -> None:
    shown = invoke("purge", "--help").stdout
    for words in ("UU 27/2022", "730", "Kept", "--yes", "--dry-run", "reporter"):
        assert words in shown


# -- the cutoff, busy leases, purged outbox rows, `case show` --------------------------------------


def test_review_a_case_closed_exactly_at_the_cutoff_is_kept_and_one_instant_later_it_goes(
    database, clock, built
) -> None:
    days = 31  # the recent case was closed 31 days before the clock's "now"
    at_cutoff = _case(database, built.recent).closed_at + timedelta(days=days)
    assert at_cutoff == clock.now()
    just_after = at_cutoff + timedelta(microseconds=1)

    # "now" given in WIB is the same instant: the cutoff does not move by 7 hours.
    assert built.recent not in [c.case_id for c in plan_purge(database, CITY, at_cutoff.astimezone(WIB), days).purged]
    assert built.recent in [c.case_id for c in plan_purge(database, CITY, just_after.astimezone(WIB), days).purged]
    assert built.recent not in [c.case_id for c in _purge(database, clock, days).purged]
    clock.set(just_after)
    assert built.recent in [c.case_id for c in _purge(database, clock, days).purged]


def test_review_a_purge_while_another_runner_holds_push_waits_then_leaves_everything_as_it_was(
    database, clock, built
) -> None:
    before = table_rows(database.engine)
    worker = Leases(database, clock, holder_name("worker"))

    with worker.hold("push", institution_id=CITY), pytest.raises(LeaseBusy, match="'push'.*worker"):
        _purge(database, clock)

    assert table_rows(database.engine) == before  # no run row, no event, nothing purged
    assert held_leases(database, clock) == []  # the pull lease it took first was given back


def test_review_outbox_retry_refuses_a_row_whose_text_a_purge_removed(database, clock, built) -> None:
    with database.session() as session:
        dead = session.exec(
            select(OutboxItem).where(OutboxItem.case_id == built.due, OutboxItem.kind == "followup")
        ).one()
        dead.state, dead.last_error = "dead", "HTTP 500: server error"
        session.add(dead)
        session.commit()
        dead_id = dead.id
    _purge(database, clock)

    with pytest.raises(OutboxRefused, match="a purge removed its text.*cancel it instead"):
        requeue(database, clock.now(), CITY, item_id=dead_id, requested_by="admin")
    assert requeue(database, clock.now(), CITY, requested_by="admin") == []  # --dead leaves it dead
    with database.session() as session:
        assert session.get(OutboxItem, dead_id).state == "dead"


def test_review_outbox_retry_still_requeues_a_dead_row_of_a_case_not_purged(database, clock, built) -> None:
    with database.session() as session:
        row = session.exec(
            select(OutboxItem).where(OutboxItem.case_id == built.due, OutboxItem.kind == "followup")
        ).one()
        row.state = "dead"
        session.add(row)
        session.commit()

    assert [r.state for r in requeue(database, clock.now(), CITY, item_id=row.id, requested_by="admin")] == ["pending"]


def test_review_case_show_says_when_the_case_was_purged(cli_env, cli_cases) -> None:
    invoke_json("purge", "--yes")

    shown = invoke("case", "show", "#1900001", "--show-reporter")
    detail = invoke_json("case", "show", "#1900001")

    assert shown.exit_code == 0, shown.output
    purged_at = datetime.fromisoformat(detail["case"]["purged_at"])
    assert f"(purged on {display_wib(purged_at)})" in shown.stdout
    assert "(purged on" not in invoke("case", "show", "#1900002").stdout


@pytest.mark.e2e
def test_review_a_purged_complaint_set_aside_later_keeps_no_raw_text(h: Harness) -> None:
    complaint_id = h.add_complaint(
        disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"), title=TITLE, content=CONTENT
    ).complaint_id
    assert h.sync().created == 1
    h.act(complaint_id, AgencyAction.FOLLOWUP, "Petugas sudah meninjau lokasi.")
    h.act(complaint_id, AgencyAction.COMPLETE, "Bantuan sudah disalurkan.")
    h.sync()
    h.advance(timedelta(days=3))
    h.sync()
    assert [c.complaint_id for c in _purge(h.app.db, h.clock, days=1).purged] == [complaint_id]

    # Two years on, LAPOR! changes the complaint and sends it malformed: it is set aside, its raw kept.
    h.advance(timedelta(minutes=10))
    h.world.touch(complaint_id)
    h.simulator.set_faults(FaultPlan({"wrong_type": 1.0}))
    pulled = h.sync()

    assert pulled.set_aside == 1
    with h.app.db.session() as session:
        assert json.loads(session.exec(select(SetAsideRecord.raw)).one()) == PURGED_TEXT
    everything = repr(table_rows(h.app.db.engine))
    assert [w for w in (TITLE, CONTENT) if w in everything] == []
