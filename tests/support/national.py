"""The national client's settings for the tests against respx mocks: fake hosts and the simulator's fake credentials."""

from __future__ import annotations

from types import SimpleNamespace

from pydantic import SecretStr

BASE = "https://splp.test/lapor/3.0.0"
TOKEN_URL = "https://splp.test/oauth2/token"
VARIANT_ENDPOINTS = {
    "inbox": "/complaints/inbox-lmw",
    "complaint_detail": "/complaints/{complaint_id}/complaint-lmw",
    "followups": "/complaints/{complaint_id}/followups-lmw",
    "followup_add": "/complaints/followup/add-lmw",
    "status": "/complaints/process-lmw/{complaint_id}/status",
    "reject": "/complaints/process-lmw/{complaint_id}/reject",
    "institutions": "/institutions-lmw",
    "categories": "/categories-lmw",
    "page_size_param": "page_size",
}
"""A deployment with its own variant of every path (CONTRACT §7 G7) that pages by ``page_size`` (G8), as settings."""


def client_settings(**changes: object) -> SimpleNamespace:
    """The attributes ``LaporClient.from_settings`` reads: static mode on :data:`BASE`, with ``changes`` on top.

    An attribute left out is read with the client's default (``adapters/national/config.py``).
    """
    values: dict[str, object] = {
        "api_base_url": BASE,
        "auth_mode": "static",
        "api_key": SecretStr("sim-api-key"),
        "api_token": SecretStr("{guid}"),
        "requests_per_minute": 0,  # no client-side quota: these tests count requests, not minutes
    }
    return SimpleNamespace(**(values | changes))


def oauth2_settings(token_url: str = TOKEN_URL, **changes: object) -> SimpleNamespace:
    """:func:`client_settings` in OAuth2 mode: the simulator's client ``sim-client`` at ``token_url``."""
    oauth2 = {
        "auth_mode": "oauth2",
        "oauth_token_url": token_url,
        "oauth_client_id": "sim-client",
        "oauth_client_secret": SecretStr("sim-secret"),
    }
    return client_settings(**(oauth2 | changes))
