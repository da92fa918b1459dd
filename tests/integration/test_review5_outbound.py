"""Review (issue 5) of the national client's outbound policy: credentials quoted back by a server, proxies,
host look-alikes, a paginator's hostile ``next_page_url``, and an oversized thread end to end."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import httpx
import pytest
import respx

from lapor_sync.adapters.national import LaporClient, OAuth2ClientCredentialsAuth, RetryPolicy, StaticKeyAuth
from lapor_sync.adapters.national.outbound import OutboundPolicy, plain_http_refused
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.errors import NationalPlatformError, RunStoppingError
from lapor_sync.simulator.catalog import category_id
from tests.support.e2e import CREDENTIALS, DINSOS, client_for, harness, small_world

BASE = "https://splp.test/lapor/3.0.0"
TOKEN_URL = "https://splp.test/oauth2/token"
CLOCK = ManualClock(datetime(2024, 10, 31, 1, 0, tzinfo=UTC))
API_KEY, APP_TOKEN = "apikey-Review5-echo", "{5e1d2c3b-aaaa-4bbb-8ccc-6271e5e5e5e5}"
CLIENT_SECRET = "clientsecret-Review5-echo"


def refusal_text(lapor: LaporClient) -> str:
    with lapor, pytest.raises(NationalPlatformError) as refused:
        lapor.list_categories()
    return str(refused.value)


# -- a server that quotes the credentials back --------------------------------------------------------


@pytest.mark.parametrize("status", [400, 403, 422, 500])
def test_review_a_server_message_quoting_the_api_key_or_app_token_keeps_neither(
    router: respx.MockRouter, status: int
) -> None:
    quoted = f"key Bearer {API_KEY.upper()} with token {APP_TOKEN.strip('{}')} ({APP_TOKEN}) refused"
    router.get(f"{BASE}/categories").respond(status, json={"message": quoted})
    lapor = LaporClient(BASE, StaticKeyAuth(API_KEY, APP_TOKEN), retry=RetryPolicy.no_wait(), clock=CLOCK)

    text = refusal_text(lapor)

    assert "refused" in text and "***" in text  # the server's message is still told
    assert API_KEY.lower() not in text.lower() and APP_TOKEN.strip("{}") not in text


def test_a_credential_crossing_the_cut_of_a_long_message_leaves_no_prefix(router: respx.MockRouter) -> None:
    # The message is cut to 300 characters; the key starts at 290, so a cut before hiding keeps 10 of it.
    router.get(f"{BASE}/categories").respond(422, json={"message": "x" * 290 + API_KEY + " refused"})
    lapor = LaporClient(BASE, StaticKeyAuth(API_KEY, APP_TOKEN), retry=RetryPolicy.no_wait(), clock=CLOCK)

    text = refusal_text(lapor)

    assert "x***" in text and API_KEY[:6] not in text


@pytest.mark.parametrize("status", [429, 500, 503])
def test_review_a_token_endpoint_error_quoting_the_client_secret_keeps_it_out(
    router: respx.MockRouter, status: int
) -> None:
    auth = OAuth2ClientCredentialsAuth(TOKEN_URL, "client-review5", CLIENT_SECRET, API_KEY, APP_TOKEN, clock=CLOCK)
    basic = auth.credentials()[3]  # base64(client_id:client_secret), as sent in the Authorization header
    router.post(TOKEN_URL).respond(status, json={"message": f"client secret {CLIENT_SECRET} / Basic {basic} no"})
    lapor = LaporClient(
        BASE, auth, retry=RetryPolicy.no_wait(), clock=CLOCK, outbound=OutboundPolicy.for_urls(BASE, TOKEN_URL)
    )

    text = refusal_text(lapor)

    assert f"HTTP {status}" in text and CLIENT_SECRET not in text and basic not in text


def test_review_short_test_credentials_do_not_garble_messages(router: respx.MockRouter) -> None:
    router.get(f"{BASE}/categories").respond(422, json={"message": "The given data was invalid."})
    lapor = LaporClient(BASE, StaticKeyAuth("k", "t"), retry=RetryPolicy.no_wait(), clock=CLOCK)

    assert refusal_text(lapor) == "HTTP 422: The given data was invalid."


# -- proxies --------------------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.e2e
@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_review_plain_http_to_loopback_never_goes_through_a_proxy(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # A proxy would get the whole request in clear, key and app token included: the loopback
    # exception to "https only" would then leave the machine after all.
    monkeypatch.setenv(variable, f"http://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    sim = small_world()
    with sim.serve() as base_url:
        auth = StaticKeyAuth(CREDENTIALS.api_key, CREDENTIALS.app_token)
        with LaporClient(base_url, auth, retry=RetryPolicy.no_wait(max_attempts=1), clock=sim.clock) as lapor:
            assert lapor.list_categories()  # straight to the simulator: the proxy's port is closed


# -- hosts that look like the configured one ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://SPLP.Test/lapor/3.0.0/categories", True),  # host names are case-insensitive
        ("https://splp.test:443/lapor/3.0.0/categories", True),  # the default port is the same origin
        ("https://splp.test./lapor/3.0.0/categories", False),  # a trailing dot is another name to the client
        ("https://splp.test:8443/lapor/3.0.0/categories", False),
        ("http://splp.test/lapor/3.0.0/categories", False),
        ("https://splp.test@evil.test/lapor/3.0.0/categories", False),  # userinfo, not the host
        ("https://good@evil.test/x", False),
        ("https://evil.test#@splp.test/x", False),
        ("https://splp.test.evil.test/x", False),
        ("https://[::1]/x", False),
    ],
)
def test_review_only_the_configured_origin_passes_whatever_the_spelling(url: str, allowed: bool) -> None:
    policy = OutboundPolicy.for_urls(BASE)
    request = httpx.Request("GET", url)
    if allowed:
        policy.check_request(request)
    else:
        with pytest.raises(RunStoppingError, match="not a configured host"):
            policy.check_request(request)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1.evil.test",
        "localhost.evil.test",
        "0.0.0.0",
        "[::]",
        "localhost.",
        "[::ffff:127.0.0.1]",
        "2130706433",
        "127.1",
        "evil.test",
    ],
)
def test_review_names_that_only_look_like_loopback_get_no_plain_http(host: str) -> None:
    assert plain_http_refused(httpx.URL(f"http://{host}/lapor"), allow_insecure_http=False)


# -- a paginator's next_page_url --------------------------------------------------------------------------


@pytest.mark.parametrize("next_page_url", ["::::", "http://[::1", "https://evil.test/lapor/3.0.0/categories?page=2"])
def test_review_a_next_page_url_is_never_followed_and_an_unreadable_one_does_not_crash(
    router: respx.MockRouter, next_page_url: str
) -> None:
    def page(number: int, next_url: str | None) -> dict[str, object]:
        return {
            "results": {
                "current_page": number,
                "last_page": 2,
                "next_page_url": next_url,
                "data": [{"id": number, "name": f"Kategori {number}", "parent_id": 0}],
            }
        }

    router.get(f"{BASE}/categories", params={"page": "1"}).respond(json=page(1, next_page_url))
    router.get(f"{BASE}/categories", params={"page": "2"}).respond(json=page(2, None))
    elsewhere = router.route(host="evil.test")

    with LaporClient(BASE, StaticKeyAuth("k", "t"), retry=RetryPolicy.no_wait(), clock=CLOCK) as lapor:
        categories = lapor.list_categories()

    assert [c.id for c in categories] == [1, 2] and elsewhere.call_count == 0


# -- an oversized answer, end to end ---------------------------------------------------------------------


@pytest.mark.e2e
def test_review_a_complaint_with_an_oversized_thread_is_set_aside_and_the_run_goes_on(tmp_path) -> None:
    limit = 16 * 1024
    with harness(small_world(), f"sqlite:///{tmp_path / 'e2e.db'}", max_response_bytes=limit) as h:
        big, small = (
            h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
            for _ in range(2)
        )
        for _ in range(3):  # the platform keeps 10,000 characters of each: 30 KB of thread
            h.world.add_followup(big.complaint_id, DINSOS, "Tanggapan panjang. " * 600)
        with LaporClient.from_settings(h.app.settings, clock=h.clock, retry=RetryPolicy.no_wait()) as lapor:
            run = h.sync(platform=lapor)

        assert (run.outcome, run.created, run.set_aside) == ("ok", 1, 1)
        assert [c.complaint_id for c in h.cases()] == [small.complaint_id]
        (event,) = h.events("complaint.set_aside")
        assert event.complaint_id == big.complaint_id and f"larger than {limit} bytes" in event.message
        with client_for(h.base_url, h.clock) as unlimited:  # the default limit reads it
            assert h.sync(platform=unlimited).created == 1
