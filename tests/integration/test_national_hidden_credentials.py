"""A server quoting a credential back base64-encoded (or base64url, padded or not) gets it hidden all the same.

The secret search (``tests/support/secret_search.py``) looks for these forms in everything lapor-sync writes;
the client hides them in a server's message before it becomes an error text.
"""

from __future__ import annotations

import base64

import pytest
import respx
from pydantic import SecretStr

from lapor_sync.adapters.national import LaporClient, OAuth2ClientCredentialsAuth, RetryPolicy, StaticKeyAuth
from lapor_sync.domain.errors import NationalPlatformError, RunStoppingError, TransientError

BASE = "https://splp.test/lapor/3.0.0"
TOKEN_URL = "https://splp.test/oauth2/token"
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
