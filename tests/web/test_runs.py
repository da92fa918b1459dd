"""Sync runs: the list with its filters and keyset pages, and one run with its counts and events."""

from __future__ import annotations

from datetime import timedelta

from lapor_sync.accounts.roles import Role
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import SyncRun
from tests.support.cli import CITY
from tests.support.factories import T0
from tests.web.conftest import ConsoleHarness


def _add_runs(url: str, count: int, *, job: str = "pull", outcome: str = "ok") -> None:
    db = Database(url)
    with db.session() as session:
        for _ in range(count):
            session.add(SyncRun(institution_id=CITY, job=job, trigger="schedule", outcome=outcome, started_at=T0))
        session.commit()
    db.dispose()


def test_runs_list_newest_first_with_counts_and_errors(console: ConsoleHarness) -> None:
    page = console.signed_in(Role.VIEWER).get("/runs")
    assert page.status_code == 200
    assert page.text.index('href="/runs/2"') < page.text.index('href="/runs/1"')
    assert "diambil 3, dibuat 3" in page.text  # the pull's counters that moved, in Indonesian
    assert "HTTP 401: token expired" in page.text  # the failed push's error
    assert "04 Juli 2024 09.00 WIB" in page.text


def test_runs_filters_by_outcome_job_and_trigger(console: ConsoleHarness) -> None:
    client = console.signed_in(Role.VIEWER)
    failed = client.get("/api/v1/runs", params={"outcome": "failed"}).json()["runs"]
    assert [r["id"] for r in failed] == [console.seeded.failed_run]
    assert [r["id"] for r in client.get("/api/v1/runs", params={"job": "pull"}).json()["runs"]] == [
        console.seeded.pull_run
    ]
    assert client.get("/api/v1/runs", params={"trigger": "manual"}).json()["runs"] == []
    page = client.get("/runs", params={"job": "", "outcome": "failed", "trigger": ""})  # the form's "any"
    assert 'href="/runs/2"' in page.text and 'href="/runs/1"' not in page.text
    assert '<option value="failed" selected>' in page.text


def test_runs_are_paged_by_keyset(console: ConsoleHarness) -> None:
    _add_runs(console.seeded.url, 60, job="push")
    client = console.signed_in(Role.VIEWER)
    first = client.get("/api/v1/runs", params={"job": "push"}).json()
    assert len(first["runs"]) == 50 and first["next_before"] == first["runs"][-1]["id"]
    second = client.get("/api/v1/runs", params={"job": "push", "before": first["next_before"]}).json()
    assert len(second["runs"]) == 11 and second["next_before"] is None  # 60 added and the seeded push
    assert {r["id"] for r in first["runs"]}.isdisjoint(r["id"] for r in second["runs"])
    page = client.get("/runs", params={"job": "push"}).text
    assert f'href="/runs?job=push&amp;outcome=&amp;trigger=&amp;before={first["next_before"]}"' in page


def test_one_run_shows_its_counts_error_and_events(console: ConsoleHarness) -> None:
    client = console.signed_in(Role.VIEWER, accept_language="en")
    page = client.get(f"/runs/{console.seeded.pull_run}")
    assert page.status_code == 200
    assert "fetched 3, created 3" in page.text
    assert "complaint.created" in page.text and "complaint.triage" in page.text
    found = client.get(f"/api/v1/runs/{console.seeded.pull_run}").json()
    assert found["run"]["job"] == "pull" and found["run"]["holder"] is None
    assert [e["kind"] for e in found["events"]][-1] == "complaint.triage"  # oldest first: a story
    failed = client.get(f"/runs/{console.seeded.failed_run}")
    assert "HTTP 401: token expired" in failed.text and "This run wrote no events." in failed.text


def test_an_unknown_run_is_404(console: ConsoleHarness) -> None:
    client = console.signed_in(Role.VIEWER)
    assert client.get("/runs/999").status_code == 404
    assert client.get("/api/v1/runs/999").json() == {"error": "Halaman atau data tidak ditemukan."}
    assert client.get("/api/v1/runs", params={"before": 0}).status_code == 422


def test_runs_need_a_signed_in_user(console: ConsoleHarness) -> None:
    assert console.client().get("/runs").status_code == 303
    assert console.client().get("/api/v1/runs").status_code == 401


def test_a_run_duration_is_written_with_the_page_language_decimal_sign(console: ConsoleHarness) -> None:
    db = Database(console.seeded.url)
    with db.session() as session:
        session.add(
            SyncRun(
                institution_id=CITY,
                job="pull",
                trigger="schedule",
                outcome="ok",
                started_at=T0,
                finished_at=T0 + timedelta(seconds=1234.5),
            )
        )
        session.commit()
    db.dispose()
    assert "<td>1.234,5</td>" in console.signed_in(Role.VIEWER).get("/runs").text
    assert "<td>1,234.5</td>" in console.signed_in(Role.VIEWER, accept_language="en").get("/runs").text
