"""The mapping page and its API: mapping check, the rules in force, the agencies, the complaints in triage."""

from __future__ import annotations

from lapor_sync.accounts.roles import Role
from tests.web.conftest import ConsoleHarness


def test_the_page_shows_the_check_the_rules_and_what_went_to_triage(console: ConsoleHarness) -> None:
    page = console.signed_in(Role.VIEWER).get("/mapping")
    assert page.status_code == 200
    assert "Pemerintah Kota Palangka Raya (instansi 6271): 12 OPD" in page.text
    assert "belum dicocokkan dengan LAPOR!" in page.text and "lapor-sync masters pull" in page.text
    assert "<code>category:Kesehatan</code>" in page.text and "<code>triage</code>" in page.text
    assert "Topik Lainnya" in page.text and "(43)" in page.text  # the anonymous complaint no rule routed
    assert "Saran umum" not in page.text  # a category, never a complaint's title


def test_the_api_gives_the_same_as_mapping_check_and_the_rules_in_their_order(console: ConsoleHarness) -> None:
    answer = console.client().get("/api/v1/mapping", headers={"Authorization": f"Bearer {console.token(Role.VIEWER)}"})
    data = answer.json()
    assert data["check"]["agencies"] == 12 and data["check"]["unknown_institutions"] is None
    assert data["rules"][0]["kind"] == "institution" and data["rules"][-1] == {
        "rule": "triage",
        "kind": "triage",
        "agency_code": "DISKOMINFO",
        "agency_name": "Dinas Komunikasi, Informatika, Statistik dan Persandian",
    }
    assert data["triaged"] == [
        {
            "category_id": 43,
            "category_name": "Topik Lainnya",
            "cases": 1,
            "open_cases": 1,
            "last_dispositioned_at": "2024-07-03T02:00:00Z",
        }
    ]


def test_signed_out_visitors_are_sent_to_sign_in(console: ConsoleHarness) -> None:
    assert console.client().get("/mapping").status_code == 303
    assert console.client().get("/api/v1/mapping").status_code == 401
