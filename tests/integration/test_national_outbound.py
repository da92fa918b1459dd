"""The national client's outbound policy: configured hosts only (however a URL spells another), no plain http
over a network, no redirects and no server-given next page URL followed, TLS verified, answers size-limited;
against respx mocks (no network)."""

from __future__ import annotations

import gzip
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import certifi
import httpx
import pytest
import respx

from lapor_sync.adapters.national import LaporClient, OAuth2ClientCredentialsAuth, RetryPolicy, StaticKeyAuth, config
from lapor_sync.adapters.national.outbound import OutboundPolicy, plain_http_refused
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.errors import (
    AmbiguousWriteError,
    ConfigurationError,
    MalformedRecordError,
    RunStoppingError,
)
from tests.support.national import BASE, client_settings, oauth2_settings

CATEGORIES_URL = f"{BASE}/categories"
CATEGORIES = {"results": [{"id": 1, "name": "Agama", "parent_id": 0}]}
LIMIT = 4096
CLOCK = ManualClock(datetime(2024, 10, 31, 1, 0, tzinfo=UTC))
LIMITS = {"http_timeout_seconds": 20.0, "max_response_bytes": LIMIT}


def settings(**changes: object) -> SimpleNamespace:
    """:func:`client_settings` with :data:`LIMITS`."""
    return client_settings(**(LIMITS | changes))


def oauth2(token_url: str, **changes: object) -> SimpleNamespace:
    return oauth2_settings(token_url, **(LIMITS | changes))


def client(base_url: str = BASE, auth: httpx.Auth | None = None, **policy: Any) -> LaporClient:
    """A client whose policy allows ``base_url`` only, with ``LIMIT``."""
    outbound = OutboundPolicy.for_urls(base_url, max_response_bytes=LIMIT, **policy)
    return LaporClient(
        base_url,
        auth or StaticKeyAuth("sim-api-key", "{guid}"),
        retry=RetryPolicy.no_wait(),
        clock=CLOCK,
        outbound=outbound,
    )


class CountingStream(httpx.SyncByteStream):
    """An answer body of ``chunks`` chunks of 1 KiB that counts what was read of it.

    The default, 256 KiB, is far over ``LIMIT`` and still ends, so a client that reads it all fails
    the test rather than hanging it.
    """

    def __init__(self, chunks: int = 256) -> None:
        self.chunks, self.read = chunks, 0

    def __iter__(self) -> Iterator[bytes]:
        while self.read < self.chunks:
            self.read += 1
            yield b"x" * 1024


# -- hosts -------------------------------------------------------------------------------------------


def test_request_to_a_host_not_configured_is_refused(router: respx.MockRouter) -> None:
    # The token URL is on another host than the one the policy was given: the token request (with
    # the client secret in it) is refused before it is sent, and so is everything after it.
    elsewhere = router.post("https://other.test/oauth2/token").respond(json={"access_token": "a"})
    api = router.get(CATEGORIES_URL).respond(json=CATEGORIES)
    auth = OAuth2ClientCredentialsAuth(
        "https://other.test/oauth2/token", "sim-client", "sim-secret", "k", "t", clock=CLOCK
    )
    with client(auth=auth) as lapor, pytest.raises(RunStoppingError, match="other.test:443: not a configured host"):
        lapor.list_categories()
    assert elsewhere.call_count == 0 and api.call_count == 0


def test_a_refusal_names_the_host_but_no_userinfo_path_or_query() -> None:
    policy = OutboundPolicy.for_urls(BASE)
    request = httpx.Request("GET", "https://user:pa55@evil.test:8443/steal?token=abc123")
    with pytest.raises(RunStoppingError) as refused:
        policy.check_request(request)
    assert "https://evil.test:8443" in str(refused.value)
    assert not any(text in str(refused.value) for text in ("user", "pa55", "steal", "abc123"))


def test_a_token_url_on_another_host_is_allowed_once_configured(router: respx.MockRouter) -> None:
    token = router.post("https://sso.other.test/oauth2/token").respond(json={"access_token": "a"})
    router.get(CATEGORIES_URL).respond(json=CATEGORIES)
    with LaporClient.from_settings(oauth2("https://sso.other.test/oauth2/token"), clock=CLOCK) as lapor:
        lapor.list_categories()
    assert token.call_count == 1


def test_a_redirect_to_another_host_is_refused_not_followed_and_not_retried(router: respx.MockRouter) -> None:
    api = router.get(CATEGORIES_URL).respond(302, headers={"Location": "https://evil.test/login?key=sim-api-key"})
    evil = router.get(host="evil.test").respond(json=CATEGORIES)
    with client() as lapor, pytest.raises(RunStoppingError) as caught:
        lapor.list_categories()
    assert "HTTP 302: redirect to https://evil.test:443 refused" in str(caught.value)
    assert api.call_count == 1 and evil.call_count == 0
    assert "sim-api-key" not in str(caught.value) and "login" not in str(caught.value)


def test_a_redirect_of_a_write_is_refused_once(router: respx.MockRouter) -> None:
    write = router.post(f"{BASE}/complaints/process/7/status").respond(307, headers={"Location": "/elsewhere"})
    with client() as lapor, pytest.raises(RunStoppingError, match="redirect refused"):
        lapor.set_status(7, status_code=2, note="x")
    assert write.call_count == 1


# -- plain http ----------------------------------------------------------------------------------------


def test_plain_http_to_a_public_host_is_refused(router: respx.MockRouter) -> None:
    public = "http://splp.test/lapor/3.0.0"
    route = router.get(f"{public}/categories").respond(json=CATEGORIES)
    # At configuration time, naming the setting and the way out.
    with pytest.raises(ConfigurationError) as base_refused:
        LaporClient.from_settings(settings(api_base_url=public))
    assert "LAPOR_SYNC_API_BASE_URL" in str(base_refused.value)
    assert "LAPOR_SYNC_ALLOW_INSECURE_HTTP" in str(base_refused.value)
    with pytest.raises(ConfigurationError, match="LAPOR_SYNC_OAUTH_TOKEN_URL"):
        LaporClient.from_settings(oauth2("http://sso.other.test/oauth2/token"))
    # And again for each request, for a client built without the settings.
    for outbound in (None, OutboundPolicy.for_urls(public)):
        with LaporClient(public, StaticKeyAuth("k", "t"), retry=RetryPolicy.no_wait(), outbound=outbound) as lapor:
            with pytest.raises(RunStoppingError, match="plain http://"):
                lapor.list_categories()
    assert route.call_count == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "[::1]"])
def test_plain_http_to_loopback_is_allowed(router: respx.MockRouter, host: str) -> None:
    base = f"http://{host}:8765/lapor/3.0.0"
    route = router.get(f"{base}/categories").respond(json=CATEGORIES)
    with LaporClient.from_settings(settings(api_base_url=base)) as lapor:
        lapor.list_categories()
    assert route.call_count == 1


def test_allow_insecure_http_allows_plain_http_to_another_host(router: respx.MockRouter) -> None:
    base = "http://gateway.city.test/lapor/3.0.0"
    route = router.get(f"{base}/categories").respond(json=CATEGORIES)
    with LaporClient.from_settings(settings(api_base_url=base, allow_insecure_http=True)) as lapor:
        lapor.list_categories()
    assert route.call_count == 1


# -- answer size ---------------------------------------------------------------------------------------


def test_an_answer_declaring_a_length_over_the_limit_is_refused_before_its_body_is_read(
    router: respx.MockRouter,
) -> None:
    body = CountingStream(chunks=8)
    route = router.get(CATEGORIES_URL).respond(200, headers={"Content-Length": str(8 * 1024)}, stream=body)
    with client() as lapor, pytest.raises(RunStoppingError, match=f"larger than {LIMIT} bytes"):
        lapor.list_categories()
    assert body.read == 0 and route.call_count == 1  # not read, not retried


def test_a_streamed_answer_over_the_limit_is_cut_off_without_reading_all_of_it(router: respx.MockRouter) -> None:
    body = CountingStream()  # no Content-Length
    router.get(CATEGORIES_URL).respond(200, stream=body)
    with client() as lapor, pytest.raises(RunStoppingError, match="LAPOR_SYNC_MAX_RESPONSE_BYTES"):
        lapor.list_categories()
    assert body.read <= LIMIT // 1024 + 1


def test_a_compressed_answer_is_limited_by_its_decoded_size(router: respx.MockRouter) -> None:
    bomb = gzip.compress(b" " * (1024 * 1024))  # 1 MiB of JSON whitespace in about 1 KiB
    assert len(bomb) < LIMIT
    router.get(CATEGORIES_URL).respond(200, headers={"Content-Encoding": "gzip"}, content=bomb)
    with client() as lapor, pytest.raises(RunStoppingError, match=f"larger than {LIMIT} bytes"):
        lapor.list_categories()


def test_an_oversized_complaint_detail_sets_that_complaint_aside(router: respx.MockRouter) -> None:
    detail = router.get(f"{BASE}/complaints/7/complaint").respond(200, stream=CountingStream())
    with client() as lapor, pytest.raises(MalformedRecordError) as caught:
        lapor.fetch_complaint(7)
    assert caught.value.complaint_id == 7 and f"larger than {LIMIT} bytes" in caught.value.reason
    assert detail.call_count == 1


def test_an_oversized_answer_to_a_write_is_ambiguous(router: respx.MockRouter) -> None:
    write = router.post(f"{BASE}/complaints/process/7/status").respond(200, stream=CountingStream())
    with client() as lapor, pytest.raises(AmbiguousWriteError, match="may have been applied"):
        lapor.set_status(7, status_code=2, note="x")
    assert write.call_count == 1


def test_an_oversized_token_answer_is_cut_off_at_a_small_limit(router: respx.MockRouter) -> None:
    token_body = CountingStream()
    router.post("https://splp.test/oauth2/token").respond(200, stream=token_body)
    api = router.get(CATEGORIES_URL).respond(json=CATEGORIES)
    auth = OAuth2ClientCredentialsAuth("https://splp.test/oauth2/token", "c", "s", "k", "t", clock=CLOCK)
    with (
        LaporClient(BASE, auth, retry=RetryPolicy.no_wait(), clock=CLOCK) as lapor,  # the default 16 MiB limit
        pytest.raises(RunStoppingError, match="OAuth2 token endpoint: answer from https://splp.test:443 larger"),
    ):
        lapor.list_categories()
    assert token_body.read <= 65 and api.call_count == 0  # 64 KiB for a token answer, not 16 MiB


# -- TLS -----------------------------------------------------------------------------------------------


def test_a_ca_bundle_gives_a_context_that_verifies_certificates_and_host_names() -> None:
    context = config.tls_from_settings(settings(tls_ca_bundle=Path(certifi.where())))
    assert context is not None and context.get_ca_certs()
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname


@pytest.mark.parametrize("bundle", ["missing.pem", "not-pem.txt", "."])
def test_an_unusable_ca_bundle_is_a_configuration_error(tmp_path: Path, bundle: str) -> None:
    (tmp_path / "not-pem.txt").write_text("not a certificate\n")
    with pytest.raises(ConfigurationError, match="LAPOR_SYNC_TLS_CA_BUNDLE"):
        LaporClient.from_settings(settings(tls_ca_bundle=tmp_path / bundle))


def test_the_http_client_is_built_verifying_with_the_configured_context(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[dict[str, Any]] = []
    real_client = httpx.Client

    def spy(**kwargs: Any) -> httpx.Client:
        built.append(kwargs)
        return real_client(**kwargs)

    monkeypatch.setattr(httpx, "Client", spy)
    LaporClient.from_settings(settings(tls_ca_bundle=Path(certifi.where()))).close()
    LaporClient.from_settings(settings()).close()
    with_bundle, default = (kwargs["verify"] for kwargs in built)
    assert isinstance(with_bundle, ssl.SSLContext) and with_bundle.verify_mode is ssl.CERT_REQUIRED
    assert default is True  # httpx's own verifying context (certifi, or SSL_CERT_FILE)
    assert all(kwargs["follow_redirects"] is False for kwargs in built)


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
