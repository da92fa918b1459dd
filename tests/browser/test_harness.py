"""The browser tier's own harness, on a tiny Starlette app: forms, screenshots, axe-core, the live server's life."""

from __future__ import annotations

import html
from urllib.parse import parse_qs

import httpx
import pytest
from playwright.sync_api import Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from lapor_sync.runtime.threaded_http import serve_in_thread
from tests.support.browser import assert_accessible, screenshot

PAGE = """<!doctype html>
<html lang="id">
<head><meta charset="utf-8"><title>{title}</title></head>
<body>
<header><h1>{title}</h1></header>
<main>{body}</main>
</body>
</html>"""

FORM = """
<form method="post" action="/">
  <label for="tracking-id">Nomor tiket</label>
  <input id="tracking-id" name="tracking_id" required>
  <fieldset>
    <legend>Tindakan</legend>
    <label><input type="radio" name="action" value="resync" checked> Sinkronkan ulang</label>
    <label><input type="radio" name="action" value="retry"> Kirim ulang</label>
  </fieldset>
  <button type="submit">Kirim</button>
</form>
"""

# Two serious faults axe-core knows: an image without a text alternative, a field without a label.
BAD_BODY = '<img src="/chart.png"><form><input name="q"></form>'
# As strict as a console may set: axe-core, injected by the DevTools protocol, must still run.
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; require-trusted-types-for 'script'"
)


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=title, body=body))


async def home(request: Request) -> Response:
    if request.method == "GET":
        return _page("Cari pengaduan", FORM)
    fields = parse_qs((await request.body()).decode())
    tracking_id = html.escape(fields["tracking_id"][0])
    action = html.escape(fields["action"][0])
    return _page("Hasil", f'<p role="status">Pengaduan {tracking_id}: {action} dijadwalkan</p><a href="/">Kembali</a>')


async def bad(_request: Request) -> Response:
    answer = _page("Halaman buruk", BAD_BODY)
    answer.headers["Content-Security-Policy"] = STRICT_CSP
    return answer


APP = Starlette(routes=[Route("/", home, methods=["GET", "POST"]), Route("/bad", bad)])


def test_a_form_is_filled_submitted_and_its_result_shown(page: Page, live_server) -> None:
    base = live_server(APP)
    page.goto(f"{base}/")
    expect(page).to_have_title("Cari pengaduan")

    page.get_by_label("Nomor tiket").fill("LAP-2024-0042")
    page.get_by_label("Kirim ulang").check()
    page.get_by_role("button", name="Kirim").click()

    expect(page.get_by_role("status")).to_have_text("Pengaduan LAP-2024-0042: retry dijadwalkan")
    page.get_by_role("link", name="Kembali").click()
    expect(page.get_by_label("Nomor tiket")).to_be_empty()


def test_a_screenshot_is_written_as_a_full_page_png(page: Page, live_server, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LAPOR_SYNC_TEST_ARTEFACTS", str(tmp_path))
    page.goto(f"{live_server(APP)}/")

    written = screenshot(page, "harness-form")

    assert written == tmp_path / "screenshots" / "harness-form.png"
    assert written.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="screenshot name"):
        screenshot(page, "../outside")


def test_a_good_page_passes_axe(page: Page, live_server) -> None:
    page.goto(f"{live_server(APP)}/")

    assert_accessible(page)
    screenshot(page, "harness-form")


def test_axe_fails_a_page_with_serious_violations_and_names_them_under_a_strict_csp(page: Page, live_server) -> None:
    page.goto(f"{live_server(APP)}/bad")

    with pytest.raises(AssertionError) as failure:
        assert_accessible(page)

    message = str(failure.value)
    assert "image-alt (critical): Images must have alternative text at img" in message
    assert "label (critical): Form elements must have labels at input" in message


def test_the_browser_sends_bahasa_indonesia_first_or_the_locale_asked(new_page, live_server) -> None:
    async def languages(request: Request) -> Response:
        return _page("Bahasa", f"<p>{html.escape(request.headers['accept-language'])}</p>")

    base = live_server(Starlette(routes=[Route("/", languages)]))
    indonesian, english = new_page(), new_page(locale="en-US")
    indonesian.goto(f"{base}/")
    english.goto(f"{base}/")

    expect(indonesian.locator("main p")).to_contain_text("id-ID")
    expect(english.locator("main p")).to_contain_text("en-US")


def test_a_live_server_stops_when_its_block_ends() -> None:
    with serve_in_thread(APP, stop_seconds=1) as base:
        assert httpx.get(f"{base}/", timeout=5).status_code == 200

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/", timeout=5)
