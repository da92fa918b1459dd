"""Cases in the console: search, the case page, privacy (confidential, anonymous), and the operator's actions."""

from __future__ import annotations

import html
import re
from contextlib import nullcontext
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlmodel import col, select

from lapor_sync.accounts.roles import Role
from lapor_sync.domain.errors import TransientError
from lapor_sync.domain.privacy import PrivacyRules
from lapor_sync.storage.models import Case, CaseOverride, OutboxItem, SyncRun, ThreadEntry
from tests.support.cli import CITY, PERSONAL, SECRET_CONTENT, SECRET_TITLE
from tests.support.fake_platform import FakePlatform
from tests.web.conftest import AsgiClient, ConsoleHarness, csrf_of

ANONYMOUS_NAME = "Rudi Tersembunyi"  # stored by mistake on an anonymous complaint: must never show


def audited(console: ConsoleHarness, action: str) -> list[tuple[str, str | None]]:
    """(user, tracking id) of the audit entries of ``action``, newest first."""
    return [(e.user, e.tracking_id) for e in console.asgi.state.console.audit.search(action=action)]


@pytest.fixture
def harness(console: ConsoleHarness) -> ConsoleHarness:
    """The console, and the anonymous case holding reporter fields it should never have had."""
    with console.app.db.session() as session:
        case = session.get(Case, console.seeded.triage_case)
        assert case is not None and case.is_anonymous
        case.reporter_name, case.reporter_email, case.reporter_phone = ANONYMOUS_NAME, "rudi@contoh.id", "0812-7777"
        session.add(case)
        session.commit()
    return console


@pytest.fixture
def fake(harness: ConsoleHarness, monkeypatch: pytest.MonkeyPatch) -> FakePlatform:
    """LAPOR! in memory, holding the public complaint; the console's settings name a national connection."""
    platform = FakePlatform(harness.clock)
    platform.add_complaint()  # 3_100_001, the seeded public case's complaint
    app = harness.app
    national = {"api_key": SecretStr("kunci"), "api_token": SecretStr("token"), "institution_id": CITY}
    monkeypatch.setattr(app, "settings", app.settings.model_copy(update=national))
    monkeypatch.setattr(app, "platform", lambda **_: nullcontext(platform))
    return platform


def post(client: AsgiClient, path: str, data: dict[str, object] | None = None, *, page: str) -> httpx.Response:
    """POST ``data`` to ``path`` as the form on ``page`` would (with its CSRF token)."""
    return client.post(path, data={**(data or {}), "csrf_token": csrf_of(client, page)})


def notice_after(client: AsgiClient, answer: httpx.Response) -> str:
    """The notice shown on the page the POST redirected to."""
    assert answer.status_code == 303, answer.text
    page = client.get(answer.headers["location"])
    found = re.search(r'<p class="notice" role="status">(.*?)</p>', page.text, re.S)
    assert found, page.text
    return found.group(1)


# -- search ---------------------------------------------------------------------------------------


def test_a_whole_tracking_id_with_or_without_hash_opens_its_case(harness: ConsoleHarness) -> None:
    client = harness.signed_in(Role.VIEWER)
    for typed in ("#1900001", "1900001", " 1900001 "):
        answer = client.get("/cases", params={"tracking_id": typed})
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/cases/{harness.seeded.public_case}"
    listed = client.get("/cases", params={"tracking_id": "#19000"})  # a beginning lists the matches
    assert listed.status_code == 200 and all(f"#190000{n}" in listed.text for n in (1, 2, 3))


def test_search_by_words_and_agency_never_by_reporter_and_hides_confidential_titles(harness: ConsoleHarness) -> None:
    client = harness.signed_in(Role.VIEWER)
    by_words = client.get("/cases", params={"text": "saran UMUM"}).text
    assert "#1900003" in by_words and "#1900001" not in by_words
    by_agency = client.get("/cases", params={"agency": "dinkes"}).text
    assert "#1900002" in by_agency and "#1900001" not in by_agency
    assert SECRET_TITLE not in by_agency and "rahasia" in by_agency
    assert "#1900003" not in client.get("/cases", params={"text": ANONYMOUS_NAME}).text
    assert "#1900002" not in client.get("/cases", params={"text": "Pungli"}).text  # viewer: no confidential match
    admin = harness.signed_in(Role.ADMIN)
    assert "#1900002" in admin.get("/cases", params={"text": "Pungli"}).text
    token = harness.token(Role.VIEWER)
    rows = client.get("/api/v1/cases", params={"agency": "DINKES"}, headers={"Authorization": f"Bearer {token}"})
    assert [(r["tracking_id"], r["title"]) for r in rows.json()["rows"]] == [("1900002", None)]


def test_the_list_pages_by_keyset(harness: ConsoleHarness) -> None:
    token = {"Authorization": f"Bearer {harness.token(Role.VIEWER)}"}
    client = harness.client()
    first = client.get("/api/v1/cases", params={"limit": 2}, headers=token).json()
    assert [r["tracking_id"] for r in first["rows"]] == ["1900003", "1900002"]
    second = client.get("/api/v1/cases", params={"limit": 2, "before": first["next_before"]}, headers=token).json()
    assert [r["tracking_id"] for r in second["rows"]] == ["1900001"] and second["next_before"] is None
    page = harness.signed_in(Role.VIEWER).get("/cases", params={"agency": "", "limit": 1}).text
    older = re.search(r'href="(/cases\?[^"]+)">Kasus yang lebih lama', page)
    assert older and "before=" in older.group(1) and "limit=1" in older.group(1)


def test_the_dashboard_open_cases_link_lists_only_open_cases_and_pages_keep_it(harness: ConsoleHarness) -> None:
    with harness.app.db.session() as session:
        closed = session.get(Case, harness.seeded.public_case)
        assert closed is not None
        closed.state = "completed"
        session.add(closed)
        session.commit()
    client = harness.signed_in(Role.VIEWER)
    link = re.search(r'href="(/cases\?open_only=1)"', client.get("/").text)
    assert link is not None
    listed = client.get(html.unescape(link.group(1)) + "&limit=1").text
    assert f'href="/cases/{harness.seeded.public_case}"' not in listed
    older = re.search(r'href="(/cases\?[^"]+)">Kasus yang lebih lama', listed)
    assert older and "open_only=1" in html.unescape(older.group(1))
    rest = client.get(html.unescape(older.group(1))).text
    assert f'href="/cases/{harness.seeded.public_case}"' not in rest
    assert 'name="open_only" value="1" checked' in rest
    api = client.get("/api/v1/cases", params={"open_only": "1"}).json()["rows"]
    assert harness.seeded.public_case not in [r["id"] for r in api] and api


# -- the case page ----------------------------------------------------------------------------------


def test_the_case_page_shows_data_thread_sla_routing_outbox_and_events(harness: ConsoleHarness) -> None:
    page = harness.signed_in(Role.VIEWER).get(f"/cases/{harness.seeded.public_case}").text
    assert "#1900001" in page and "Dinas Sosial" in page
    assert page.index("Terima kasih, mohon segera ditindaklanjuti.") < page.index("Petugas akan survei lokasi.")
    assert "dari LAPOR!" in page and "ditulis di sini" in page and re.search(r"<code>LS-[0-9a-f]{10}</code>", page)
    assert "hari kerja" in page  # the SLA clock
    assert "institution:627104" in page  # the mapping explanation's rule
    assert "menunggu" in page  # its pending outbox row
    assert "complaint.created" in page and "/events?tracking_id=1900001" in page
    assert "Budi Contoh" not in page  # the reporter, until asked


def test_the_api_gives_the_case_with_the_sla_in_working_days(harness: ConsoleHarness) -> None:
    token = {"Authorization": f"Bearer {harness.token(Role.VIEWER)}"}
    path = f"/api/v1/cases/{harness.seeded.secret_case}"
    detail = harness.client().get(path, headers=token).json()  # Friday 5 July 2024, due Tuesday 9 July
    assert detail["case"]["title"] is None and detail["sla"]["status"] == "on_track"
    assert detail["sla"]["followup"]["working_days_left"] == 2  # Monday 8, Tuesday 9
    assert detail["routing"]["rule"] == "category:Kesehatan" and detail["reporter"] is None
    harness.clock.advance(timedelta(days=10))  # Monday 15 July
    later = harness.client().get(path, headers=token).json()
    assert later["sla"]["status"] == "overdue" and later["sla"]["followup"]["working_days_left"] == -4
    assert harness.client().get("/api/v1/cases/999999", headers=token).status_code == 404


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_confidential_content_is_hidden_and_cannot_be_opened_below_the_allowed_role(
    harness: ConsoleHarness, role: Role
) -> None:
    client = harness.signed_in(role)
    path = f"/cases/{harness.seeded.secret_case}"
    page = client.get(path).text
    assert SECRET_TITLE not in page and SECRET_CONTENT not in page and "show_confidential" not in page
    assert client.get(path, params={"show_confidential": "true"}).status_code == 403
    assert audited(harness, "case.open_confidential") == []


def test_an_admin_opens_confidential_content_by_the_button_and_it_is_audited(harness: ConsoleHarness) -> None:
    client = harness.signed_in(Role.ADMIN)
    path = f"/cases/{harness.seeded.secret_case}"
    page = client.get(path).text
    assert SECRET_TITLE not in page and 'name="show_confidential"' in page  # not silently
    assert audited(harness, "case.open_confidential") == []
    opened = client.get(path, params={"show_confidential": "true"}).text
    assert SECRET_TITLE in opened and SECRET_CONTENT in opened
    assert audited(harness, "case.open_confidential") == [("admin", "1900002")]


def test_the_mapping_may_let_operators_open_confidential_content(
    harness: ConsoleHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    wider = harness.app.mapping.model_copy(update={"privacy": PrivacyRules(confidential_roles=("admin", "operator"))})
    monkeypatch.setitem(harness.app.__dict__, "mapping", wider)
    operator = harness.signed_in(Role.OPERATOR)
    path = f"/cases/{harness.seeded.secret_case}"
    assert SECRET_TITLE in operator.get(path, params={"show_confidential": "true"}).text
    assert harness.signed_in(Role.VIEWER).get(path, params={"show_confidential": "true"}).status_code == 403
    assert audited(harness, "case.open_confidential") == [("operator", "1900002")]


def test_a_confidential_message_in_a_public_case_is_hidden_until_opened(harness: ConsoleHarness) -> None:
    reply = "Terima kasih, mohon segera ditindaklanjuti."
    with harness.app.db.session() as session:
        first = (
            select(ThreadEntry).where(ThreadEntry.case_id == harness.seeded.public_case).order_by(col(ThreadEntry.id))
        )
        entry = session.exec(first.limit(1)).first()  # the first written, the reporter's reply
        assert entry is not None and entry.content == reply
        entry.is_secret = True
        session.add(entry)
        session.commit()
    path = f"/cases/{harness.seeded.public_case}"
    assert reply not in harness.signed_in(Role.OPERATOR).get(path, params={"show_reporter": "true"}).text
    admin = harness.signed_in(Role.ADMIN)
    page = admin.get(path).text
    assert reply not in page and 'name="show_confidential"' in page
    assert reply in admin.get(path, params={"show_confidential": "true"}).text
    assert audited(harness, "case.open_confidential") == [("admin", "1900001")]


def test_the_reporter_shows_to_an_operator_after_the_audited_button_and_never_to_a_viewer(
    harness: ConsoleHarness,
) -> None:
    path = f"/cases/{harness.seeded.public_case}"
    viewer = harness.signed_in(Role.VIEWER)
    assert 'name="show_reporter"' not in viewer.get(path).text
    assert viewer.get(path, params={"show_reporter": "true"}).status_code == 403
    operator = harness.signed_in(Role.OPERATOR)
    assert "Budi Contoh" not in operator.get(path).text
    assert "Budi Contoh" in operator.get(path, params={"show_reporter": "true"}).text
    assert audited(harness, "case.show_reporter") == [("operator", "1900001")]


def test_an_anonymous_complaint_never_shows_a_reporter_even_if_one_was_stored(harness: ConsoleHarness) -> None:
    admin = harness.signed_in(Role.ADMIN)
    token = {"Authorization": f"Bearer {harness.token(Role.ADMIN)}"}
    path = f"/cases/{harness.seeded.triage_case}"
    answers = [
        admin.get(path, params={"show_reporter": "true", "show_confidential": "true"}).text,
        admin.get("/cases", params={"text": "Saran"}).text,
        admin.get(f"/api/v1{path}", params={"show_reporter": "true"}, headers=token).text,
        admin.get("/api/v1/cases", headers=token).text,
    ]
    assert "(anonim)" in answers[0]
    for text in answers:
        assert not any(secret in text for secret in (ANONYMOUS_NAME, "rudi@contoh.id", "0812-7777", *PERSONAL))
    assert audited(harness, "case.show_reporter") == []


# -- actions ------------------------------------------------------------------------------------------


def test_resync_runs_and_links_the_new_run_and_is_audited(harness: ConsoleHarness, fake: FakePlatform) -> None:
    client = harness.signed_in(Role.OPERATOR)
    path = f"/cases/{harness.seeded.public_case}"
    answer = post(client, f"{path}/resync", page=path)
    notice = notice_after(client, answer)
    with harness.app.db.session() as session:
        run = session.exec(select(SyncRun).where(SyncRun.job == "resync")).one()
    assert f"{run.id}" in notice and run.outcome == "ok"
    assert answer.headers["location"] == f"{path}?run={run.id}"
    assert f'href="/runs/{run.id}"' in client.get(answer.headers["location"]).text
    assert ("fetch_complaint", 3_100_001) in fake.calls
    assert audited(harness, "case.resync") == [("operator", "1900001")]


def test_resync_when_lapor_fails_or_is_not_configured_is_a_notice_not_an_error(
    harness: ConsoleHarness, fake: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = harness.signed_in(Role.OPERATOR)
    path = f"/cases/{harness.seeded.public_case}"
    fake.fail_next("fetch_complaint", TransientError("Service Unavailable", status=503))
    failed = notice_after(client, post(client, f"{path}/resync", page=path))
    assert "gagal" in failed and "Service Unavailable" in failed
    monkeypatch.setattr(harness.app, "settings", harness.app.settings.model_copy(update={"api_key": None}))
    refused = notice_after(client, post(client, f"{path}/resync", page=path))
    assert "LAPOR_SYNC_API_KEY" in refused


def test_reassign_moves_the_case_with_a_sticky_override_and_clear_returns_it(harness: ConsoleHarness) -> None:
    client = harness.signed_in(Role.OPERATOR)
    case_id = harness.seeded.public_case
    path = f"/cases/{case_id}"
    moved = notice_after(client, post(client, f"{path}/reassign", {"agency": "DISHUB", "reason": "jalan"}, page=path))
    assert "DISHUB" in moved
    with harness.app.db.session() as session:
        override = session.get(CaseOverride, case_id)
        assert override is not None and override.set_by == "operator (console)"
    assert "case.reassigned" in client.get(path).text
    cleared = notice_after(client, post(client, f"{path}/reassign", {"clear": "true", "reason": "salah"}, page=path))
    assert "DINSOS" in cleared
    refused = notice_after(client, post(client, f"{path}/reassign", {"agency": "NOPE", "reason": "x"}, page=path))
    assert "Tidak dilakukan" in refused and "NOPE" in refused
    assert [a for a, _ in audited(harness, "case.reassign")] == ["operator"]
    assert [a for a, _ in audited(harness, "case.reassign_clear")] == ["operator"]


@pytest.mark.parametrize(
    ("action", "data", "kind"),
    [
        ("followup", {"text": "Sudah kami tinjau."}, "followup"),
        ("complete", {"text": "Selesai diperbaiki."}, "complete"),
        ("return", {"text": "Mohon lampirkan foto."}, "return"),
        ("forward", {"text": "Jalan provinsi.", "institution": "62"}, "forward"),
    ],
)
def test_agency_actions_queue_an_outbox_row_and_are_audited(
    harness: ConsoleHarness, action: str, data: dict[str, str], kind: str
) -> None:
    client = harness.signed_in(Role.OPERATOR)
    case_id = harness.seeded.public_case  # in progress: staff's follow-up is queued
    path = f"/cases/{case_id}"
    notice = notice_after(client, post(client, f"{path}/{action}", data, page=path))
    assert "LAPOR!" in notice
    with harness.app.db.session() as session:
        rows = session.exec(select(OutboxItem).where(OutboxItem.case_id == case_id)).all()
    assert [row.kind for row in rows] == ["followup", kind]
    assert audited(harness, f"case.{action}") == [("operator", "1900001")]


def test_a_refused_action_is_a_notice_and_the_api_answers_409(harness: ConsoleHarness) -> None:
    client = harness.signed_in(Role.OPERATOR)
    path = f"/cases/{harness.seeded.public_case}"
    empty = notice_after(client, post(client, f"{path}/followup", {"text": "  "}, page=path))
    assert "Tidak dilakukan" in empty
    forward_home = notice_after(client, post(client, f"{path}/forward", {"text": "x", "institution": CITY}, page=path))
    assert "Tidak dilakukan" in forward_home
    token = {"Authorization": f"Bearer {harness.token(Role.OPERATOR)}"}
    api = harness.client().post(f"/api/v1{path}/followup", data={"text": ""}, headers=token)
    assert api.status_code == 409 and "empty" in api.json()["error"]
    done = harness.client().post(f"/api/v1{path}/followup", data={"text": "Lewat API."}, headers=token)
    assert done.status_code == 200 and done.json()["action"] == "followup"


ACTIONS = [
    ("resync", {}),
    ("reassign", {"agency": "DISHUB", "reason": "x"}),
    ("followup", {"text": "x"}),
    ("complete", {"text": "x"}),
    ("return", {"text": "x"}),
    ("forward", {"text": "x", "institution": "62"}),
]


@pytest.mark.parametrize(("action", "data"), ACTIONS)
def test_a_viewer_gets_403_and_a_form_without_csrf_is_refused(
    harness: ConsoleHarness, action: str, data: dict[str, str]
) -> None:
    path = f"/cases/{harness.seeded.public_case}"
    viewer = harness.signed_in(Role.VIEWER)
    assert post(viewer, f"{path}/{action}", data, page=path).status_code == 403
    operator = harness.signed_in(Role.OPERATOR)
    assert operator.post(f"{path}/{action}", data=data).status_code == 403
    token = {"Authorization": f"Bearer {harness.token(Role.VIEWER)}"}
    assert harness.client().post(f"/api/v1{path}/{action}", data=data, headers=token).status_code == 403
    with harness.app.db.session() as session:
        assert session.exec(select(OutboxItem).where(OutboxItem.case_id == harness.seeded.public_case)).all()[1:] == []
    assert harness.asgi.state.console.audit.search(action=f"case.{action}") == []


def test_a_viewer_sees_no_action_buttons(harness: ConsoleHarness) -> None:
    viewer = harness.signed_in(Role.VIEWER)
    page = viewer.get(f"/cases/{harness.seeded.public_case}").text
    assert "/resync" not in page and "/reassign" not in page and 'name="ids"' not in viewer.get("/cases").text
    operator = harness.signed_in(Role.OPERATOR)
    assert "/resync" in operator.get(f"/cases/{harness.seeded.public_case}").text
    assert 'name="ids"' in operator.get("/cases").text


def test_a_closed_case_offers_resync_and_re_route_but_no_agency_action(harness: ConsoleHarness) -> None:
    case_id = harness.seeded.public_case
    with harness.app.db.session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        case.state = "completed"
        session.add(case)
        session.commit()
    page = harness.signed_in(Role.OPERATOR).get(f"/cases/{case_id}").text
    assert f"/cases/{case_id}/resync" in page and f"/cases/{case_id}/reassign" in page
    for action in ("followup", "complete", "return", "forward"):
        assert f"/cases/{case_id}/{action}" not in page
    assert "Kasus ini sudah selesai" in page


def test_bulk_reassign_and_resync_count_per_row_outcomes(harness: ConsoleHarness, fake: FakePlatform) -> None:
    client = harness.signed_in(Role.OPERATOR)
    seeded = harness.seeded
    ids = [seeded.public_case, seeded.triage_case]
    moved = notice_after(
        client,
        post(
            client, "/cases/bulk", {"ids": ids, "action": "reassign", "agency": "DINSOS", "reason": "x"}, page="/cases"
        ),
    )
    assert "2 kasus" in moved and "1 dipindahkan" in moved and "1 sudah di instansi itu" in moved
    assert [t for _, t in audited(harness, "case.reassign")] == ["1900003", "1900001"]
    resynced = notice_after(
        client, post(client, "/cases/bulk", {"ids": [seeded.public_case], "action": "resync"}, page="/cases")
    )
    assert "1 kasus" in resynced
    assert (
        post(harness.signed_in(Role.VIEWER), "/cases/bulk", {"ids": ids, "action": "resync"}, page="/cases").status_code
        == 403
    )
    assert client.post("/cases/bulk", data={"ids": ids, "action": "resync"}).status_code == 403
    nothing = notice_after(client, post(client, "/cases/bulk", {"action": "reassign"}, page="/cases"))
    assert "Pilih sedikitnya satu kasus" in nothing


def test_the_api_answers_a_reassign_as_case_reassign_json_does(harness: ConsoleHarness) -> None:
    bearer = {"Authorization": f"Bearer {harness.token(Role.OPERATOR)}"}
    case_id = harness.seeded.public_case
    answer = harness.client().post(
        f"/api/v1/cases/{case_id}/reassign", data={"agency": "DISHUB", "reason": "jalan"}, headers=bearer
    )
    assert answer.status_code == 200
    done = answer.json()
    assert set(done) == {"case_id", "tracking_id", "previous_agency", "agency_code", "rule", "reason", "override"}
    assert (done["case_id"], done["agency_code"], done["rule"]) == (case_id, "DISHUB", "override")
    assert done["override"]["set_by"] == "operator (console)"


def test_a_bulk_reassign_while_a_pull_runs_waits_once_and_says_why(
    harness: ConsoleHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lapor_sync.app import App
    from lapor_sync.storage.lease import Leases

    monkeypatch.setattr(harness.app, "settings", harness.app.settings.model_copy(update={"lease_wait_seconds": 0}))
    tries: list[str] = []
    hold = Leases.hold

    def counted(self: Leases, job: str, **options: object) -> object:
        tries.append(job)
        return hold(self, job, **options)  # type: ignore[arg-type]

    client = harness.signed_in(Role.OPERATOR)
    ids = [harness.seeded.public_case, harness.seeded.triage_case]
    with App(harness.app.settings, purpose="worker").leases().hold("pull", institution_id=CITY):
        monkeypatch.setattr(Leases, "hold", counted)
        busy = notice_after(
            client,
            post(
                client,
                "/cases/bulk",
                {"ids": ids, "action": "reassign", "agency": "DINSOS", "reason": "x"},
                page="/cases",
            ),
        )
    assert tries == ["pull"]  # one wait for the list, not one per case
    assert "Tidak dilakukan" in busy and "worker" in busy  # who holds the lease, as one case's reassign says
    assert audited(harness, "case.reassign") == []
