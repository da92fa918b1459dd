"""End to end, reassigning one case by hand: the override sticks through pulls and resyncs until cleared."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from lapor_sync.cli import app as cli
from lapor_sync.cli.app import main
from lapor_sync.domain.errors import LeaseBusy
from lapor_sync.simulator.catalog import category_id
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import CaseOverride
from lapor_sync.sync.admin.reassign import Reassigner, ReassignRefused
from lapor_sync.sync.admin.resync import ResyncOutcome, run_resync
from lapor_sync.sync.admin.selection import Selection
from tests.support.e2e import CITY, Harness, command_env, harness, small_world

PERHUBUNGAN = category_id("Perhubungan")  # the packaged mapping routes it to DISHUB

pytestmark = pytest.mark.e2e


@pytest.fixture
def h(database: Database) -> Iterator[Harness]:
    """A harness on an empty simulator and a database (SQLite, and PostgreSQL when configured)."""
    with harness(small_world(), database.url) as running:
        yield running


def _reassigner(h: Harness) -> Reassigner:
    return Reassigner(h.app.db, h.app.leases(), h.app.mapping)


def _dishub_case(h: Harness) -> tuple[int, int]:
    """A complaint the mapping routes to DISHUB by category, pulled in: (complaint id, case id)."""
    complaint_id = h.add_complaint(disposition_id=CITY, category_id=PERHUBUNGAN).complaint_id
    assert h.sync().created == 1
    case = h.case(complaint_id)
    assert case.agency_code == "DISHUB" and case.id is not None
    return complaint_id, case.id


def _change_nationally(h: Harness, complaint_id: int) -> None:
    """A new follow-up on LAPOR!: the next pull reads the complaint again and stores it (not the shortcut)."""
    h.advance(timedelta(minutes=5))
    h.world.add_followup(complaint_id, CITY, "Petugas sudah meninjau lokasi.")
    h.advance(timedelta(minutes=5))


def test_a_reassigned_case_stays_through_a_pull_of_a_changed_complaint_and_a_resync_all(h: Harness) -> None:
    complaint_id, case_id = _dishub_case(h)

    done = _reassigner(h).reassign(
        case_id, "satpolpp", reason="parkir liar: Satpol PP", requested_by="siti", now=h.clock.now()
    )

    assert (done.previous_agency, done.routing.agency_code, done.routing.rule) == ("DISHUB", "SATPOLPP", "override")
    assert "the mapping alone would route it to DISHUB" in done.routing.reason
    assert (h.case(complaint_id).agency_code, h.case(complaint_id).routing_rule) == ("SATPOLPP", "override")

    _change_nationally(h, complaint_id)
    run = h.sync()

    assert run.updated == 1  # read and stored again, with its new thread entry
    assert h.case(complaint_id).agency_code == "SATPOLPP"
    assert len(h.thread(complaint_id)) == 1

    resync = run_resync(h.app.sync_service(h.platform), Selection(everything=True), requested_by="admin")

    assert [c.outcome for c in resync.changes] == [ResyncOutcome.UNCHANGED]
    assert h.case(complaint_id).agency_code == "SATPOLPP"
    assert h.events("complaint.moved") == []
    [event] = h.events("case.reassigned")
    assert (event.agency_code, event.run_id, event.tracking_id) == ("SATPOLPP", None, h.case(complaint_id).tracking_id)
    assert "from DISHUB to SATPOLPP by siti: parkir liar: Satpol PP" in event.message


def test_clear_returns_the_case_to_the_mappings_routing_and_pulls_keep_it_there(h: Harness) -> None:
    complaint_id, case_id = _dishub_case(h)
    reassigner = _reassigner(h)
    reassigner.reassign(case_id, "SATPOLPP", reason="sementara", requested_by="siti", now=h.clock.now())

    done = reassigner.clear(case_id, reason="kategori benar", requested_by="budi", now=h.clock.now())

    assert (done.previous_agency, done.routing.agency_code, done.override) == ("SATPOLPP", "DISHUB", None)
    case = h.case(complaint_id)
    assert (case.agency_code, case.routing_rule) == ("DISHUB", "category:Perhubungan")
    with h.app.db.session() as session:
        assert session.exec(select(CaseOverride)).all() == []
    [cleared] = h.events("case.reassign_cleared")
    assert cleared.agency_code == "DISHUB"
    assert "(to SATPOLPP, set by siti) cleared by budi: kategori benar" in cleared.message
    assert "Back to the mapping's routing, at DISHUB" in cleared.message

    _change_nationally(h, complaint_id)
    assert h.sync().updated == 1
    assert h.case(complaint_id).agency_code == "DISHUB"
    with pytest.raises(ReassignRefused, match="has no override to clear"):
        reassigner.clear(case_id, reason="lagi", requested_by="budi", now=h.clock.now())


def test_a_second_reassign_replaces_the_override_and_a_reason_is_kept_masked(h: Harness) -> None:
    complaint_id, case_id = _dishub_case(h)
    reassigner = _reassigner(h)
    reassigner.reassign(case_id, "SATPOLPP", reason="pertama", requested_by="siti", now=h.clock.now())

    done = reassigner.reassign(
        case_id, "DINSOS", reason="pelapor 081234567890 minta ke Dinsos", requested_by="budi", now=h.clock.now()
    )

    assert done.override is not None and done.override.set_by == "budi"
    assert "081234567890" not in done.override.reason
    with h.app.db.session() as session:
        [row] = session.exec(select(CaseOverride)).all()
    assert (row.agency_code, row.set_by) == ("DINSOS", "budi") and "081234567890" not in row.reason
    assert all("081234567890" not in e.message for e in h.all_events())
    assert h.case(complaint_id).agency_code == "DINSOS"


@pytest.mark.parametrize(
    ("agency", "reason", "message"),
    [
        ("NOPE", "x", "no agency 'NOPE' in the mapping file (known: "),
        ("DISHUB", "   ", "give the reason (--reason)"),
    ],
)
def test_an_unknown_agency_or_no_reason_is_refused_and_changes_nothing(
    h: Harness, agency: str, reason: str, message: str
) -> None:
    complaint_id, case_id = _dishub_case(h)

    with pytest.raises(ReassignRefused, match=re.escape(message)):
        _reassigner(h).reassign(case_id, agency, reason=reason, requested_by="siti", now=h.clock.now())

    assert h.case(complaint_id).agency_code == "DISHUB"
    assert h.events("case.reassigned") == []


def test_an_override_waits_for_a_pull_in_progress(h: Harness) -> None:
    _, case_id = _dishub_case(h)
    with h.app.leases().hold("pull", institution_id=CITY), pytest.raises(LeaseBusy):
        _reassigner(h).reassign(case_id, "SATPOLPP", reason="x", requested_by="siti", now=h.clock.now())


# -- the command ------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(h: Harness, monkeypatch: pytest.MonkeyPatch) -> Harness:
    """Point the ``lapor-sync`` command at the harness, as the OS user ``siti``."""
    for name, value in command_env(h.app.settings.database_url, h.base_url, lease_wait_seconds=0).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setenv("LOGNAME", "siti")
    return h


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, list(args))
    return result.exit_code, result.output


def test_the_command_reassigns_and_show_and_explain_name_the_override(cli_env: Harness) -> None:
    complaint_id, case_id = _dishub_case(cli_env)
    tracking = f"#{cli_env.case(complaint_id).tracking_id}"

    code, out = _run("case", "reassign", tracking, "--agency", "satpolpp", "--reason", "parkir liar")

    assert code == 0, out
    assert f"Case {case_id} ({tracking}) kept with SATPOLPP (was DISHUB)" in out
    code, out = _run("case", "show", str(case_id), "--json")
    assert code == 0, out
    override = json.loads(out)["override"]
    assert (override["agency_code"], override["set_by"], override["reason"]) == ("SATPOLPP", "siti", "parkir liar")
    assert override["set_at"].endswith("+00:00")  # UTC in --json
    code, out = _run("case", "show", tracking)
    assert "reassigned to SATPOLPP by siti on " in out and " WIB: parkir liar" in out
    code, out = _run("mapping", "explain", "--complaint-id", str(complaint_id))
    assert code == 0, out
    assert "override" in out and "reassigned to SATPOLPP by siti on" in out and "WIB" in out
    assert "would route it to DISHUB" in out
    code, out = _run("mapping", "explain", "--complaint-id", str(complaint_id), "--json")
    explained = json.loads(out)
    assert (explained["agency_code"], explained["rule"]) == ("SATPOLPP", "override")
    assert explained["override"]["set_by"] == "siti"

    code, out = _run("case", "reassign", str(case_id), "--clear", "--reason", "salah", "--json")

    assert code == 0, out
    cleared = json.loads(out)
    assert (cleared["agency_code"], cleared["override"], cleared["previous_agency"]) == ("DISHUB", None, "SATPOLPP")
    assert "override" not in _run("case", "show", tracking)[1].split("Thread")[0].replace("routing rule", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agency", "NOPE", "--reason", "x"], "no agency 'NOPE' in the mapping file (known: PUPR, "),
        (["--agency", "DISHUB"], "give the reason (--reason)"),
        (["--clear", "--reason", "x"], "has no override to clear"),
    ],
)
def test_the_command_refuses_in_one_line(
    cli_env: Harness,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    _, case_id = _dishub_case(cli_env)
    monkeypatch.setattr(sys, "argv", ["lapor-sync", "case", "reassign", str(case_id), *args])

    with pytest.raises(SystemExit) as exited:
        main()  # the real entry point: its one-line errors and exit codes

    printed = capsys.readouterr()
    assert exited.value.code == 2
    assert message in " ".join(printed.err.split())
    assert len(printed.err.strip().splitlines()) == 1 and printed.out == ""


@pytest.mark.parametrize("args", [["--reason", "x"], ["--agency", "DISHUB", "--clear", "--reason", "x"]])
def test_the_command_wants_agency_or_clear(cli_env: Harness, args: list[str]) -> None:
    _, case_id = _dishub_case(cli_env)

    code, out = _run("case", "reassign", str(case_id), *args)

    assert code == 2 and "give --agency CODE, or --clear" in out
