"""Every page of the console in Chromium: a screenshot of each (the test artefacts) and axe-core's verdict on it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import assert_accessible, screenshot
from tests.support.console_browser import PAGES, ConsolePage, ConsoleSite


@pytest.mark.parametrize("shown", PAGES, ids=[p.name for p in PAGES])
def test_each_page_renders_is_photographed_and_passes_axe(site: ConsoleSite, page: Page, shown: ConsolePage) -> None:
    path = shown.path(site.data)
    site.sign_in(page, shown.role, to=path)

    expect(page.get_by_role("alert")).to_have_count(0)  # not an error page
    expect(page.locator("html")).to_have_attribute("lang", "id")
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    screenshot(page, shown.name)
    assert_accessible(page)
