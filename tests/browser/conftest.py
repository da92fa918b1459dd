"""The browser tier: Playwright's sync API driving Debian's headless Chromium against apps served on loopback.

Fixtures:
    ``browser``: one Chromium for the whole tier (started at its first test, closed after its last).
    ``new_page(locale="id-ID")``: a page in a fresh context (no cookies), closed after the test.
    ``page``: ``new_page()`` for a test that needs one user only.
    ``live_server(app)``: serves an ASGI app on 127.0.0.1 until the test ends; returns its origin URL.
    ``national``: the built-in simulator served on loopback for the tier.
    ``console_data``: the database pulled from it, once for the tier (``tests/support/console_browser.py``).
    ``site``: the console on the test's own copy of that database (``site.sign_in(page, Role.X)``).

Helpers (``tests/support/browser.py``): ``screenshot(page, name)`` and ``assert_accessible(page)``.
Playwright's sync API keeps its asyncio loop running on the main thread while ``browser`` lives
(this package only: hence its ``__init__.py``), so a test here cannot call ``asyncio.run`` (nor httpx's
ASGI transport through it); Starlette's ``TestClient`` or plain httpx against ``live_server`` work.
Every test here is marked ``browser`` (``pytest -m "not browser"`` leaves the tier out). A failing
test leaves a screenshot of each of its pages as ``screenshots/failed-<test>-<n>.png``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from playwright.sync_api import Browser, Page, expect, sync_playwright
from starlette.types import ASGIApp

from lapor_sync.accounts import passwords
from lapor_sync.app import App
from lapor_sync.domain.clock import ManualClock
from lapor_sync.runtime.threaded_http import serve_in_thread
from lapor_sync.simulator import START_OF_DATA, Simulator
from lapor_sync.web.app import create_console
from tests.support.browser import (
    ACTION_MS,
    CHROMIUM_ARGS,
    CHROMIUM_ENV,
    DEFAULT_CHROMIUM,
    chromium_path,
    screenshot,
)
from tests.support.console_browser import ConsoleData, ConsoleSite, pull_console_data
from tests.support.e2e import settings_for

HERE = Path(__file__).parent
STOP_SECONDS = 5.0
"""How long a live server's answers in progress may take once its test has ended, seconds."""
_FAILED = pytest.StashKey[bool]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder ``browser``."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Remember whether the test itself failed, for ``new_page``'s screenshot on failure."""
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Headless Chromium, the distribution's (never Playwright's own download); skipped when missing, failed under CI."""
    executable = chromium_path()
    if executable is None:
        wanted = os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
        reason = f"browser tests need Chromium at {wanted} (apt-get install chromium, or set {CHROMIUM_ENV})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; under CI=true they must run, not skip")
        pytest.skip(reason)
    expect.set_options(timeout=ACTION_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS, timeout=3 * ACTION_MS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[..., Page]]:
    """Open pages, each in a fresh context (its own cookies: one per signed-in user); all closed after the test.

    ``new_page(locale="id-ID")`` returns the page; the locale sets ``Accept-Language`` and the time zone is WIB.
    """
    contexts = []

    def open_page(locale: str = "id-ID") -> Page:
        context = browser.new_context(
            locale=locale, timezone_id="Asia/Jakarta", viewport={"width": 1280, "height": 800}
        )
        context.set_default_timeout(ACTION_MS)
        context.set_default_navigation_timeout(ACTION_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    failed = request.node.stash.get(_FAILED, False)
    slug = re.sub(r"[^a-z0-9._-]+", "-", request.node.name.lower()).strip("-")
    if failed:
        for number, shown in enumerate((p for context in contexts for p in context.pages), start=1):
            screenshot(shown, f"failed-{slug}-{number}")
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    """A page in a fresh context, Bahasa Indonesia first, WIB; closed after the test."""
    return new_page()


@pytest.fixture
def live_server() -> Iterator[Callable[[ASGIApp], str]]:
    """Serve ASGI apps on 127.0.0.1, each on a free port, until the test ends: ``base = live_server(app)``.

    Returns the origin, e.g. ``http://127.0.0.1:41234`` (no trailing slash).
    """
    with ExitStack() as stack:
        yield lambda app: stack.enter_context(serve_in_thread(app, name="browser-live", stop_seconds=STOP_SECONDS))


@pytest.fixture(scope="package", autouse=True)
def quick_password_hashes() -> Iterator[None]:
    """argon2id at its smallest cost, as in tests/web: signing in takes a millisecond, not a quarter second."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        yield


@dataclass(frozen=True)
class National:
    """The served simulator, its base URL and its clock (lapor-sync's too).

    It serves the whole tier: a test may change its world only in complaints no other test reads.
    """

    simulator: Simulator
    url: str
    clock: ManualClock


@pytest.fixture(scope="package")
def national() -> Iterator[National]:
    """The built-in simulator's data set served on loopback, its clock at the data set's start.

    ``console_data`` moves the clock to ``PULLED_AT``; then it stays there: every test sees the same
    "now" (sessions never idle out).
    """
    clock = ManualClock(START_OF_DATA)
    simulator = Simulator.generate(clock=clock, rate_limit=None)
    with simulator.serve() as url:
        yield National(simulator, url, clock)


@pytest.fixture(scope="package")
def console_data(national: National, tmp_path_factory: pytest.TempPathFactory) -> ConsoleData:
    """The console's database, a month pulled from ``national``, built once for the tier (tests serve copies)."""
    return pull_console_data(tmp_path_factory.mktemp("console"), national.simulator, national.url)


@pytest.fixture
def site(
    console_data: ConsoleData, national: National, live_server: Callable[[ASGIApp], str], tmp_path: Path
) -> Iterator[ConsoleSite]:
    """The console served on loopback on this test's copy of the pulled database, talking to ``national``."""
    app = App(settings_for(console_data.copy_to(tmp_path), national.url), clock=national.clock)
    try:
        asgi = create_console(app)
        yield ConsoleSite(live_server(asgi), asgi, app, console_data)
    finally:
        app.db.dispose()
