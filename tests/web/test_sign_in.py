"""Signing in and out, sessions, CSRF, tokens and languages: the console's foundation."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from lapor_sync.accounts.roles import Role
from lapor_sync.web.sessions import COOKIE
from tests.web.conftest import PASSWORD, ConsoleHarness, csrf_of


def test_a_page_sends_a_visitor_to_sign_in_and_back(console: ConsoleHarness) -> None:
    client = console.client()
    answer = client.get("/?since=7d")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=/%3Fsince%3D7d"
    signed = client.post(
        "/sign-in",
        data={"name": "viewer", "password": PASSWORD, "next": "/?since=7d", "csrf_token": csrf_of(client, "/sign-in")},
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/?since=7d"


def test_session_cookie_is_httponly_and_strict_and_secure_off_loopback(console: ConsoleHarness) -> None:
    answer = console.client().get("/sign-in")
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # a browser on this host over plain HTTP
    remote = console.client(base_url="http://console.kota.example")
    assert "Secure" in remote.get("/sign-in").headers["set-cookie"]


def test_wrong_password_is_refused_without_saying_which_part(console: ConsoleHarness) -> None:
    client = console.client()
    for name in ("viewer", "nobody"):
        answer = client.post(
            "/sign-in", data={"name": name, "password": "salah-salah-salah", "csrf_token": csrf_of(client, "/sign-in")}
        )
        assert answer.status_code == 401
        assert "Nama pengguna atau kata sandi salah" in answer.text
    assert client.get("/").status_code == 303  # still signed out


def test_repeated_failures_are_throttled(console: ConsoleHarness) -> None:
    client = console.client()
    codes = [
        client.post(
            "/sign-in", data={"name": "operator", "password": "bukan-ini-ya", "csrf_token": csrf_of(client, "/sign-in")}
        ).status_code
        for _ in range(6)
    ]
    assert codes[-1] == 429
    right = client.post(
        "/sign-in", data={"name": "operator", "password": PASSWORD, "csrf_token": csrf_of(client, "/sign-in")}
    )
    assert right.status_code == 429  # even the right password waits out the window
    console.clock.advance(timedelta(minutes=16))
    right = client.post(
        "/sign-in", data={"name": "operator", "password": PASSWORD, "csrf_token": csrf_of(client, "/sign-in")}
    )
    assert right.status_code == 303


def test_a_form_without_its_csrf_token_is_refused(console: ConsoleHarness) -> None:
    client = console.client()
    answer = client.post("/sign-in", data={"name": "admin", "password": PASSWORD})
    assert answer.status_code == 403
    assert client.get("/").status_code == 303
    forged = client.post("/sign-in", data={"name": "admin", "password": PASSWORD, "csrf_token": "forged"})
    assert forged.status_code == 403


def test_sign_out_ends_the_session(console: ConsoleHarness) -> None:
    client = console.signed_in(Role.VIEWER)
    assert client.get("/").status_code == 200
    assert client.post("/sign-out", data={"csrf_token": csrf_of(client, "/")}).status_code == 303
    assert client.get("/").status_code == 303


def test_a_copied_session_cookie_is_refused_after_sign_out(console: ConsoleHarness) -> None:
    viewer = console.signed_in(Role.VIEWER)
    cookie = next(c.split(";")[0] for c in viewer.cookie_headers() if c.startswith(f"{COOKIE}="))
    assert console.client(cookie=cookie).get("/").status_code == 200
    console.clock.advance(timedelta(seconds=40, milliseconds=700))
    assert viewer.post("/sign-out", data={"csrf_token": csrf_of(viewer, "/")}).status_code == 303
    assert console.client(cookie=cookie).get("/").status_code == 303
    # Signing in again at once (the same second) works.
    again = console.signed_in(Role.VIEWER)
    assert again.get("/").status_code == 200


def test_an_idle_session_ends(console: ConsoleHarness) -> None:
    client = console.signed_in(Role.VIEWER)
    console.clock.advance(timedelta(minutes=29))
    assert client.get("/").status_code == 200
    console.clock.advance(timedelta(minutes=29))  # 29 minutes after the last request: still alive
    assert client.get("/").status_code == 200
    console.clock.advance(timedelta(minutes=31))
    assert client.get("/").status_code == 303


def test_disabling_a_user_or_changing_the_password_signs_them_out(console: ConsoleHarness) -> None:
    viewer = console.signed_in(Role.VIEWER)
    operator = console.signed_in(Role.OPERATOR)
    console.accounts.disable("viewer")
    assert viewer.get("/").status_code == 303
    console.clock.advance(timedelta(seconds=5))
    console.accounts.set_password("operator", "kata-sandi-yang-baru-sekali")
    assert operator.get("/").status_code == 303


def test_api_takes_a_bearer_token_and_says_401_without(console: ConsoleHarness) -> None:
    client = console.client()
    refused = client.get("/api/v1/dashboard")
    assert refused.status_code == 401 and "Bearer" in refused.json()["error"]
    token = console.token(Role.VIEWER)
    answer = client.get("/api/v1/dashboard", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.json()["health"] in {"ok", "degraded", "failing"}
    assert client.get("/api/v1/dashboard", headers={"Authorization": "Bearer not-a-token"}).status_code == 401


def test_openapi_describes_the_api_and_no_page_loads_from_a_cdn(console: ConsoleHarness) -> None:
    client = console.client()
    spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/dashboard" in spec["paths"]
    assert not any(path.startswith("/sign-in") for path in spec["paths"])
    page = console.signed_in(Role.VIEWER).get("/").text
    assert "https://" not in page and "//cdn" not in page
    assert client.get("/static/vendor/htmx-2.0.11.min.js").status_code == 200


def test_pages_speak_indonesian_unless_asked_for_english(console: ConsoleHarness) -> None:
    indonesian = console.signed_in(Role.VIEWER).get("/")
    assert '<html lang="id">' in indonesian.text and "Dasbor" in indonesian.text
    english = console.signed_in(Role.VIEWER, accept_language="en-GB,en;q=0.9").get("/")
    assert '<html lang="en">' in english.text and "Dashboard" in english.text
    client = console.signed_in(Role.VIEWER)
    chosen = client.post("/language", data={"language": "en", "next": "/", "csrf_token": csrf_of(client, "/")})
    assert chosen.status_code == 303
    assert '<html lang="en">' in client.get("/").text


def test_choosing_the_language_keeps_the_page_with_its_filters(console: ConsoleHarness) -> None:
    client = console.signed_in(Role.VIEWER)
    listed = client.get("/cases?agency=DINSOS&state=new")
    chooser = re.search(r'action="/language".*?name="next" value="([^"]*)"', listed.text, re.DOTALL)
    assert chooser is not None
    next_page = html.unescape(chooser.group(1))
    assert next_page == "/cases?agency=DINSOS&state=new"
    chosen = client.post("/language", data={"language": "en", "next": next_page, "csrf_token": csrf_of(client, "/")})
    assert chosen.headers["location"] == "/cases?agency=DINSOS&state=new"


def test_sign_in_goes_nowhere_but_this_console(console: ConsoleHarness) -> None:
    client = console.client()
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        answer = client.post(
            "/sign-in",
            data={"name": "viewer", "password": PASSWORD, "next": target, "csrf_token": csrf_of(client, "/sign-in")},
        )
        assert answer.headers["location"] == "/"


def test_behind_a_proxy_under_a_prefix_links_and_redirects_keep_it(console: ConsoleHarness) -> None:
    client = console.client(root_path="/lapor-sync")
    answer = client.get("/lapor-sync/cases")
    assert answer.headers["location"] == "/lapor-sync/sign-in?next=/cases"
    form = client.get("/lapor-sync/sign-in").text
    assert 'action="/lapor-sync/sign-in"' in form and 'href="/lapor-sync/static/console.css"' in form
    csrf = form.split('name="csrf_token" value="')[1].split('"')[0]
    signed = client.post(
        "/lapor-sync/sign-in", data={"name": "viewer", "password": PASSWORD, "next": "/cases", "csrf_token": csrf}
    )
    assert signed.headers["location"] == "/lapor-sync/cases"
    page = client.get("/lapor-sync/cases").text
    assert 'href="/lapor-sync/cases" aria-current="page"' in page
    assert client.get("/lapor-sync/api/v1/nothing-here").json() == {"error": "Halaman atau data tidak ditemukan."}
