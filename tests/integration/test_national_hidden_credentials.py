"""A server quoting a credential back, as it is or base64-encoded (base64url, padded or not), gets it hidden.

The secret search (``tests/support/secret_search.py``) looks for these forms in everything lapor-sync writes;
the client hides them in a server's message before it becomes an error text.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
import respx
from pydantic import SecretStr

from lapor_sync.adapters.national import LaporClient, OAuth2ClientCredentialsAuth, RetryPolicy, StaticKeyAuth
from lapor_sync.adapters.national.outbound import OutboundPolicy
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.errors import NationalPlatformError, RunStoppingError, TransientError
from tests.support.national import BASE, TOKEN_URL

# Chosen so that base64 and base64url differ and the encodings carry "=" padding.
API_KEY = "kunci-rahasia>>?"
APP_TOKEN = "{00000000-0000-4000-8000-00000000>>?}"
CLIENT_SECRET = "sim-secret?>"


def encodings(secret: str) -> dict[str, str]:
    """The base64 forms of ``secret``: standard and URL-safe, with their padding and without."""
    raw = secret.encode()
    padded = {"base64": base64.b64encode(raw).decode(), "base64url": base64.urlsafe_b64encode(raw).decode()}
    return padded | {f"{kind} unpadded": text.rstrip("=") for kind, text in padded.items()}


def assert_hidden(error: NationalPlatformError, secret: str) -> None:
    text = str(error)
    shown = [kind for kind, form in encodings(secret).items() if form.rstrip("=") in text]
    assert not shown, f"{shown} shown in {text!r}"
    assert "***" in text


@pytest.mark.parametrize("kind", ["base64", "base64url", "base64 unpadded", "base64url unpadded"])
@pytest.mark.parametrize("secret", [API_KEY, APP_TOKEN])
def test_a_403_quoting_a_base64_credential_shows_it_hidden(router: respx.MockRouter, secret: str, kind: str) -> None:
    quoted = encodings(secret)[kind]
    router.get(f"{BASE}/categories").respond(403, json={"message": f"credential {quoted} is not subscribed"})

    with (
        LaporClient(BASE, StaticKeyAuth(API_KEY, APP_TOKEN), retry=RetryPolicy.no_wait()) as lapor,
        pytest.raises(RunStoppingError) as caught,
    ):
        lapor.list_categories()

    assert_hidden(caught.value, secret)


def test_a_token_endpoint_quoting_the_client_secret_in_base64_shows_it_hidden(router: respx.MockRouter) -> None:
    quoted = encodings(CLIENT_SECRET)["base64url unpadded"]
    router.post(TOKEN_URL).respond(500, json={"message": f"client secret {quoted} rejected by the key manager"})
    auth = OAuth2ClientCredentialsAuth(
        TOKEN_URL, "sim-client", SecretStr(CLIENT_SECRET), SecretStr(API_KEY), SecretStr(APP_TOKEN)
    )

    with (
        LaporClient(BASE, auth, retry=RetryPolicy.no_wait(max_attempts=1)) as lapor,
        pytest.raises(TransientError) as caught,
    ):
        lapor.list_categories()

    assert_hidden(caught.value, CLIENT_SECRET)


# -- credentials quoted back as they are ------------------------------------------------------------

ECHOED_API_KEY, ECHOED_APP_TOKEN = "apikey-quoted-echo", "{5e1d2c3b-aaaa-4bbb-8ccc-6271e5e5e5e5}"
ECHOED_CLIENT_SECRET = "clientsecret-quoted-echo"
CLOCK = ManualClock(datetime(2024, 10, 31, 1, 0, tzinfo=UTC))


def refusal_text(lapor: LaporClient) -> str:
    with lapor, pytest.raises(NationalPlatformError) as refused:
        lapor.list_categories()
    return str(refused.value)


@pytest.mark.parametrize("status", [400, 403, 422, 500])
def test_review_a_server_message_quoting_the_api_key_or_app_token_keeps_neither(
    router: respx.MockRouter, status: int
) -> None:
    quoted = (
        f"key Bearer {ECHOED_API_KEY.upper()} with token {ECHOED_APP_TOKEN.strip('{}')} ({ECHOED_APP_TOKEN}) refused"
    )
    router.get(f"{BASE}/categories").respond(status, json={"message": quoted})
    lapor = LaporClient(BASE, StaticKeyAuth(ECHOED_API_KEY, ECHOED_APP_TOKEN), retry=RetryPolicy.no_wait(), clock=CLOCK)

    text = refusal_text(lapor)

    assert "refused" in text and "***" in text  # the server's message is still told
    assert ECHOED_API_KEY.lower() not in text.lower() and ECHOED_APP_TOKEN.strip("{}") not in text


def test_a_credential_crossing_the_cut_of_a_long_message_leaves_no_prefix(router: respx.MockRouter) -> None:
    # The message is cut to 300 characters; the key starts at 290, so a cut before hiding keeps 10 of it.
    router.get(f"{BASE}/categories").respond(422, json={"message": "x" * 290 + ECHOED_API_KEY + " refused"})
    lapor = LaporClient(BASE, StaticKeyAuth(ECHOED_API_KEY, ECHOED_APP_TOKEN), retry=RetryPolicy.no_wait(), clock=CLOCK)

    text = refusal_text(lapor)

    assert "x***" in text and ECHOED_API_KEY[:6] not in text


@pytest.mark.parametrize("status", [429, 500, 503])
def test_review_a_token_endpoint_error_quoting_the_client_secret_keeps_it_out(
    router: respx.MockRouter, status: int
) -> None:
    auth = OAuth2ClientCredentialsAuth(
        TOKEN_URL, "client-quoted", ECHOED_CLIENT_SECRET, ECHOED_API_KEY, ECHOED_APP_TOKEN, clock=CLOCK
    )
    basic = auth.credentials()[3]  # base64(client_id:client_secret), as sent in the Authorization header
    router.post(TOKEN_URL).respond(status, json={"message": f"client secret {ECHOED_CLIENT_SECRET} / Basic {basic} no"})
    lapor = LaporClient(
        BASE,
        auth,
        retry=RetryPolicy.no_wait(),
        clock=CLOCK,
        outbound=OutboundPolicy.for_urls(BASE, TOKEN_URL),
        quota_wait_seconds=0.001,  # a 429 without Retry-After is a wait for the quota window, tried again once
    )

    text = refusal_text(lapor)

    assert f"HTTP {status}" in text and ECHOED_CLIENT_SECRET not in text and basic not in text


def test_review_short_test_credentials_do_not_garble_messages(router: respx.MockRouter) -> None:
    router.get(f"{BASE}/categories").respond(422, json={"message": "The given data was invalid."})
    lapor = LaporClient(BASE, StaticKeyAuth("k", "t"), retry=RetryPolicy.no_wait(), clock=CLOCK)

    assert refusal_text(lapor) == "LAPOR! refused: HTTP 422: The given data was invalid."
