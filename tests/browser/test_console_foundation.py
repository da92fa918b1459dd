"""The console in Chromium: signing in, the language, CSRF refusal, the users page and the audit log."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from lapor_sync.accounts.roles import Role
from tests.support.browser import assert_accessible, screenshot
from tests.support.console_browser import PASSWORD, ConsoleSite


def test_a_wrong_password_is_refused_and_the_right_one_opens_the_dashboard_in_indonesian(
    site: ConsoleSite, page: Page
) -> None:
    page.goto(site.url("/"))
    expect(page).to_have_url(re.compile(r"/sign-in\?next=/$"))
    expect(page.locator("html")).to_have_attribute("lang", "id")
    screenshot(page, "sign-in")
    assert_accessible(page)

    page.get_by_label("Nama pengguna").fill("operator")
    page.get_by_label("Kata sandi").fill("bukan-kata-sandinya")
    page.get_by_role("button", name="Masuk").click()
    expect(page.get_by_role("alert")).to_have_text("Nama pengguna atau kata sandi salah, atau pengguna dinonaktifkan.")
    expect(page.get_by_label("Nama pengguna")).to_have_value("operator")

    page.get_by_label("Kata sandi").fill(PASSWORD)
    page.get_by_role("button", name="Masuk").click()
    expect(page).to_have_url(site.url("/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Dasbor")
    expect(page.get_by_role("link", name="Dasbor")).to_have_attribute("aria-current", "page")


def test_switching_to_english_is_remembered_from_page_to_page(site: ConsoleSite, page: Page) -> None:
    site.sign_in(page, Role.VIEWER)

    page.get_by_label("Bahasa").select_option("en")
    page.get_by_role("button", name="Ganti").click()

    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    page.goto(site.url("/sign-in"))  # signed in: sent on to the dashboard, still in English
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_a_form_posted_without_its_csrf_token_is_refused(site: ConsoleSite, page: Page) -> None:
    site.sign_in(page, Role.VIEWER)
    page.locator("form[action='/sign-out'] input[name=csrf_token]").evaluate("field => field.remove()")

    page.get_by_role("button", name="Keluar").click()

    expect(page.get_by_role("alert")).to_have_text(
        "Formulir sudah kedaluwarsa atau tidak berasal dari konsol ini; buka kembali halamannya."
    )
    page.goto(site.url("/"))  # the forged sign-out did nothing: still signed in
    expect(page.get_by_role("heading", level=1)).to_have_text("Dasbor")


def test_an_admin_adds_a_user_on_the_users_page(site: ConsoleSite, page: Page) -> None:
    site.sign_in(page, Role.ADMIN, to="/users")
    expect(page.get_by_role("heading", level=1)).to_have_text("Pengguna")

    form = page.get_by_role("form", name="Tambah pengguna")
    form.get_by_label("Nama pengguna").fill("petugas.dinsos")
    form.get_by_label("Peran").select_option("operator")
    form.get_by_label("Kata sandi (10 karakter atau lebih)").fill("kata-sandi-petugas-baru")
    form.get_by_label("Ulangi kata sandi").fill("kata-sandi-petugas-baru")
    form.get_by_role("button", name="Tambah").click()

    expect(page.get_by_role("status")).to_contain_text("petugas.dinsos")
    added = page.get_by_role("row").filter(has=page.get_by_role("cell", name="petugas.dinsos", exact=True))
    expect(added.get_by_role("cell").nth(1)).to_have_text("operator")


def test_the_audit_log_is_filtered_by_user_and_action(site: ConsoleSite, new_page) -> None:
    site.sign_in(new_page(), Role.VIEWER)
    admin = site.sign_in(new_page(), Role.ADMIN, to="/audit")
    expect(admin.get_by_role("heading", level=1)).to_have_text("Log audit")
    expect(admin.locator("tbody tr")).to_have_count(2)  # both sign-ins, newest first

    admin.get_by_label("Pengguna", exact=True).fill("viewer")
    admin.get_by_label("Tindakan").fill("sign_in")
    admin.get_by_role("button", name="Saring").click()

    expect(admin).to_have_url(re.compile(r"/audit\?user=viewer&action=sign_in"))
    rows = admin.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("viewer")
    expect(rows.first).to_contain_text("15 Maret 2024")  # the day the console's clock stands at, in WIB
    screenshot(admin, "audit-log-filtered")
    assert_accessible(admin)
