"""End to end, manual resync: a corrected mapping re-routes cases; dry runs write nothing; set-aside retried."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import select
from typer.testing import CliRunner

from lapor_sync.app import App
from lapor_sync.cli import app as cli
from lapor_sync.domain.clock import SystemClock
from lapor_sync.domain.status import CaseState
from lapor_sync.simulator.catalog import category_id
from lapor_sync.storage.database import Database
from lapor_sync.storage.lease import Leases
from lapor_sync.storage.models import SetAsideRecord, SyncEvent, SyncRun
from lapor_sync.sync.admin.resync import ResyncOutcome, ResyncResult, run_resync
from lapor_sync.sync.admin.selection import Selection, select_targets
from tests.support.e2e import CITY, DINSOS, Harness, command_env, harness, settings_for, small_world

PERHUBUNGAN, SOSIAL = category_id("Perhubungan"), category_id("Sosial dan Kesejahteraan")
DISHUB_UNIT = 627103

pytestmark = pytest.mark.e2e


@pytest.fixture
def h(database: Database) -> Iterator[Harness]:
    """A harness on an empty simulator and a database (SQLite, and PostgreSQL when configured)."""
    with harness(small_world(), database.url) as running:
        yield running


@pytest.fixture
def corrected_mapping(tmp_path: Path) -> Path:
    """Palangka Raya's mapping with one rule corrected: category Perhubungan goes to SATPOLPP."""
    text = (resources.files("lapor_sync.mappings") / "palangka-raya.toml").read_text(encoding="utf-8")
    rule = 'category = "Perhubungan"\nagency = "DISHUB"'
    assert rule in text
    path = tmp_path / "corrected.toml"
    path.write_text(text.replace(rule, 'category = "Perhubungan"\nagency = "SATPOLPP"'), encoding="utf-8")
    return path


@pytest.fixture
def corrected(h: Harness, corrected_mapping: Path) -> Iterator[App]:
    """lapor-sync on the harness's database and simulator, with the corrected mapping file."""
    app = App(
        settings_for(h.app.settings.database_url, h.base_url, mapping_file=corrected_mapping),
        clock=h.clock,
        purpose="resync",
    )
    yield app
    app.db.dispose()


def _resync(h: Harness, app: App, selection: Selection, *, dry_run: bool = False) -> ResyncResult:
    return run_resync(app.sync_service(h.platform), selection, requested_by="admin", dry_run=dry_run)


def _outcomes(result: ResyncResult) -> dict[int | None, tuple[ResyncOutcome, str | None, str | None]]:
    return {c.complaint_id: (c.outcome, c.old_agency, c.new_agency) for c in result.changes}


def _three_dishub_cases(h: Harness) -> tuple[int, int, int]:
    """Two DISHUB cases routed by category (to the city itself), one by DISHUB's own sub-unit."""
    by_category = [h.add_complaint(disposition_id=CITY, category_id=PERHUBUNGAN).complaint_id for _ in range(2)]
    by_unit = h.add_complaint(disposition_id=DISHUB_UNIT, category_id=PERHUBUNGAN).complaint_id
    h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
    assert h.sync().created == 4
    return by_category[0], by_category[1], by_unit


def test_a_dry_run_lists_the_moves_and_writes_nothing(h: Harness, corrected: App) -> None:
    first, second, by_unit = _three_dishub_cases(h)
    before, events_before = h.table_rows(), len(h.all_events())

    result = _resync(h, corrected, Selection(agency_code="DISHUB"), dry_run=True)

    assert _outcomes(result) == {
        first: (ResyncOutcome.MOVED, "DISHUB", "SATPOLPP"),
        second: (ResyncOutcome.MOVED, "DISHUB", "SATPOLPP"),
        by_unit: (ResyncOutcome.UNCHANGED, "DISHUB", "DISHUB"),
    }
    assert "category 'Perhubungan'" in result.changes[0].details
    assert h.table_rows() == before
    assert [c.agency_code for c in h.cases()] == ["DISHUB", "DISHUB", "DISHUB", "DINSOS"]
    [note] = h.all_events()[events_before:]  # the run's own record, nothing per complaint
    assert note.kind == "resync.dry_run" and note.run_id == result.run.id
    assert "by admin" in note.message and "agency DISHUB" in note.message and "2 moved" in note.message
    run = result.run
    assert (run.job, run.trigger, run.outcome, run.fetched, run.updated, run.unchanged) == (
        "resync",
        "manual",
        "ok",
        3,
        0,
        0,
    )


def test_a_dry_run_neither_stores_nor_logs_the_events_of_a_page(
    h: Harness, corrected: App, caplog: pytest.LogCaptureFixture
) -> None:
    _three_dishub_cases(h)
    events_before = len(h.all_events())

    with caplog.at_level(logging.INFO, logger="lapor_sync.sync"):
        result = _resync(h, corrected, Selection(agency_code="DISHUB"), dry_run=True)

    assert [c.outcome for c in result.changes].count(ResyncOutcome.MOVED) == 2  # told in the report only
    assert [e.kind for e in h.all_events()[events_before:]] == ["resync.dry_run"]
    logged = [getattr(record, "kind", None) for record in caplog.records]
    assert "complaint.moved" not in logged and "resync.dry_run" in logged


def test_a_resync_applies_the_moves_and_logs_old_and_new_agency(h: Harness, corrected: App) -> None:
    first, second, by_unit = _three_dishub_cases(h)

    result = _resync(h, corrected, Selection(agency_code="DISHUB"))

    assert [o for o, *_ in _outcomes(result).values()] == [ResyncOutcome.MOVED] * 2 + [ResyncOutcome.UNCHANGED]
    assert [c.agency_code for c in h.cases()] == ["SATPOLPP", "SATPOLPP", "DISHUB", "DINSOS"]
    assert h.case(first).routing_rule == "category:Perhubungan"
    moved = h.events("complaint.moved")
    assert [(e.complaint_id, e.agency_code, e.run_id) for e in moved] == [
        (first, "SATPOLPP", result.run.id),
        (second, "SATPOLPP", result.run.id),
    ]
    assert all("from DISHUB to SATPOLPP" in e.message for e in moved)
    assert h.events("complaint.updated") == []  # a re-route alone is not told as a change of the complaint
    assert (result.run.fetched, result.run.updated, result.run.unchanged) == (3, 2, 1)
    assert "2 moved, 1 unchanged" in h.events("resync.done")[0].message

    again = _resync(h, corrected, Selection(agency_code="SATPOLPP"))

    assert {o for o, *_ in _outcomes(again).values()} == {ResyncOutcome.UNCHANGED}
    assert len(h.events("complaint.moved")) == 2


def test_resync_without_a_mapping_change_leaves_everything_unchanged(h: Harness) -> None:
    _three_dishub_cases(h)
    before = h.table_rows()

    result = _resync(h, h.app, Selection(everything=True))

    assert result.summary()["unchanged"] == 4 and len(result.changes) == 4
    assert {k: v for k, v in h.table_rows().items() if k != "binding"} == {
        k: v for k, v in before.items() if k != "binding"
    }  # only the bindings' last_checked_at moved


def test_a_set_aside_record_is_retried_and_resolved(h: Harness) -> None:
    complaint = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
    h.faults.break_status_codes()
    assert h.sync().set_aside == 1

    still = _resync(h, h.app, Selection(set_aside=True))

    assert _outcomes(still) == {complaint.complaint_id: (ResyncOutcome.SET_ASIDE, None, None)}
    assert "still set aside" in still.changes[0].details
    h.faults.clear()  # the platform repairs the record

    dry = _resync(h, h.app, Selection(set_aside=True), dry_run=True)
    assert _outcomes(dry) == {complaint.complaint_id: (ResyncOutcome.CREATED, None, "DINSOS")}
    assert h.cases() == []
    result = _resync(h, h.app, Selection(set_aside=True))

    assert _outcomes(result) == {complaint.complaint_id: (ResyncOutcome.CREATED, None, "DINSOS")}
    assert "set-aside record resolved" in result.changes[0].details
    assert result.changes[0].tracking_id == complaint.tracking_id
    with h.app.db.session() as session:
        [record] = session.exec(select(SetAsideRecord)).all()
    assert record.resolved_at == h.clock.now()


def _break_then_repair_a_stored_case(h: Harness) -> int:
    """A stored case whose detail turns malformed (set aside by a resync), then is repaired unchanged."""
    complaint = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL).complaint_id
    assert h.sync().created == 1
    h.faults.break_status_codes()
    broken = _resync(h, h.app, Selection(complaint_ids=(complaint,)))
    assert _outcomes(broken) == {complaint: (ResyncOutcome.SET_ASIDE, "DINSOS", "DINSOS")}
    h.faults.clear()
    return complaint


def test_a_repaired_record_of_an_unchanged_case_is_resolved_by_resync(h: Harness) -> None:
    complaint = _break_then_repair_a_stored_case(h)

    result = _resync(h, h.app, Selection(set_aside=True))

    assert _outcomes(result) == {complaint: (ResyncOutcome.UNCHANGED, "DINSOS", "DINSOS")}
    assert result.changes[0].details == "set-aside record resolved"
    with h.app.db.session() as session:
        assert session.exec(select(SetAsideRecord)).one().resolved_at == h.clock.now()


def test_a_repaired_record_of_an_unchanged_case_is_resolved_by_the_recheck_too(h: Harness) -> None:
    _break_then_repair_a_stored_case(h)
    h.advance(timedelta(hours=2))

    assert h.sync().outcome == "ok"
    with h.app.db.session() as session:
        assert session.exec(select(SetAsideRecord)).one().resolved_at == h.clock.now()


def test_unknown_complaints_are_reported_not_found_and_never_set_aside(h: Harness) -> None:
    result = _resync(h, h.app, Selection(complaint_ids=(99_999_999,), tracking_ids=("#7777777",)))

    outcomes = {(c.complaint_id, c.tracking_id, c.outcome) for c in result.changes}
    assert outcomes == {(99_999_999, None, ResyncOutcome.NOT_FOUND), (None, "7777777", ResyncOutcome.NOT_FOUND)}
    assert any("404" in c.details for c in result.changes)
    with h.app.db.session() as session:
        assert session.exec(select(SetAsideRecord)).all() == []
    assert result.run.outcome == "ok"


def test_a_complaint_named_by_id_that_the_city_never_pulled_is_created(h: Harness) -> None:
    complaint = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)

    result = _resync(h, h.app, Selection(complaint_ids=(complaint.complaint_id,)))

    assert _outcomes(result) == {complaint.complaint_id: (ResyncOutcome.CREATED, None, "DINSOS")}
    assert h.case(complaint.complaint_id).tracking_id == complaint.tracking_id


def test_case_filters_narrow_together(h: Harness) -> None:
    day_one = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL).complaint_id
    h.advance(timedelta(days=1))
    day_two = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL).complaint_id
    other = h.add_complaint(disposition_id=DISHUB_UNIT, category_id=PERHUBUNGAN).complaint_id
    h.sync()
    from_day_two = datetime.combine(h.clock.now().date(), time(0), h.clock.now().tzinfo)

    def chosen(selection: Selection) -> list[int]:
        with h.app.db.session() as session:
            return [t.complaint_id for t in select_targets(session, CITY, selection)[0]]

    assert chosen(Selection(agency_code="DINSOS")) == [day_one, day_two]
    assert chosen(Selection(agency_code="DINSOS", dispositioned_from=from_day_two)) == [day_two]
    assert chosen(Selection(dispositioned_before=from_day_two)) == [day_one]
    assert chosen(Selection(state=CaseState.NEW, complaint_ids=(other,))) == [day_one, day_two, other]
    assert chosen(Selection(national_status_code=2)) == []


# -- a correction that adds an agency -------------------------------------------------------------

NEW_AGENCY = (
    '[[agency]]\ncode = "DISHUBLLAJ"\nname = "UPT Lalu Lintas"\nabbreviation = "UPT LLAJ"\ninstitution_id = 627199\n\n'
)


@pytest.fixture
def with_new_agency(h: Harness, tmp_path: Path) -> Iterator[App]:
    """The city's mapping plus a new agency, DISHUBLLAJ, which now takes category Perhubungan."""
    mapping = (resources.files("lapor_sync.mappings") / "palangka-raya.toml").read_text(encoding="utf-8")
    rule = 'category = "Perhubungan"\nagency = "DISHUB"'
    mapping = mapping.replace(rule, 'category = "Perhubungan"\nagency = "DISHUBLLAJ"')
    mapping = mapping.replace("[[agency]]\n", NEW_AGENCY + "[[agency]]\n", 1)
    path = tmp_path / "new-agency.toml"
    path.write_text(mapping, encoding="utf-8")
    app = App(settings_for(h.app.settings.database_url, h.base_url, mapping_file=path), clock=h.clock, purpose="resync")
    yield app
    app.db.dispose()


def _agencies(h: Harness) -> list[str]:
    with h.app.db.engine.connect() as conn:
        return sorted(code for (code,) in conn.execute(text("SELECT code FROM agency")))


def test_a_dry_run_moving_cases_to_a_new_agency_leaves_the_agency_table_alone(h: Harness, with_new_agency: App) -> None:
    complaint = h.add_complaint(disposition_id=CITY, category_id=PERHUBUNGAN).complaint_id
    assert h.sync().created == 1
    agencies, rows = _agencies(h), h.table_rows()

    dry = run_resync(
        with_new_agency.sync_service(h.platform), Selection(agency_code="DISHUB"), requested_by="admin", dry_run=True
    )

    assert [(c.complaint_id, c.outcome, c.new_agency) for c in dry.changes] == [
        (complaint, ResyncOutcome.MOVED, "DISHUBLLAJ")
    ]
    assert "DISHUBLLAJ" not in agencies and _agencies(h) == agencies
    assert h.table_rows() == rows

    real = run_resync(with_new_agency.sync_service(h.platform), Selection(agency_code="DISHUB"), requested_by="admin")

    assert real.changes[0].outcome is ResyncOutcome.MOVED
    assert "DISHUBLLAJ" in _agencies(h) and h.case(complaint).agency_code == "DISHUBLLAJ"


# -- the command ------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(h: Harness, corrected_mapping: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    """Point the ``lapor-sync`` command at the harness (corrected mapping, no wait for leases)."""
    env = command_env(h.app.settings.database_url, h.base_url, mapping_file=corrected_mapping, lease_wait_seconds=0)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "400")
    return h


def test_the_command_shows_the_moves_as_json_and_as_a_table(cli_env: Harness) -> None:
    first, second, _ = _three_dishub_cases(cli_env)

    result = CliRunner().invoke(cli.app, ["resync", "--agency", "dishub", "--dry-run", "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dry_run"] is True and report["outcome"] == "ok"
    assert report["summary"] == {"created": 0, "updated": 0, "moved": 2, "unchanged": 1, "set aside": 0, "not found": 0}
    assert [(c["complaint_id"], c["old_agency"], c["new_agency"]) for c in report["changes"][:2]] == [
        (first, "DISHUB", "SATPOLPP"),
        (second, "DISHUB", "SATPOLPP"),
    ]
    table = CliRunner().invoke(cli.app, ["resync", "--agency", "DISHUB"])
    assert table.exit_code == 0, table.output
    assert "DISHUB → SATPOLPP" in table.stdout and "2 moved, 1 unchanged" in table.stdout
    assert "dry run" not in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "name what to resync"),
        (["--all", "--agency", "DISHUB"], "--all already takes every case"),
        (["--agency", "NOPE"], "no agency 'NOPE'"),
        (["--status", "bogus"], "neither a case state"),
        (["--since", "2024-10-02", "--until", "2024-10-01"], "--since must come before --until"),
        (["--since", "yesterday"], "expected a WIB date"),
    ],
)
def test_the_command_refuses_an_empty_or_wrong_selection(cli_env: Harness, args: list[str], message: str) -> None:
    cli_env.app.writable_db()
    result = CliRunner().invoke(cli.app, ["resync", *args])

    assert result.exit_code == 2
    assert message in result.output
    with cli_env.app.db.session() as session:
        assert session.exec(select(SyncRun)).all() == []


def test_a_busy_pull_lease_exits_3_naming_the_holder(
    cli_env: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _three_dishub_cases(cli_env)
    worker = Leases(cli_env.app.db, SystemClock(), "web01:4242 worker")  # the command runs on real time
    monkeypatch.setattr(sys, "argv", ["lapor-sync", "resync", "--all"])

    with worker.hold("pull", institution_id=CITY, renew_in_background=False), pytest.raises(SystemExit) as exited:
        cli.main()

    assert exited.value.code == 3
    error = capsys.readouterr().err
    assert "held by web01:4242 worker since" in error
    with cli_env.app.db.session() as session:
        assert session.exec(select(SyncRun).where(SyncRun.job == "resync")).all() == []
        assert session.exec(select(SyncEvent).where(SyncEvent.kind == "complaint.moved")).all() == []
