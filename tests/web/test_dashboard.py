"""The dashboard: the verdict as ``status`` gives it, its facts linked to their pages, and the charts."""

from __future__ import annotations

import re

from lapor_sync.accounts.roles import Role
from tests.web.conftest import ConsoleHarness


def test_dashboard_shows_the_verdict_its_reasons_and_links(console: ConsoleHarness) -> None:
    page = console.signed_in(Role.VIEWER).get("/")
    assert page.status_code == 200
    print(page.text)
