"""The SLA page and its API: overdue and due soon per agency, as ``lapor-sync sla`` gives them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from lapor_sync.accounts.roles import Role
from lapor_sync.reports.sla import sla_overview
from lapor_sync.storage.models import Case
from lapor_sync.web.pages.sla import PER_AGENCY
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


def _late_cases(console: ConsoleHarness, agency: str, count: int) -> list[str]:
    """Add ``count`` open cases of ``agency`` never followed up, dispositioned an hour apart before T0.

    Returns their tracking ids, the latest disposition first.
    """
    start = console.clock.now() - timedelta(days=4)  # the harness's T0: Monday 1 July 2024 09:00 WIB
    ids = [str(1_950_000 + n) for n in range(count)]
    with console.app.db.session() as session:
        for n, tracking_id in enumerate(ids):
            at = start - timedelta(hours=n)
            session.add(
                Case(
                    institution_id=6271, complaint_id=3_950_000 + n, tracking_id=tracking_id, agency_code=agency,
                    routing_rule="category", state="in_progress", title="Lampu jalan mati", content="Mati.",
                    content_length=5, national_status_code=1, national_status_name="Terverifikasi",
                    is_anonymous=False, is_secret=False, is_priority=False, complaint_created_at=at,
                    dispositioned_at=at, received_at=at,
                )
            )  # fmt: skip
        session.commit()
    return ids


def _listed(html: str, agency: str) -> list[str]:
    """The tracking ids in ``agency``'s table, in order."""
    section = html.split(f'id="sla-{agency}"')[1].split("</section>")[0]
    return re.findall(r">#(\d+)</a>", section)


def test_without_an_agency_each_agency_shows_its_most_pressing_cases(console: ConsoleHarness) -> None:
    late = _late_cases(console, "DISHUB", PER_AGENCY + 2)
    console.clock.advance(timedelta(days=10))
    client = console.signed_in(Role.VIEWER)
    page = client.get("/sla")
    own = client.get("/sla?agency=DISHUB")
    assert page.status_code == own.status_code == 200
    # The agency's own page lists all its pressing cases in the rule's order; here, its first ten.
    assert sorted(_listed(own.text, "DISHUB")) == sorted(late)
    assert _listed(page.text, "DISHUB") == _listed(own.text, "DISHUB")[:PER_AGENCY]
    assert set(late[:2]).isdisjoint(_listed(page.text, "DISHUB"))  # dispositioned last: due last
    assert "12 lewat tenggat, 0 segera jatuh tempo, 12 terbuka." in page.text  # counted, not cut
    assert 'href="/sla?agency=DISHUB">Seluruh 12 pengaduan DISHUB</a>' in page.text
    assert "pengaduan DINKES</a>" not in page.text  # one case: nothing cut, no link
    assert "Seluruh 12 pengaduan" not in own.text and len(_listed(client.get("/sla?all=true").text, "DISHUB")) == 12


def test_the_api_says_per_agency_how_many_are_shown_of_how_many(
    console: ConsoleHarness, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    late = _late_cases(console, "DISHUB", PER_AGENCY + 2)
    console.clock.advance(timedelta(days=10))
    headers = {"Authorization": f"Bearer {console.token(Role.VIEWER)}"}
    data = console.client().get("/api/v1/sla", headers=headers).json()
    own = console.client().get("/api/v1/sla?agency=DISHUB", headers=headers).json()
    agencies = {a["agency_code"]: a for a in data["agencies"]}
    assert data["per_agency"] == PER_AGENCY and data["counts"]["overdue"] == 13
    assert (agencies["DISHUB"]["shown"], agencies["DISHUB"]["listable"]) == (PER_AGENCY, 12)
    assert (agencies["DINKES"]["shown"], agencies["DINKES"]["listable"]) == (1, 1)
    everyone = [c["tracking_id"] for c in own["agencies"][0]["cases"]]
    assert [c["tracking_id"] for c in agencies["DISHUB"]["cases"]] == everyone[:PER_AGENCY]
    assert "per_agency" not in own and sorted(everyone) == sorted(late)
    # The command lists every case, as it always did.
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL", console.seeded.url)
    cli = invoke_json("sla", "--at", console.clock.now().isoformat())
    assert "per_agency" not in cli
    assert [len(a["cases"]) for a in cli["agencies"] if a["agency_code"] == "DISHUB"] == [12]


@pytest.mark.parametrize(("everything", "per_agency"), [(True, 10), (False, 0)])
def test_the_limit_cuts_the_pressing_cases_only(console: ConsoleHarness, everything: bool, per_agency: int) -> None:
    app = console.app
    with app.db.session() as session, pytest.raises(ValueError, match="per_agency"):
        sla_overview(
            session, app.mapping, app.settings, console.clock.now(), everything=everything, per_agency=per_agency
        )
