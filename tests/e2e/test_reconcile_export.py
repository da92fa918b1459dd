"""End to end, ``reconcile-export``: an admin export from the simulator against what lapor-sync stored.

Exports are written by the simulator (``lapor_sync.simulator.export``) and then spoilt on purpose: a
row the records lack, a case the export leaves out, a status that differs, unreadable rows.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lapor_sync.cli import app as cli
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.timezones import WIB
from lapor_sync.exports.pull_missing import search_inbox
from lapor_sync.exports.read import ExportFileError, read_export
from lapor_sync.exports.reconcile import reconcile
from lapor_sync.exports.write import ExportRecord, write_export
from lapor_sync.simulator import END_OF_DATA, Simulator
from lapor_sync.simulator.catalog import category_id
from lapor_sync.simulator.export import export_records
from lapor_sync.simulator.faults.plan import FaultPlan
from lapor_sync.simulator.workdays import next_working_day_at
from tests.support.e2e import DINSOS, Harness, child_env, command_env, harness, run_command, small_world

JANUARY = (date(2024, 1, 1), date(2024, 1, 31))
SOSIAL = category_id("Sosial dan Kesejahteraan")
FORWARD_TARGET = 9002  # an institution outside the city


def _invoke(h: Harness, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    for name, value in command_env(h.app.settings.database_url, h.base_url, lease_wait_seconds=0).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "400")
    return CliRunner().invoke(cli.app, ["reconcile-export", *args])


@dataclasses.dataclass
class Spoilt:
    """An export that differs from the records in known ways."""

    records: list[ExportRecord]
    not_synced: list[str]  # tracking ids the export lists and the records lack
    left_out: str  # a case the export does not list
    differing: str  # a row whose status differs from the case's


@pytest.fixture
def spoilt(h: Harness) -> Spoilt:
    synced = [h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL) for _ in range(4)]
    assert h.sync().created == 4
    h.act(synced[0].complaint_id, AgencyAction.FOLLOWUP)
    h.act(synced[0].complaint_id, AgencyAction.COMPLETE)
    assert h.sync().pushed == 2
    assert h.sync().updated == 1  # the records read back the national state the push made
    late = [h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL) for _ in range(2)]  # never pulled
    records = export_records(h.world, *JANUARY)
    assert {r.tracking_id for r in records} == {c.tracking_id for c in synced + late}
    assert next(r.status for r in records if r.tracking_id == synced[0].tracking_id) == "Selesai"
    left_out, differing = synced[1].tracking_id, synced[2].tracking_id
    rows = [
        dataclasses.replace(r, status="Selesai") if r.tracking_id == differing else r
        for r in records
        if r.tracking_id != left_out
    ]
    return Spoilt(rows, [c.tracking_id for c in late], left_out, differing)


@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["xlsx", "docx", "csv"])
def test_the_report_lists_each_missing_extra_and_differing_row(
    h: Harness, spoilt: Spoilt, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / f"rekap.{kind}"
    write_export(path, spoilt.records, title="Rekap Januari 2024")

    result = reconcile(h.app.db, h.app.mapping, read_export(path))

    assert sorted(row.tracking_id for row, _ in result.not_in_records) == sorted(spoilt.not_synced)
    assert [c.tracking_id for c in result.not_in_export] == [spoilt.left_out]
    assert [(d.kind, d.row.tracking_id, d.detail) for d in result.differs] == [
        ("status", spoilt.differing, "export: Selesai, records: Terverifikasi")
    ]
    assert result.matched == 3 and result.differences == 4


@pytest.mark.e2e
def test_the_command_prints_a_table_and_json_and_exits_1_on_differences(
    h: Harness, spoilt: Spoilt, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "export.xlsx"
    write_export(path, spoilt.records)

    table = _invoke(h, monkeypatch, str(path))
    as_json = _invoke(h, monkeypatch, str(path), "--json")

    assert table.exit_code == 1, table.output
    assert f"#{spoilt.left_out}" in table.stdout and f"#{spoilt.differing}" in table.stdout
    assert "export: Selesai, records: Terverifikasi" in table.stdout and "4 to look at" in table.stdout
    assert as_json.exit_code == 1, as_json.output
    report = json.loads(as_json.stdout)
    assert set(report) == {
        "file", "kind", "columns", "period", "rows", "matched", "differences",
        "not_in_records", "not_in_export", "differs", "malformed", "pull_missing",
    }  # fmt: skip
    assert report["period"] == {"from": "2024-01-02", "to": "2024-01-02"}
    assert (report["rows"], report["matched"], report["differences"]) == (5, 3, 4)
    assert sorted(r["tracking_id"] for r in report["not_in_records"]) == sorted(spoilt.not_synced)
    left_out = report["not_in_export"][0]
    assert (left_out["tracking_id"], left_out["agency"], left_out["state"]) == (
        spoilt.left_out,
        "DINSOS",
        "Terverifikasi",
    )
    assert isinstance(left_out["complaint_id"], int)
    differs = report["differs"][0]
    assert (differs["kind"], differs["export"]["status"], differs["records"]["state"]) == (
        "status", "Selesai", "Terverifikasi",
    )  # fmt: skip
    assert report["malformed"] == [] and report["pull_missing"] is None


@pytest.mark.e2e
def test_malformed_rows_are_reported_and_counted_as_differences(
    h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h.new_case()
    rows = export_records(h.world, *JANUARY)
    path = tmp_path / "export.csv"
    write_export(path, rows)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("9,,,02-01-2024,Tanpa nomor,Dinas Sosial,Selesai\n9,1999999,,31-02-2024,Tanggal rusak,,Selesai\n")

    result = _invoke(h, monkeypatch, str(path), "--json")

    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["malformed"] == [
        {"line": 3, "tracking_id": None, "reason": "no tracking id"},
        {"line": 4, "tracking_id": "1999999", "reason": "unreadable date '31-02-2024'"},
    ]
    assert report["differences"] == 2 and report["matched"] == 1


@pytest.mark.e2e
def test_no_differences_exits_0_and_an_unreadable_file_or_a_backward_period_exits_2(
    h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h.new_case()
    path = tmp_path / "rekap.docx"
    write_export(path, export_records(h.world, *JANUARY))
    broken = tmp_path / "broken.xlsx"
    broken.write_text("not a workbook")

    good = _invoke(h, monkeypatch, str(path))
    env = child_env(h.app.settings.database_url, h.base_url)
    bad = run_command(env, "reconcile-export", str(broken), timeout=60)  # the exit codes of main()
    backward = _invoke(h, monkeypatch, str(path), "--from", "2024-01-31", "--to", "2024-01-01")

    assert good.exit_code == 0, good.output
    assert "1 row matched; no differences." in good.stdout
    assert bad.returncode == 2, bad.stderr
    assert bad.stderr.strip() == "error: broken.xlsx: cannot be read as .xlsx (BadZipFile: File is not a zip file)"
    assert backward.exit_code == 2 and "--to 2024-01-01 is before --from 2024-01-31" in backward.output


@pytest.mark.e2e
def test_a_tracking_id_that_is_a_complaint_id_is_pointed_out(h: Harness, tmp_path: Path) -> None:
    complaint_id = h.new_case()
    row = export_records(h.world, *JANUARY)[0]
    path = tmp_path / "export.csv"
    write_export(path, [dataclasses.replace(row, tracking_id=str(complaint_id), complaint_id=None)])

    result = reconcile(h.app.db, h.app.mapping, read_export(path))

    [(_, hint)] = result.not_in_records
    assert hint.startswith(f"this is the complaint id of #{row.tracking_id}")


@pytest.mark.e2e
def test_pull_missing_stores_what_the_inbox_has_and_names_what_left_it(
    h: Harness, spoilt: Spoilt, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
    # LAPOR!'s admin forwards it away (bukan wewenang) before the city ever pulled it: it leaves the inbox.
    h.world.request_reject(
        gone.complaint_id, not_authority=True, target_institution_id=FORWARD_TARGET, description="Bukan wewenang."
    )
    h.simulator.advance_to(next_working_day_at(h.clock.now(), time(11)))
    path = tmp_path / "export.xlsx"
    write_export(path, export_records(h.world, *JANUARY))

    result = _invoke(h, monkeypatch, str(path), "--pull-missing", "--json")

    assert result.exit_code == 1, result.output  # the forwarded one is still not in the records
    report = json.loads(result.stdout)
    pulled = report["pull_missing"]
    assert sorted(s["tracking_id"] for s in pulled["stored"]) == sorted(spoilt.not_synced)
    assert {s["outcome"] for s in pulled["stored"]} == {"created"}
    assert pulled["not_met"] == [gone.tracking_id]
    assert pulled["inbox_pages"] == 1 and pulled["read_by_detail"] == 2 and pulled["outcome"] == "ok"
    assert [r["tracking_id"] for r in report["not_in_records"]] == [gone.tracking_id]
    assert report["not_in_export"] == [] and report["differs"] == []
    for tracking_id in spoilt.not_synced:
        assert any(c.tracking_id == tracking_id and c.agency_code == "DINSOS" for c in h.cases())


@pytest.mark.e2e
def test_pull_missing_that_fails_mid_way_does_not_call_the_complaints_met_but_unread_not_met(
    h: Harness, spoilt: Spoilt, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "export.xlsx"
    write_export(path, export_records(h.world, *JANUARY))
    first = min(c.complaint_id for c in h.world.all_complaints() if c.tracking_id in spoilt.not_synced)
    # Its detail keeps answering {"results": null}: the resync fails at its first read.
    h.simulator.set_faults(FaultPlan({"null_results": 1.0}, complaints=frozenset({first}), name="poisoned"))

    result = _invoke(h, monkeypatch, str(path), "--pull-missing", "--json")

    pulled = json.loads(result.stdout)["pull_missing"]
    assert pulled["outcome"] == "failed" and pulled["stored"] == []
    assert pulled["not_met"] == []  # both were met in the inbox: they did not leave it


@pytest.mark.e2e
def test_the_inbox_walk_stops_once_every_missing_complaint_was_met(tmp_path: Path) -> None:
    with harness(small_world(), f"sqlite:///{tmp_path / 'walk.db'}", per_page=2) as h:
        first, *_ = [h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL) for _ in range(6)]
        since = datetime(2024, 1, 1, tzinfo=WIB)

        found = search_inbox(h.platform, {first.tracking_id}, since, known=set())
        walked = search_inbox(h.platform, {"1"}, since, known=set())

    assert found.found == {first.tracking_id: first.complaint_id}
    assert (found.pages, found.stopped_early) == (1, True)  # the other two pages are never asked for
    assert (walked.found, walked.pages, walked.stopped_early) == ({}, 3, False)


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[Harness]:
    """A small generated world (40 complaints shaped like the 2024 data set) at the end of its period."""
    simulator = Simulator.generate(complaints=40, clock=ManualClock(END_OF_DATA), rate_limit=None)
    with harness(simulator, f"sqlite:///{tmp_path / 'generated.db'}") as running:
        yield running


@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["xlsx", "docx"])
def test_after_a_sync_the_simulators_export_shows_no_difference(
    generated: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    h = generated
    assert h.sync().outcome == "ok"
    open_cases = [c for c in h.cases() if c.state == "new"]
    h.act(open_cases[0].complaint_id, AgencyAction.FOLLOWUP)
    h.act(open_cases[0].complaint_id, AgencyAction.COMPLETE)
    h.act(open_cases[1].complaint_id, AgencyAction.RETURN, "Data dukung kurang.")
    assert h.sync().pushed == 3
    assert h.sync().updated == 1  # the completion read back (the return waits for LAPOR!'s admin)
    path = tmp_path / f"rekap.{kind}"
    records = export_records(h.world, date(2024, 1, 1), date(2024, 10, 31))
    write_export(path, records)

    result = _invoke(h, monkeypatch, str(path), "--json")
    table = _invoke(h, monkeypatch, str(path))

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["differences"] == 0 and report["matched"] == report["rows"] == len(h.cases()) == 40
    assert table.exit_code == 0 and "40 rows matched; no differences." in table.stdout
    reporters = {r.user for r in records} - {"Anonim"}
    assert reporters and not any(name in result.stdout + table.stdout for name in reporters)  # User is never read


@pytest.mark.e2e
def test_columns_are_named_by_option_or_setting(h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h.new_case()
    [row] = export_records(h.world, *JANUARY)
    path = tmp_path / "export.csv"
    path.write_text(f"Nomor Tiket;Tgl;Keadaan\n{row.tracking_id};{row.day:%d/%m/%Y};Terverifikasi\n", encoding="utf-8")

    unnamed = _invoke(h, monkeypatch, str(path))
    by_option = _invoke(h, monkeypatch, str(path), "--column", "tracking_id=Nomor Tiket", "--column", "date=tgl")
    monkeypatch.setenv("LAPOR_SYNC_EXPORT_COLUMNS", '{"tracking_id": "Nomor Tiket", "status": "Keadaan"}')
    by_setting = _invoke(h, monkeypatch, str(path), "--column", "date=Tgl", "--json")
    wrong = _invoke(h, monkeypatch, str(path), "--column", "reporter=User")

    assert isinstance(unnamed.exception, ExportFileError)
    assert by_option.exit_code == 0, by_option.output
    assert by_setting.exit_code == 0, by_setting.output
    assert json.loads(by_setting.stdout)["columns"] == {
        "tracking_id": "Nomor Tiket",
        "date": "Tgl",
        "status": "Keadaan",
    }
    assert wrong.exit_code == 2 and "unknown export column 'reporter'" in wrong.output


@pytest.mark.e2e
def test_a_confidential_cases_title_is_not_shown(h: Harness, tmp_path: Path) -> None:
    shown = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
    secret = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL, is_secret=True, title="Nama pejabat X")
    h.sync()
    path = tmp_path / "export.csv"
    write_export(path, [r for r in export_records(h.world, *JANUARY) if r.tracking_id == shown.tracking_id])

    result = reconcile(h.app.db, h.app.mapping, read_export(path), last=date(2024, 1, 31))

    assert [(c.tracking_id, c.title) for c in result.not_in_export] == [(secret.tracking_id, "(rahasia)")]
