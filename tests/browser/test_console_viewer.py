"""A viewer in Chromium: no page offers them an action, and every action URL refuses them with 403."""

from __future__ import annotations

from fastapi.routing import APIRoute
from playwright.sync_api import Page

from lapor_sync.accounts.roles import Role
from lapor_sync.web.app import API_PREFIX
from lapor_sync.web.pages import ROUTERS
from tests.support.console_browser import PAGES, ConsoleSite

OPEN_TO_ANYONE = frozenset({"/sign-in", "/sign-out", "/language"})
"""The only forms that post for a viewer: signing in and out, and choosing the language."""

ACTIONS_ON_PAGE = """() => [
  ...[...document.forms].filter(f => f.method === "post").map(f => new URL(f.action).pathname),
  ...[...document.querySelectorAll("[hx-post],[hx-put],[hx-patch],[hx-delete]")].map(e => e.outerHTML.slice(0, 80)),
]"""


def action_paths(site: ConsoleSite) -> list[str]:
    """Every POST route the console mounts (pages and API twins), its path parameters filled from the pulled data."""
    mounted = [(pages, "") for pages, _ in ROUTERS] + [(api, API_PREFIX) for _, api in ROUTERS if api is not None]
    values = site.data.path_values()
    return sorted(
        prefix + route.path.format(**values)
        for router, prefix in mounted
        for route in router.routes
        if isinstance(route, APIRoute) and "POST" in route.methods and route.path not in OPEN_TO_ANYONE
    )


def test_a_viewer_is_offered_no_action_on_any_page(site: ConsoleSite, page: Page) -> None:
    site.sign_in(page, Role.VIEWER)
    offered = {}
    for shown in PAGES:
        answer = page.goto(site.url(shown.path(site.data)))
        assert answer is not None
        actions = [a for a in page.evaluate(ACTIONS_ON_PAGE) if a not in OPEN_TO_ANYONE]
        if actions:
            offered[shown.name] = actions
    assert offered == {}


def test_every_action_url_answers_403_to_a_viewer_with_a_valid_csrf_token(site: ConsoleSite, page: Page) -> None:
    site.sign_in(page, Role.VIEWER)
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    assert token
    paths = action_paths(site)
    assert f"/cases/{site.data.public.id}/resync" in paths and "/api/v1/users" in paths

    answers = {
        path: page.request.post(
            site.url(path), form={"csrf_token": token}, headers={"X-CSRF-Token": token}, max_redirects=0
        ).status
        for path in paths
    }

    assert {path: status for path, status in answers.items() if status != 403} == {}
