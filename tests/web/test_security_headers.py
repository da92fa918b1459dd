"""Headers every answer of the console carries: no framing, no sniffing, no caching of private data."""

from __future__ import annotations

from lapor_sync.accounts.roles import Role
from tests.web.conftest import ConsoleHarness


def test_pages_cannot_be_framed_or_sniffed_and_run_only_their_own_scripts(console: ConsoleHarness) -> None:
    admin = console.signed_in(Role.ADMIN)
    answers = {
        "page": admin.get("/"),
        "sign-in": console.client().get("/sign-in"),
        "redirect": console.client().get("/cases"),
        "error": admin.get("/cases/999999"),
        "api": admin.get("/api/v1/dashboard"),
    }
    for where, answer in answers.items():
        headers = answer.headers
        assert headers.get("x-frame-options") == "DENY", where
        assert headers.get("x-content-type-options") == "nosniff", where
        assert headers.get("referrer-policy") == "same-origin", where
        policy = headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in policy, where
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, where


def test_no_private_answer_may_be_cached(console: ConsoleHarness) -> None:
    admin = console.signed_in(Role.ADMIN)
    token = console.token(Role.ADMIN)
    case = console.seeded.public_case
    answers = {
        "case page": admin.get(f"/cases/{case}"),
        "case json (cookie)": admin.get(f"/api/v1/cases/{case}"),
        "case json (token)": console.client().get(
            f"/api/v1/cases/{case}", headers={"Authorization": f"Bearer {token}"}
        ),
        "settings json": admin.get("/api/v1/settings"),
        "audit json": admin.get("/api/v1/audit"),
        "refused json": console.client().get("/api/v1/cases"),
        "redirect": admin.get(f"/cases?tracking_id={admin.get(f'/api/v1/cases/{case}').json()['case']['tracking_id']}"),
    }
    assert {where: a.headers.get("cache-control") for where, a in answers.items()} == dict.fromkeys(answers, "no-store")


def test_static_files_stay_cacheable_also_behind_a_proxy_prefix(console: ConsoleHarness) -> None:
    answers = [
        console.client().get("/static/console.css"),
        console.client(root_path="/lapor-sync").get("/lapor-sync/static/console.css"),
    ]
    for answer in answers:
        assert answer.status_code == 200
        assert answer.headers.get("cache-control") != "no-store"
        assert answer.headers.get("x-content-type-options") == "nosniff"
    assert console.client(root_path="/lapor-sync").get("/lapor-sync/sign-in").headers["cache-control"] == "no-store"
