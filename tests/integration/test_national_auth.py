"""Both authentication modes (CONTRACT §1) and building the client from settings, against respx mocks."""

from __future__ import annotations

import base64
import logging
import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from pydantic import SecretStr

from lapor_sync.adapters.national import LaporClient, OAuth2ClientCredentialsAuth, RetryPolicy, StaticKeyAuth
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.errors import ConfigurationError, RunStoppingError
from tests.support.national import BASE, TOKEN_URL, client_settings, oauth2_settings

API_KEY = "sim-api-key"
APP_TOKEN = "{00000000-0000-4000-8000-000000006271}"
CLIENT_SECRET = "sim-secret"
OURS = {"api_token": SecretStr(APP_TOKEN), "http_timeout_seconds": 20.0}  # client_settings has API_KEY already
CATEGORIES = {"results": [{"id": 1, "name": "Agama", "parent_id": 0}]}


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock(datetime(2024, 10, 31, 1, 0, tzinfo=UTC))


def token_answer(access_token: str, expires_in: int = 3600) -> httpx.Response:
    return httpx.Response(200, json={"access_token": access_token, "token_type": "Bearer", "expires_in": expires_in})


def oauth_client(clock: ManualClock) -> LaporClient:
    auth = OAuth2ClientCredentialsAuth(
        TOKEN_URL, "sim-client", SecretStr(CLIENT_SECRET), SecretStr(API_KEY), SecretStr(APP_TOKEN), clock=clock
    )
    return LaporClient(BASE, auth, retry=RetryPolicy.no_wait(), clock=clock)


def test_static_key_sends_bearer_key_and_app_token(router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/categories").respond(json=CATEGORIES)
    with LaporClient(BASE, StaticKeyAuth(API_KEY, APP_TOKEN), retry=RetryPolicy.no_wait()) as client:
        assert [category.name for category in client.list_categories()] == ["Agama"]
    headers = route.calls.last.request.headers
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers["token"] == APP_TOKEN


def test_static_key_header_name_is_configurable(router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/categories").respond(json=CATEGORIES)
    with LaporClient(
        BASE, StaticKeyAuth(API_KEY, APP_TOKEN, header_name="auth"), retry=RetryPolicy.no_wait()
    ) as client:
        client.list_categories()
    headers = route.calls.last.request.headers
    assert headers["auth"] == f"Bearer {API_KEY}" and "Authorization" not in headers


def test_static_401_stops_the_run_without_retrying(router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/categories").respond(401, json={"message": f"invalid key {API_KEY}"})
    with (
        LaporClient(BASE, StaticKeyAuth(API_KEY, APP_TOKEN), retry=RetryPolicy.no_wait()) as client,
        pytest.raises(RunStoppingError) as caught,
    ):
        client.list_categories()
    assert route.call_count == 1
    assert caught.value.status == 401 and API_KEY not in str(caught.value)


def test_oauth2_fetches_one_token_and_reuses_it(router: respx.MockRouter, manual_clock: ManualClock) -> None:
    token_route = router.post(TOKEN_URL).mock(return_value=token_answer("access-1"))
    api_route = router.get(f"{BASE}/categories").respond(json=CATEGORIES)
    with oauth_client(manual_clock) as client:
        client.list_categories()
        manual_clock.advance(timedelta(minutes=50))
        client.list_categories()

    assert token_route.call_count == 1 and api_route.call_count == 2
    token_request = token_route.calls.last.request
    assert parse_qs(token_request.content.decode()) == {"grant_type": ["client_credentials"]}
    basic = base64.b64decode(token_request.headers["Authorization"].removeprefix("Basic ")).decode()
    assert basic == f"sim-client:{CLIENT_SECRET}"
    headers = api_route.calls.last.request.headers
    assert headers["Authorization"] == "Bearer access-1"
    assert headers["auth"] == f"Bearer {API_KEY}"
    assert headers["token"] == APP_TOKEN


class _MissCountingAuth(OAuth2ClientCredentialsAuth):
    """Sets ``all_missed`` once ``threads`` lookups of the cached token have found none."""

    def __init__(self, threads: int, clock: ManualClock) -> None:
        super().__init__(TOKEN_URL, "sim-client", CLIENT_SECRET, API_KEY, APP_TOKEN, clock=clock)
        self.all_missed = threading.Event()
        self._misses, self._threads, self._count_lock = 0, threads, threading.Lock()

    def _cached_token(self) -> SecretStr | None:
        token = super()._cached_token()
        if token is None:
            with self._count_lock:
                self._misses += 1
                if self._misses >= self._threads:
                    self.all_missed.set()
        return token


def test_oauth2_threads_finding_no_token_at_once_share_one_token_request(
    router: respx.MockRouter, manual_clock: ManualClock
) -> None:
    threads = 4
    auth = _MissCountingAuth(threads, manual_clock)

    def token_endpoint(_request: httpx.Request) -> httpx.Response:
        # Answers once every thread has looked for a token and found none: without the lock each
        # of them would be here asking for its own.
        assert auth.all_missed.wait(timeout=10)
        return token_answer("access-1")

    token_route = router.post(TOKEN_URL).mock(side_effect=token_endpoint)
    api_route = router.get(f"{BASE}/categories").respond(json=CATEGORIES)
    failures: list[BaseException] = []

    def call(client: LaporClient) -> None:
        try:
            client.list_categories()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    with LaporClient(BASE, auth, retry=RetryPolicy.no_wait(), clock=manual_clock) as client:
        workers = [threading.Thread(target=call, args=(client,)) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)

    assert failures == [] and not any(worker.is_alive() for worker in workers)
    assert token_route.call_count == 1 and api_route.call_count == threads
    assert {call.request.headers["Authorization"] for call in api_route.calls} == {"Bearer access-1"}


def test_oauth2_token_is_renewed_shortly_before_it_expires(router: respx.MockRouter, manual_clock: ManualClock) -> None:
    token_route = router.post(TOKEN_URL).mock(side_effect=[token_answer("access-1"), token_answer("access-2")])
    api_route = router.get(f"{BASE}/categories").respond(json=CATEGORIES)
    with oauth_client(manual_clock) as client:
        client.list_categories()
        manual_clock.advance(timedelta(seconds=3600 - 20))  # inside the 30 s refresh margin
        client.list_categories()
    assert token_route.call_count == 2
    assert api_route.calls.last.request.headers["Authorization"] == "Bearer access-2"


def test_oauth2_401_refreshes_once_and_retries_once(router: respx.MockRouter, manual_clock: ManualClock) -> None:
    token_route = router.post(TOKEN_URL).mock(side_effect=[token_answer("revoked"), token_answer("fresh")])
    api_route = router.get(f"{BASE}/categories").mock(
        side_effect=[httpx.Response(401), httpx.Response(200, json=CATEGORIES)]
    )
    with oauth_client(manual_clock) as client:
        assert len(client.list_categories()) == 1
    assert token_route.call_count == 2 and api_route.call_count == 2
    assert [call.request.headers["Authorization"] for call in api_route.calls] == ["Bearer revoked", "Bearer fresh"]


def test_oauth2_second_401_stops_the_run(router: respx.MockRouter, manual_clock: ManualClock) -> None:
    token_route = router.post(TOKEN_URL).mock(side_effect=lambda request: token_answer("access"))
    api_route = router.get(f"{BASE}/categories").respond(401)
    with oauth_client(manual_clock) as client, pytest.raises(RunStoppingError):
        client.list_categories()
    assert token_route.call_count == 2 and api_route.call_count == 2


def test_oauth2_refused_client_stops_the_run(router: respx.MockRouter, manual_clock: ManualClock) -> None:
    router.post(TOKEN_URL).respond(401, json={"error": "invalid_client"})
    api_route = router.get(f"{BASE}/categories").respond(json=CATEGORIES)
    with oauth_client(manual_clock) as client, pytest.raises(RunStoppingError, match="token endpoint") as caught:
        client.list_categories()
    assert api_route.call_count == 0 and CLIENT_SECRET not in str(caught.value)


def test_oauth2_token_failure_before_a_write_is_retried_not_ambiguous(
    router: respx.MockRouter, manual_clock: ManualClock
) -> None:
    router.post(TOKEN_URL).mock(side_effect=[httpx.ReadTimeout("slow"), token_answer("access")])
    write_route = router.post(f"{BASE}/complaints/process/7/status").respond(json={"results": {"status_code": 2}})
    with oauth_client(manual_clock) as client:
        client.set_status(7, status_code=2, note="sedang ditangani")
    assert write_route.call_count == 1


def test_repr_never_shows_secrets(manual_clock: ManualClock) -> None:
    texts = [
        repr(StaticKeyAuth(API_KEY, APP_TOKEN)),
        repr(
            OAuth2ClientCredentialsAuth(TOKEN_URL, "sim-client", CLIENT_SECRET, API_KEY, APP_TOKEN, clock=manual_clock)
        ),
    ]
    for text in texts:
        for secret in (API_KEY, APP_TOKEN, CLIENT_SECRET):
            assert secret not in text


def settings(**changes: object) -> SimpleNamespace:
    return client_settings(**(OURS | changes))


def test_from_settings_static(router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/categories").respond(json=CATEGORIES)
    with LaporClient.from_settings(settings(auth_header_name="auth")) as client:
        client.list_categories()
    assert route.calls.last.request.headers["auth"] == f"Bearer {API_KEY}"


def test_from_settings_oauth2_resolves_a_relative_token_url(
    router: respx.MockRouter, manual_clock: ManualClock
) -> None:
    token_route = router.post(TOKEN_URL).mock(return_value=token_answer("access"))
    router.get(f"{BASE}/categories").respond(json=CATEGORIES)
    oauth = oauth2_settings("/oauth2/token", **OURS)
    with LaporClient.from_settings(oauth, clock=manual_clock) as client:
        client.list_categories()
    assert token_route.call_count == 1


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"api_key": None}, "LAPOR_SYNC_API_KEY"),
        ({"api_token": SecretStr("")}, "LAPOR_SYNC_API_TOKEN"),
        ({"api_base_url": ""}, "LAPOR_SYNC_API_BASE_URL"),
        (
            {"auth_mode": "oauth2", "oauth_client_id": "c", "oauth_client_secret": SecretStr("s")},
            "LAPOR_SYNC_OAUTH_TOKEN_URL",
        ),
        ({"auth_mode": "oauth2", "oauth_token_url": "/t", "oauth_client_id": "c"}, "LAPOR_SYNC_OAUTH_CLIENT_SECRET"),
        ({"auth_mode": "kerberos"}, "LAPOR_SYNC_AUTH_MODE"),
    ],
)
def test_from_settings_names_the_missing_variable(changes: dict[str, object], variable: str) -> None:
    with pytest.raises(ConfigurationError, match=variable) as caught:
        LaporClient.from_settings(settings(**changes))
    assert API_KEY not in str(caught.value)


def test_secrets_stay_out_of_logs_even_when_retrying(
    router: respx.MockRouter, manual_clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="lapor_sync")  # whatever an earlier CLI test configured
    router.post(TOKEN_URL).mock(return_value=token_answer("access-secret"))
    router.get(f"{BASE}/categories").mock(
        side_effect=[httpx.Response(503, text="<html/>"), httpx.Response(200, json=CATEGORIES)]
    )
    with oauth_client(manual_clock) as client:
        client.list_categories()
    assert "GET /categories failed" in caplog.text  # the retry was logged
    for secret in (API_KEY, APP_TOKEN, CLIENT_SECRET, "access-secret"):
        assert secret not in caplog.text
