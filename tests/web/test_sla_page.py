"""The SLA page and its API: overdue and due soon per agency, as ``lapor-sync sla`` gives them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lapor_sync.accounts.roles import Role
from tests.support.cli import invoke_json
from tests.web.conftest import ConsoleHarness


def test_an_overdue_case_is_listed_under_its_agency(console: ConsoleHarness) -> None:
    console.clock.advance(timedelta(days=10))
    page = console.signed_in(Role.VIEWER).get("/sla")
    assert page.status_code == 200
    assert "DINKES · Dinas Kesehatan" in page.text and "#1900002" in page.text
    assert "1 lewat tenggat, 0 segera jatuh tempo, 1 terbuka." in page.text
    assert "15 Juli 2024 09.00 WIB" in page.text  # the instant evaluated, in WIB
    assert "DINSOS ·" not in page.text.split("</form>")[-1]  # on track: listed only with "all"
    assert "Kesehatan masyarakat" not in page.text  # identifiers only: no title or content


def test_all_lists_every_open_case_and_an_agency_narrows(console: ConsoleHarness) -> None:
    client = console.signed_in(Role.VIEWER)
    everything = client.get("/sla?all=true&agency=")
    assert all(f"#{t}" in everything.text for t in ("1900001", "1900002", "1900003"))
    one = client.get("/sla?all=true&agency=dinsos")
    assert "#1900001" in one.text and "#1900002" not in one.text
    assert client.get("/sla?agency=NOPE").status_code == 422


def test_the_api_gives_what_sla_json_gives(
    console: ConsoleHarness, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    console.clock.advance(timedelta(days=10))
    api = console.client().get(
        "/api/v1/sla?all=true", headers={"Authorization": f"Bearer {console.token(Role.VIEWER)}"}
    )
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL", console.seeded.url)
    cli = invoke_json("sla", "--all", "--at", console.clock.now().isoformat())
    data = api.json()
    assert data["counts"] == cli["counts"] == {"overdue": 1, "due_soon": 0, "on_track": 2, "met": 0}
    assert data["limits"] == cli["limits"] and data["open_cases"] == cli["open_cases"] == 3
    assert [(a["agency_code"], [c["case_id"] for c in a["cases"]]) for a in data["agencies"]] == [
        (a["agency_code"], [c["case_id"] for c in a["cases"]]) for a in cli["agencies"]
    ]
