"""The ``mapping`` group: checking a mapping file and explaining a routing decision."""

from __future__ import annotations

from pathlib import Path

from lapor_sync.adapters.city.builtin import CaseNotFound
from lapor_sync.domain.errors import ConfigurationError
from tests.support.cli import Seeded, cli_env, invoke, invoke_json, seeded

__all__ = ["cli_env", "seeded"]  # fixtures


def test_check_summarises_the_packaged_mapping(cli_env: str) -> None:
    summary = invoke_json("mapping", "check")
    assert summary.pop("unknown_institutions") is None  # no master data: not checked (tests/cli/test_masters.py)

    assert summary == {
        "institution": {"id": 6271, "name": "Pemerintah Kota Palangka Raya"},
        "agencies": 12,
        "category_routes": 16,
        "triage_agency": "DISKOMINFO",
        "outside_institutions": 6,
        "status_codes": 6,
    }
    text = invoke("mapping", "check")
    assert text.exit_code == 0 and "Mapping OK" in text.stdout and "12 agencies" in text.stdout


def test_check_of_a_wrong_file_raises_a_configuration_error_naming_the_key(cli_env: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[institution]\nid = 6271\nname = "Kota"\n[triage]\nagency = "NOPE"\n', encoding="utf-8")

    result = invoke("mapping", "check", "--file", str(bad))

    assert isinstance(result.exception, ConfigurationError)
    assert "triage.agency" in str(result.exception) or "agency" in str(result.exception)


def test_check_refuses_a_mapping_for_another_institution_than_configured(cli_env: str, monkeypatch) -> None:
    monkeypatch.setenv("LAPOR_SYNC_INSTITUTION_ID", "6272")

    assert isinstance(invoke("mapping", "check").exception, ConfigurationError)


def test_explain_a_described_complaint(cli_env: str) -> None:
    by_category = invoke_json("mapping", "explain", "--category", "perhubungan", "--institution", "6271")
    assert (by_category["agency_code"], by_category["rule"], by_category["is_triage"]) == (
        "DISHUB",
        "category:Perhubungan",
        False,
    )
    assert "matched by name" in by_category["reason"]

    by_sub_unit = invoke_json("mapping", "explain", "--institution", "627101", "--category", "Kesehatan")
    assert (by_sub_unit["agency_code"], by_sub_unit["rule"]) == ("PUPR", "institution:627101")

    outside = invoke_json("mapping", "explain", "--institution", "9001")
    assert outside["leaves_city"] is True and outside["is_triage"] is True
    table = invoke("mapping", "explain", "--category", "Topik Lainnya")
    assert table.exit_code == 0 and "triage" in table.stdout


def test_explain_a_stored_complaint_by_its_complaint_id(seeded: Seeded) -> None:
    explained = invoke_json("mapping", "explain", "--complaint-id", "3100003")

    assert explained["input"] == {"disposition_id": 6271, "category_id": 43, "category_name": "Topik Lainnya"}
    assert (explained["agency_code"], explained["rule"]) == ("DISKOMINFO", "triage")
    assert explained["case"] == {
        "id": seeded.triage_case,
        "tracking_id": "1900003",
        "agency_code": "DISKOMINFO",
        "routing_rule": "triage",
        "state": "in_progress",
    }
    assert isinstance(invoke("mapping", "explain", "--complaint-id", "42").exception, CaseNotFound)


def test_explain_needs_either_a_description_or_a_complaint_id(seeded: Seeded) -> None:
    assert invoke("mapping", "explain").exit_code == 2
    assert invoke("mapping", "explain", "--complaint-id", "3100003", "--category", "Agama").exit_code == 2
