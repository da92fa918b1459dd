"""Rules that hold for every route of the console, walked from its route table (so new pages are covered).

- A viewer gets 403 from every action, in the browser and through the API.
- A form posted without its CSRF token is refused, whatever the route.
- No page and no API answer shows an anonymous reporter's identity, even to an admin, even when the
  national side sent one and it is stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import update
from sqlmodel import select

from lapor_sync.accounts.roles import Role
from lapor_sync.storage.models import AuditEntry, Case, SetAsideRecord
from lapor_sync.web.app import API_PREFIX
from lapor_sync.web.pages import ROUTERS
from tests.web.conftest import ConsoleHarness, csrf_of

# The ways in and out that anyone may post to: they act on nobody's data.
OPEN_TO_ALL = {"/sign-in", "/sign-out", "/language"}
# Answers that do not end (server-sent events): their rules are tested in tests/web/test_events.py.
ENDLESS = re.compile(r"/stream$")
IDENTITY = ("Anonim Tersimpan", "anonim.tersimpan@contoh.id", "0899-7777-1234")


def _routes(_console: ConsoleHarness) -> Iterator[tuple[str, set[str]]]:
    """Every page and API route, from the registry the app mounts (``ROUTERS``), with its methods."""
    yield f"{API_PREFIX}/openapi.json", {"GET"}
    for pages, api in ROUTERS:
        mounted = [(pages, "")] + ([(api, API_PREFIX)] if api is not None else [])
        for router, prefix in mounted:
            for route in router.routes:
                if isinstance(route, APIRoute) and not ENDLESS.search(route.path):
                    yield prefix + route.path, set(route.methods)


def _fill(path: str, values: dict[str, object]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: str(values[m.group(1)]), path)


def _values(console: ConsoleHarness, case_id: int) -> dict[str, object]:
    with console.app.db.session() as session:
        record = session.exec(select(SetAsideRecord)).first()
    token = console.tokens.issue_token("operator", label="walk")
    (info,) = [t for t in console.tokens.tokens("operator") if token.startswith(t.prefix)]
    return {
        "case_id": case_id,
        "run_id": console.seeded.pull_run,
        "item_id": console.seeded.dead_outbox,
        "record_id": record.id if record else 1,
        "name": "operator",
        "token_id": info.id,
    }


def _actions(console: ConsoleHarness) -> list[str]:
    values = _values(console, console.seeded.public_case)
    return sorted(
        _fill(path, values) for path, methods in _routes(console) if "POST" in methods and path not in OPEN_TO_ALL
    )


def test_the_walk_finds_the_console_actions(console: ConsoleHarness) -> None:
    actions = _actions(console)
    assert "/users" in actions and any(a.startswith("/api/v1/") for a in actions)


def test_a_viewer_gets_403_from_every_action(console: ConsoleHarness) -> None:
    viewer = console.signed_in(Role.VIEWER)
    token = console.token(Role.VIEWER)
    csrf = csrf_of(viewer, "/")
    refused = {}
    for action in _actions(console):
        if action.startswith("/api/v1/"):
            answer = console.client().post(action, json={}, headers={"Authorization": f"Bearer {token}"})
        else:
            answer = viewer.post(action, data={"csrf_token": csrf})
        refused[action] = answer.status_code
    assert {a: code for a, code in refused.items() if code != 403} == {}


def test_every_form_without_its_csrf_token_is_refused(console: ConsoleHarness) -> None:
    admin = console.signed_in(Role.ADMIN)
    with console.app.db.session() as session:
        audited = len(session.exec(select(AuditEntry)).all())
    answers = {a: admin.post(a, data={}).status_code for a in _actions(console) if not a.startswith("/api/v1/")}
    assert {a: code for a, code in answers.items() if code != 403} == {}
    # An API route used with the browser's cookie instead of a token is a form too.
    api = {a: admin.post(a, json={}).status_code for a in _actions(console) if a.startswith("/api/v1/")}
    assert {a: code for a, code in api.items() if code != 403} == {}
    with console.app.db.session() as session:
        assert len(session.exec(select(AuditEntry)).all()) == audited  # nothing was done


@pytest.fixture
def anonymous_with_identity(console: ConsoleHarness) -> int:
    """The seeded anonymous case, with a reporter identity stored anyway (as if LAPOR! had sent one)."""
    case_id = console.seeded.triage_case
    name, email, phone = IDENTITY
    with console.app.db.session() as session:
        session.execute(
            update(Case)
            .where(Case.id == case_id)
            .values(reporter_name=name, reporter_email=email, reporter_phone=phone, is_anonymous=True)
        )
        session.commit()
    return case_id


def test_no_page_or_answer_shows_an_anonymous_reporter(console: ConsoleHarness, anonymous_with_identity: int) -> None:
    admin = console.signed_in(Role.ADMIN)
    values = _values(console, anonymous_with_identity)
    token = console.token(Role.ADMIN)
    reveal = {"show_reporter": "true", "show_confidential": "true", "reporter": "1", "tracking_id": "", "q": ""}
    seen = {}
    for path, methods in _routes(console):
        url = _fill(path, values)
        if "GET" in methods:
            seen[url] = admin.get(url, params=reveal, follow_redirects=True).text
            seen[f"{url} (token)"] = console.client().get(url, headers={"Authorization": f"Bearer {token}"}).text
        if "POST" in methods and path not in OPEN_TO_ALL and not url.startswith("/api/v1/"):
            answer = admin.post(url, data={"csrf_token": csrf_of(admin, "/"), **reveal}, follow_redirects=True)
            seen[f"POST {url}"] = answer.text
    assert len(seen) > 10
    leaks = {where: [i for i in IDENTITY if i in text] for where, text in seen.items()}
    assert {where: found for where, found in leaks.items() if found} == {}
