"""The case page's action forms in real Chromium: each form's fields stay inside it, none drawn over another."""

from __future__ import annotations

from playwright.sync_api import Page

from lapor_sync.accounts.roles import Role
from tests.web.conftest import PASSWORD, ConsoleHarness, console, quick_password_hashes, seeded_console_file

__all__ = ["console", "quick_password_hashes", "seeded_console_file"]  # fixtures


def test_every_action_field_and_button_lies_inside_its_own_form(
    page: Page, live_server, console: ConsoleHarness
) -> None:
    base = live_server(console.asgi)
    page.goto(f"{base}/sign-in")
    page.get_by_label("Nama pengguna").fill(Role.OPERATOR.value)
    page.get_by_label("Kata sandi").fill(PASSWORD)
    page.locator("main form button").click()
    page.goto(f"{base}/cases/{console.seeded.public_case}")

    forms = page.locator("section.actions form").all()
    assert len(forms) >= 6
    for form in forms:
        outer = form.bounding_box()
        assert outer is not None
        for control in form.locator("select, input:not([type=hidden]), textarea, button").all():
            inner = control.bounding_box()
            assert inner is not None
            assert inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 1, control.get_attribute("name")
