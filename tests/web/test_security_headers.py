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


def test_static_files_are_not_sniffed_either(console: ConsoleHarness) -> None:
    answer = console.client().get("/static/console.css")
    assert answer.status_code == 200
    assert answer.headers.get("x-content-type-options") == "nosniff"
