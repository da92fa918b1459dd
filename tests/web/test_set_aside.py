"""The set-aside pages and their API: the records with their reasons, resync, assigning an agency, the proposed rule."""

from __future__ import annotations

import tomllib

import pytest
from pydantic import SecretStr
from sqlmodel import select

from lapor_sync.accounts.roles import Role
from lapor_sync.config.settings import Settings
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import Case, CaseOverride, SetAsideRecord, SyncRun
from lapor_sync.sync.admin.resync import ResyncResult
from lapor_sync.sync.admin.selection import Selection
from lapor_sync.web.pages import set_aside as set_aside_page
from tests.support.cli import CITY, PERSONAL, SECRET_CONTENT, SECRET_TITLE
from tests.web.conftest import ConsoleHarness, csrf_of

UNSTORED = 1  # the seeded record: complaint 3100009, never stored


def _record_of_stored_complaint(console: ConsoleHarness) -> int:
    """A resolved record whose complaint (the triage case, category "Topik Lainnya") is stored since."""
    db = Database(console.seeded.url)
    with db.session() as session:
        record = SetAsideRecord(
            institution_id=CITY,
            complaint_id=3_100_003,
            reason="detail: 503 three runs in a row",
            raw="{}",
            first_seen_at=console.clock.now(),
            last_seen_at=console.clock.now(),
            resolved_at=console.clock.now(),
        )
        session.add(record)
        session.commit()
        record_id = record.id
    db.dispose()
    assert record_id is not None
    return record_id


def test_the_list_shows_unresolved_records_with_their_reasons(console: ConsoleHarness) -> None:
    resolved = _record_of_stored_complaint(console)
    client = console.signed_in(Role.VIEWER)
    page = client.get("/set-aside")
    assert page.status_code == 200 and "created_at: not a date" in page.text and "3100009" in page.text
    assert "503 three runs" not in page.text and 'name="ids"' not in page.text
    every = client.get("/set-aside?include_resolved=true")
    assert "503 three runs" in every.text
    answer = client.get("/api/v1/set-aside?include_resolved=true", headers=_bearer(console, Role.VIEWER)).json()
    assert [r["id"] for r in answer["rows"]] == [resolved, UNSTORED] and "raw" not in answer["rows"][0]


def test_a_record_page_says_its_complaint_has_no_case_yet(console: ConsoleHarness) -> None:
    client = console.signed_in(Role.OPERATOR)
    page = client.get(f"/set-aside/{UNSTORED}")
    assert "belum ada: sinkron ulang" in page.text and "Sinkron ulang dari LAPOR!" in page.text
    assert "Tetapkan OPD ini" not in page.text  # no case to assign yet
    assert client.get("/set-aside/999").status_code == 404
    assert client.get("/api/v1/set-aside/999", headers=_bearer(console, Role.VIEWER)).status_code == 404


def test_resync_without_a_national_connection_says_why(console: ConsoleHarness) -> None:
    client = console.signed_in(Role.OPERATOR)
    answer = client.post(
        f"/set-aside/{UNSTORED}/resync",
        data={"csrf_token": csrf_of(client, f"/set-aside/{UNSTORED}")},
        follow_redirects=True,
    )
    assert "Tidak dilakukan: cannot reach the national platform" in answer.text
    assert _audit(console, "set_aside.resync") == []


def test_resync_and_bulk_resync_run_the_service_and_are_audited(
    console: ConsoleHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    console.app.settings = Settings(
        database_url=console.seeded.url,
        institution_id=CITY,
        api_key=SecretStr("kunci-api-rahasia"),
        api_token=SecretStr("token-api-rahasia"),
    )
    asked: list[tuple[tuple[int, ...], str]] = []

    def resync_from_settings(app: object, selection: Selection, *, requested_by: str, **_: object) -> ResyncResult:
        asked.append((selection.complaint_ids, requested_by))
        return ResyncResult(
            SyncRun(id=77, institution_id=CITY, job="resync", trigger="command", outcome="ok"), False, []
        )

    monkeypatch.setattr(set_aside_page, "resync_from_settings", resync_from_settings)
    client = console.signed_in(Role.OPERATOR)
    csrf = csrf_of(client, "/set-aside")
    one = client.post(f"/set-aside/{UNSTORED}/resync", data={"csrf_token": csrf}, follow_redirects=True)
    assert "Sinkron ulang #77: 0 tersimpan" in one.text
    resolved = _record_of_stored_complaint(console)
    ids = [str(UNSTORED), str(resolved)]
    many = client.post("/set-aside/bulk", data={"csrf_token": csrf, "ids": ids}, follow_redirects=True)
    assert "Sinkron ulang #77" in many.text
    assert asked == [((3_100_009,), "operator (console)"), ((3_100_009, 3_100_003), "operator (console)")]
    assert [e.detail for e in _audit(console, "set_aside.resync")] == [
        f"set-aside #1, #{resolved}; run #77",
        "set-aside #1; run #77",
    ]
    api = console.client().post("/api/v1/set-aside/bulk", headers=_bearer(console, Role.OPERATOR), json={"ids": [1]})
    assert api.json() == {
        "run_id": 77,
        "outcome": "ok",
        "summary": dict.fromkeys(["created", "updated", "moved", "unchanged", "set aside", "not found"], 0),
    }


def test_assigning_an_agency_keeps_the_case_there_and_proposes_a_rule(console: ConsoleHarness) -> None:
    record = _record_of_stored_complaint(console)
    client = console.signed_in(Role.OPERATOR)
    page = client.get(f"/set-aside/{record}")
    assert "#1900003" in page.text and "Topik Lainnya" in page.text and "Tetapkan OPD ini" in page.text
    answer = client.post(
        f"/set-aside/{record}/assign",
        data={"csrf_token": csrf_of(client, f"/set-aside/{record}"), "agency_code": "DINSOS", "reason": "bansos"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/set-aside/{record}?assigned=DINSOS"
    after = client.get(answer.headers["location"])
    assert "Pengaduan #1900003 sekarang ditangani DINSOS." in after.text and "Jadikan aturan?" in after.text
    with Database(console.seeded.url).session() as session:
        case = session.exec(select(Case).where(Case.tracking_id == "1900003")).one()
        assert case.agency_code == "DINSOS" and session.get(CaseOverride, case.id) is not None
    [entry] = _audit(console, "set_aside.assign")
    assert (entry.tracking_id, entry.detail) == ("1900003", f"set-aside #{record}: DISKOMINFO -> DINSOS")

    rule = client.get(f"/set-aside/{record}/rule?agency_code=DINSOS")
    assert "lapor-sync mapping check" in rule.text and "[[category_route]]" in rule.text
    proposal = client.get(f"/api/v1/set-aside/{record}/rule?agency_code=DINSOS", headers=_bearer(console, Role.VIEWER))
    route = tomllib.loads(proposal.json()["toml"])["category_route"][0]
    assert route == {"category": "Topik Lainnya", "category_id": 43, "agency": "DINSOS"}
    unknown = client.get(f"/api/v1/set-aside/{record}/rule?agency_code=NOPE", headers=_bearer(console, Role.VIEWER))
    assert unknown.json()["toml"] is None and "NOPE" in unknown.json()["refusal"]


def test_assigning_is_refused_without_a_case_or_a_reason(console: ConsoleHarness) -> None:
    record = _record_of_stored_complaint(console)
    client = console.signed_in(Role.OPERATOR)
    csrf = csrf_of(client, "/set-aside")
    no_case = client.post(
        f"/set-aside/{UNSTORED}/assign",
        data={"csrf_token": csrf, "agency_code": "DINSOS", "reason": "x"},
        follow_redirects=True,
    )
    assert "Tidak dilakukan" in no_case.text and "resync it first" in no_case.text
    no_reason = client.post(
        f"/api/v1/set-aside/{record}/assign",
        headers=_bearer(console, Role.OPERATOR),
        json={"agency_code": "DINSOS", "reason": " "},
    )
    assert no_reason.status_code == 409
    assert _audit(console, "set_aside.assign") == []


def test_a_viewer_may_not_act_and_a_form_without_csrf_is_refused(console: ConsoleHarness) -> None:
    record = _record_of_stored_complaint(console)
    viewer, operator = console.signed_in(Role.VIEWER), console.signed_in(Role.OPERATOR)
    actions = [
        (f"/set-aside/{UNSTORED}/resync", {}),
        ("/set-aside/bulk", {"ids": str(UNSTORED)}),
        (f"/set-aside/{record}/assign", {"agency_code": "DINSOS", "reason": "x"}),
    ]
    csrf = csrf_of(viewer, "/set-aside")
    for path, data in actions:
        assert viewer.post(path, data=data | {"csrf_token": csrf}).status_code == 403
        assert operator.post(path, data=data).status_code == 403
    assert "Sinkron ulang dari LAPOR!" not in viewer.get(f"/set-aside/{record}").text
    assert _audit(console, "set_aside.assign") == [] and _audit(console, "set_aside.resync") == []


def _bearer(console: ConsoleHarness, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {console.token(role)}"}


def _audit(console: ConsoleHarness, action: str) -> list:
    return console.asgi.state.console.audit.search(action=action)


def test_no_page_or_answer_of_these_areas_shows_a_reporter_or_a_confidential_text(console: ConsoleHarness) -> None:
    record = _record_of_stored_complaint(console)
    admin = console.signed_in(Role.ADMIN)
    headers = _bearer(console, Role.ADMIN)
    paths = [
        "/outbox",
        f"/outbox/{console.seeded.pending_outbox}",
        "/set-aside?include_resolved=true",
        f"/set-aside/{record}",
        "/mapping",
        "/sla?all=true",
        "/settings",
    ]
    for path in paths:
        for answer in (admin.get(path), admin.get(f"/api/v1{path}", headers=headers)):
            assert answer.status_code == 200, path
            assert not any(text in answer.text for text in (*PERSONAL, SECRET_TITLE, SECRET_CONTENT)), path
