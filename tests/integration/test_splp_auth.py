"""The SPLP key mode and the OAuth2 grant and header from settings (CONTRACT §7 G5, G6), against respx mocks."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from pydantic import SecretStr

from lapor_sync.adapters.national import LaporClient, OAuth2ClientCredentialsAuth, RetryPolicy
from lapor_sync.adapters.national import config as national_config
from lapor_sync.adapters.national.auth import PasswordGrant, SplpKeyAuth
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.errors import ConfigurationError, NationalPlatformError, RunStoppingError
from tests.support.national import BASE, TOKEN_URL, client_settings, oauth2_settings
from tests.support.splp import splp_key

API_KEY = "sim-api-key"
APP_TOKEN = "{guid}"
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
KEY = splp_key("PRODUCTION", issued=NOW - timedelta(days=1))
CATEGORIES = {"results": [{"id": 1, "name": "Agama", "parent_id": 0}]}
PASSWORD = "owner-password-9f2"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees its warnings logged: the adapter logs each only once per process."""
    monkeypatch.setattr(national_config, "_logged", set())


TIMEOUT = {"http_timeout_seconds": 20.0}


def splp_settings(**changes: object) -> object:
    return client_settings(**(TIMEOUT | {"auth_mode": "splp_key", "splp_key": SecretStr(KEY)} | changes))


def oauth_settings(**changes: object) -> object:
    return oauth2_settings(**(TIMEOUT | changes))


def categories(router: respx.MockRouter, settings: object, clock: ManualClock) -> httpx.Headers:
    """Build a client from ``settings``, list the categories once, and return the request's headers."""
    route = router.get(f"{BASE}/categories").respond(json=CATEGORIES)
    with LaporClient.from_settings(settings, clock=clock, retry=RetryPolicy.no_wait()) as client:
        client.list_categories()
    return route.calls.last.request.headers


def test_splp_key_mode_sends_the_gateway_key_beside_lapors_key_and_token(
    router: respx.MockRouter, clock: ManualClock
) -> None:
    headers = categories(router, splp_settings(), clock)

    assert headers["AuthorizationSPLP"] == f"Bearer {KEY}"
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers["token"] == APP_TOKEN


def test_splp_key_mode_header_names_are_settings(router: respx.MockRouter, clock: ManualClock) -> None:
    headers = categories(router, splp_settings(auth_header_name="auth", splp_key_header="X-SPLP-Key"), clock)

    assert headers["X-SPLP-Key"] == f"Bearer {KEY}" and headers["auth"] == f"Bearer {API_KEY}"
    assert "Authorization" not in headers and "AuthorizationSPLP" not in headers


def test_splp_key_mode_401_stops_the_run_once_and_hides_every_secret(router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/categories").respond(401, json={"message": f"bad keys {KEY} {API_KEY}"})
    auth = SplpKeyAuth(API_KEY, APP_TOKEN, KEY)
    with (
        LaporClient(BASE, auth, retry=RetryPolicy.no_wait()) as client,
        pytest.raises(RunStoppingError) as caught,
    ):
        client.list_categories()

    assert route.call_count == 1
    for secret in (KEY, API_KEY):
        assert secret not in str(caught.value)


def test_the_auth_flows_repr_shows_no_secret(clock: ManualClock) -> None:
    texts = [
        repr(SplpKeyAuth(API_KEY, APP_TOKEN, KEY, gateway_header="X-SPLP-Key")),
        repr(
            OAuth2ClientCredentialsAuth(
                TOKEN_URL,
                "sim-client",
                "sim-secret",
                API_KEY,
                APP_TOKEN,
                clock=clock,
                password_grant=PasswordGrant("operator", SecretStr(PASSWORD)),
            )
        ),
    ]

    assert "X-SPLP-Key" in texts[0] and "operator" in texts[1]
    for text in texts:
        for secret in (KEY, API_KEY, APP_TOKEN, "sim-secret", PASSWORD):
            assert secret not in text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"splp_key": None}, "LAPOR_SYNC_SPLP_KEY is not set"),
        ({"splp_key": SecretStr("garbage-not-a-jwt")}, "LAPOR_SYNC_SPLP_KEY: not a readable JWT"),
        ({"splp_key_header": "authorization"}, "LAPOR_SYNC_SPLP_KEY_HEADER: header 'authorization' would carry both"),
        (
            {"splp_key_header": "Token"},
            "LAPOR_SYNC_SPLP_KEY_HEADER: header 'Token' would carry both the SPLP key and the app token",
        ),
    ],
)
def test_splp_key_mode_refuses_a_missing_or_unreadable_key_or_a_shared_header(
    changes: dict[str, object], message: str, clock: ManualClock
) -> None:
    with pytest.raises(ConfigurationError, match=message) as refused:
        LaporClient.from_settings(splp_settings(**changes), clock=clock)

    assert "garbage-not-a-jwt" not in str(refused.value)


def test_a_key_that_does_not_suit_the_url_is_logged_once_before_any_request(
    router: respx.MockRouter, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="lapor_sync")
    sandbox_key = splp_key("SANDBOX", expires=NOW - timedelta(minutes=5))
    route = router.get(f"{BASE}/categories").respond(json=CATEGORIES)

    for _ in range(2):
        LaporClient.from_settings(splp_settings(splp_key=SecretStr(sandbox_key)), clock=clock).close()

    assert route.call_count == 0
    warnings = [record.getMessage() for record in caplog.records if record.name == "lapor_sync.national"]
    assert len(warnings) == 2  # the kind and the expiry, each once
    assert "is a SANDBOX key but LAPOR_SYNC_API_BASE_URL is the production API" in warnings[0]
    assert "expired at 2026-12-07 09:55 WIB" in warnings[1]
    assert sandbox_key not in caplog.text


# -- OAuth2: grant type and token header from settings (G6) ------------------------------------------


def token_answer(access_token: str) -> httpx.Response:
    return httpx.Response(200, json={"access_token": access_token, "token_type": "Bearer", "expires_in": 3600})


def test_oauth2_password_grant_sends_the_owner_credentials_with_basic_client_auth(
    router: respx.MockRouter, clock: ManualClock
) -> None:
    token_route = router.post(TOKEN_URL).mock(return_value=token_answer("access-1"))
    settings = oauth_settings(
        oauth_grant_type="password", oauth_username="operator", oauth_password=SecretStr(PASSWORD)
    )

    headers = categories(router, settings, clock)

    token_request = token_route.calls.last.request
    assert parse_qs(token_request.content.decode()) == {
        "grant_type": ["password"],
        "username": ["operator"],
        "password": [PASSWORD],
    }
    assert base64.b64decode(token_request.headers["Authorization"].removeprefix("Basic ")) == b"sim-client:sim-secret"
    assert headers["Authorization"] == "Bearer access-1" and headers["auth"] == f"Bearer {API_KEY}"


def test_oauth2_client_credentials_is_the_default_grant(router: respx.MockRouter, clock: ManualClock) -> None:
    token_route = router.post(TOKEN_URL).mock(return_value=token_answer("access-1"))

    categories(router, oauth_settings(), clock)

    assert parse_qs(token_route.calls.last.request.content.decode()) == {"grant_type": ["client_credentials"]}


def test_oauth2_token_header_is_a_setting(router: respx.MockRouter, clock: ManualClock) -> None:
    router.post(TOKEN_URL).mock(return_value=token_answer("access-1"))

    headers = categories(router, oauth_settings(oauth_token_header="X-Gateway-Token"), clock)

    assert headers["X-Gateway-Token"] == "Bearer access-1" and "Authorization" not in headers


def test_oauth2_password_is_hidden_in_the_token_endpoints_refusal(router: respx.MockRouter, clock: ManualClock) -> None:
    router.post(TOKEN_URL).mock(return_value=httpx.Response(503, json={"message": f"no {PASSWORD}"}))
    settings = oauth_settings(oauth_grant_type="password", oauth_username="op", oauth_password=SecretStr(PASSWORD))
    with (
        LaporClient.from_settings(settings, clock=clock, retry=RetryPolicy.no_wait()) as client,
        pytest.raises(NationalPlatformError) as caught,  # which one is the classifier's business
    ):
        client.list_categories()

    assert PASSWORD not in str(caught.value)


def test_a_refused_password_grant_names_the_owners_credentials_too(
    router: respx.MockRouter, clock: ManualClock
) -> None:
    router.post(TOKEN_URL).mock(return_value=httpx.Response(400, json={"error": "invalid_grant"}))
    settings = oauth_settings(oauth_grant_type="password", oauth_username="op", oauth_password=SecretStr(PASSWORD))
    with (
        LaporClient.from_settings(settings, clock=clock, retry=RetryPolicy.no_wait()) as client,
        pytest.raises(RunStoppingError) as caught,
    ):
        client.list_categories()

    assert "LAPOR_SYNC_OAUTH_USERNAME and LAPOR_SYNC_OAUTH_PASSWORD" in str(caught.value)
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"oauth_grant_type": "password", "oauth_password": SecretStr(PASSWORD)},
            "LAPOR_SYNC_OAUTH_USERNAME is not set",
        ),
        ({"oauth_grant_type": "password", "oauth_username": "op"}, "LAPOR_SYNC_OAUTH_PASSWORD is not set"),
        ({"oauth_grant_type": "implicit"}, "LAPOR_SYNC_OAUTH_GRANT_TYPE must be 'client_credentials' or 'password'"),
        ({"oauth_token_header": "auth"}, "LAPOR_SYNC_OAUTH_TOKEN_HEADER: header 'auth' would carry both"),
    ],
)
def test_oauth2_settings_that_cannot_work_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        LaporClient.from_settings(oauth_settings(**changes))
