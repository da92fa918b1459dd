"""An operator's work in Chromium: find a case, resync it, re-route it, retry a dead letter.

In English (``en-US`` browser), so the tests read the console's own texts; the Indonesian default
is the foundation tests' and the screenshots' concern.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Locator, Page, expect
from sqlmodel import select

from lapor_sync.accounts.roles import Role
from lapor_sync.storage.models import CaseOverride, SyncEvent
from tests.support.browser import assert_accessible, screenshot
from tests.support.console_browser import DEAD_ERROR, ConsoleSite


def operator(site: ConsoleSite, new_page: Callable[..., Page], to: str = "/") -> Page:
    """A browser speaking English, signed in as the operator, at ``to``."""
    return site.sign_in(new_page(locale="en-US"), Role.OPERATOR, to=to)


def form_titled(page: Page, heading: str) -> Locator:
    """The form whose own heading is ``heading`` (the case page's action forms)."""
    return page.locator("form").filter(has=page.get_by_role("heading", name=heading, exact=True))


def test_a_case_searched_by_its_tracking_id_opens(site: ConsoleSite, new_page) -> None:
    wanted = site.data.public
    page = operator(site, new_page, "/cases")

    search = page.get_by_role("search")
    search.get_by_label("Tracking id").fill(f"#{wanted.tracking_id}")
    search.get_by_role("button", name="Search").click()

    # The only case with that tracking id: the search opens it at once.
    expect(page).to_have_url(site.url(f"/cases/{wanted.id}"))
    expect(page.get_by_text(f"#{wanted.tracking_id}", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Thread, oldest first")).to_be_visible()


def test_a_resync_shows_its_new_run_and_event_on_the_case_page(site: ConsoleSite, national, new_page) -> None:
    wanted = site.data.public
    # Someone answered on LAPOR!'s own site: the resync has something new to bring in.
    city = site.app.mapping.institution.id
    national.simulator.world.add_followup(wanted.complaint_id, city, "Dijawab langsung di situs LAPOR!.")
    page = operator(site, new_page, f"/cases/{wanted.id}")
    runs_before = {run.id for run in site.runs()}

    form_titled(page, "Resync now").get_by_role("button", name="Resync from LAPOR!").click()

    (new_run,) = [run for run in site.runs() if run.id not in runs_before]
    assert new_run.job == "resync" and new_run.outcome == "ok"
    expect(page.get_by_role("status")).to_contain_text(f"Resync done in run {new_run.id}.")
    expect(page.locator("section", has_text="Thread, oldest first")).to_contain_text(
        "Dijawab langsung di situs LAPOR!."
    )
    events = page.locator("section", has=page.get_by_role("heading", name="Sync events, newest first"))
    run_link = events.get_by_role("link", name=str(new_run.id), exact=True).first
    expect(run_link).to_be_visible()

    run_link.click()
    expect(page).to_have_url(site.url(f"/runs/{new_run.id}"))
    expect(page.locator("main")).to_contain_text(wanted.tracking_id)


def test_a_case_re_routed_with_a_reason_shows_the_override(site: ConsoleSite, new_page) -> None:
    wanted = site.data.public
    target = "DISHUB" if wanted.agency_code != "DISHUB" else "PUPR"
    page = operator(site, new_page, f"/cases/{wanted.id}")

    form = form_titled(page, "Re-route to another agency")
    form.get_by_label("Agency").select_option(target)
    form.get_by_label("Reason").fill("Lokasi di jalan kota: urusan perhubungan")
    form.get_by_role("button", name="Re-route").click()

    expect(page.get_by_role("status")).to_have_text(f"The case is now kept with {target}.")
    here = page.locator("section", has=page.get_by_role("heading", name="Here in the city"))
    expect(here).to_contain_text(f"kept with {target} by operator (console)")
    expect(here).to_contain_text("Lokasi di jalan kota: urusan perhubungan")
    with site.app.db.session() as session:
        override = session.get(CaseOverride, wanted.id)
        moved = session.exec(select(SyncEvent).where(SyncEvent.tracking_id == wanted.tracking_id)).all()
    assert override is not None and override.agency_code == target
    assert any(event.agency_code == target for event in moved)

    admin = site.sign_in(new_page(), Role.ADMIN, to=f"/audit?tracking_id={wanted.tracking_id}")
    entry = admin.locator("tbody tr").filter(has_text="case.reassign")
    expect(entry).to_contain_text("operator")
    expect(entry).to_contain_text(f"to {target}")
    screenshot(admin, "audit-log-actions")
    assert_accessible(admin)


def test_a_dead_letter_is_retried_from_the_outbox(site: ConsoleSite, new_page) -> None:
    dead = site.data.dead_item
    page = operator(site, new_page, "/outbox?state=dead")
    row = page.locator("tbody tr").filter(has=page.get_by_role("link", name=f"#{dead}", exact=True))
    expect(row).to_contain_text(DEAD_ERROR)

    row.get_by_role("checkbox").check()
    page.get_by_role("button", name="Retry", exact=True).click()

    expect(page.get_by_role("status")).to_contain_text(re.compile(r"1"))
    assert site.outbox_state(dead) == "pending"
    page.goto(site.url(f"/outbox/{dead}"))
    state = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="State", exact=True))
    expect(state.get_by_role("cell")).to_have_text("pending")


def test_a_confidential_case_is_hidden_from_an_operator_and_opened_by_an_admin_on_the_record(
    site: ConsoleSite, new_page
) -> None:
    secret = site.data.secret
    hidden = "This complaint is confidential (rahasia): its title, content and thread are hidden."
    page = operator(site, new_page, f"/cases/{secret.id}")
    expect(page.get_by_text(hidden)).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Show confidential content"))).to_have_count(0)

    admin = site.sign_in(new_page(locale="en-US"), Role.ADMIN, to=f"/cases/{secret.id}")
    expect(admin.get_by_text(hidden)).to_be_visible()  # opening it is a choice, made on the record
    admin.get_by_role("button", name="Show confidential content (recorded in the audit log)").click()

    expect(admin.get_by_text(hidden)).to_have_count(0)
    expect(admin.get_by_role("heading", name="Thread, oldest first")).to_be_visible()
    (entry,) = site.audit_entries(action="case.open_confidential")
    assert (entry.user, entry.case_id, entry.tracking_id) == ("admin", secret.id, secret.tracking_id)
