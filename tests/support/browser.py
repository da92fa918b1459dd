"""Helpers of the browser tier: where Chromium is, how it starts, screenshots as artefacts, axe-core's verdict.

The fixtures that use them are in ``tests/browser/conftest.py``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from tests.support.paths import REPO_ROOT

CHROMIUM_ENV = "LAPOR_SYNC_TEST_CHROMIUM"
DEFAULT_CHROMIUM = Path("/usr/bin/chromium")
ARTEFACTS_ENV = "LAPOR_SYNC_TEST_ARTEFACTS"
DEFAULT_ARTEFACTS = REPO_ROOT / "tests" / "artifacts"

ACTION_MS = 10_000
"""Playwright's timeout for every action, navigation and ``expect``, milliseconds: a hung page fails, not waits."""

CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # a container's /dev/shm is often 64 MiB: too small for a full-page screenshot
    # This machine refuses every connection off loopback: Chromium's own background traffic would only wait.
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

BLOCKING_IMPACTS = ("serious", "critical")
"""axe-core impacts that fail a page; "moderate" and "minor" are reported by :func:`assert_accessible`, not failed."""

_AXE = Axe()
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


def chromium_path() -> Path | None:
    """Debian's Chromium, or the one ``LAPOR_SYNC_TEST_CHROMIUM`` names; ``None`` when that file is missing."""
    path = Path(os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM)
    return path if path.is_file() and os.access(path, os.X_OK) else None


def artefacts_dir() -> Path:
    """The test artefacts' folder: ``$LAPOR_SYNC_TEST_ARTEFACTS``, else ``tests/artifacts/`` (git-ignored)."""
    configured = os.environ.get(ARTEFACTS_ENV)
    return Path(configured) if configured else DEFAULT_ARTEFACTS


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG of ``page`` as ``<artefacts>/screenshots/<name>.png``, replacing an older one.

    Args:
        page: the page as it is now.
        name: lower-case letters, digits, ``.``, ``_`` and ``-``, e.g. ``"dashboard"`` or ``"case-viewer"``.

    Returns:
        The file written.
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"screenshot name {name!r}: use lower-case letters, digits, '.', '_' and '-'")
    path = artefacts_dir() / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path, full_page=True)
    return path


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core (the copy bundled in axe-playwright-python) on ``page`` as it is now.

    Injected by the DevTools protocol, so a page's Content-Security-Policy does not stop it.

    Returns:
        axe-core's violations, each with ``id``, ``impact``, ``help``, ``helpUrl`` and ``nodes``
        (each node's ``target`` is a list of CSS selectors).
    """
    return _AXE.run(page).response["violations"]


def assert_accessible(page: Page) -> list[dict[str, Any]]:
    """Fail when axe-core finds a violation of impact "serious" or "critical" on ``page``.

    The failure lists each such violation: rule id, impact, help text and the selectors of the nodes.

    Returns:
        The violations of lesser impact (moderate, minor), for a test that wants to look at them.
    """
    violations = axe_violations(page)
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    if blocking:
        lines = [f"axe-core: {len(blocking)} serious or critical violation(s) on {page.url}"]
        for violation in blocking:
            # A target is a list of selectors, one per frame or shadow root (a nested list for the latter).
            targets = ", ".join(" ".join(map(str, node["target"])) for node in violation["nodes"])
            lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']} at {targets}")
        raise AssertionError("\n".join(lines))
    return [v for v in violations if v["impact"] not in BLOCKING_IMPACTS]
