"""Reads the national adapter's settings: base URL, authentication mode with its secrets, timeouts.

The settings object is the application's (pydantic-settings, prefix ``LAPOR_SYNC_``); only these
attributes are read: ``api_base_url``, ``auth_mode`` (``"static"`` or ``"oauth2"``), ``api_key``,
``api_token``, ``auth_header_name``, ``oauth_token_url``, ``oauth_client_id``,
``oauth_client_secret``, ``http_timeout_seconds``. A missing one is reported by the name of its
environment variable, never with a secret's value.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from lapor_sync.adapters.national.auth import OAuth2ClientCredentialsAuth, StaticKeyAuth
from lapor_sync.domain.clock import Clock
from lapor_sync.domain.errors import ConfigurationError

ENV_PREFIX = "LAPOR_SYNC_"
_CONNECT_TIMEOUT_CAP = 10.0  # seconds: a connection that takes longer will not come


def _env_name(name: str) -> str:
    return f"{ENV_PREFIX}{name.upper()}"


def _required(settings: Any, name: str) -> Any:
    """Return the setting ``name``; raise ``ConfigurationError`` naming its variable when unset or blank."""
    value = getattr(settings, name, None)
    plain = value.get_secret_value() if isinstance(value, SecretStr) else value
    if plain is None or (isinstance(plain, str) and not plain.strip()):
        raise ConfigurationError(f"{_env_name(name)} is not set")
    return value


def base_url_from_settings(settings: Any) -> str:
    """Return the API base URL (``LAPOR_SYNC_API_BASE_URL``), which must be http(s)."""
    base_url = str(_required(settings, "api_base_url"))
    if not base_url.startswith(("https://", "http://")):
        raise ConfigurationError(f"{_env_name('api_base_url')} must start with https:// or http://")
    return base_url


def timeout_from_settings(settings: Any) -> httpx.Timeout:
    """Return timeouts from ``http_timeout_seconds``: read/write as given, connect/pool at most 10 s."""
    seconds = float(_required(settings, "http_timeout_seconds"))
    if seconds <= 0:
        raise ConfigurationError(f"{_env_name('http_timeout_seconds')} must be positive")
    short = min(seconds, _CONNECT_TIMEOUT_CAP)
    return httpx.Timeout(connect=short, read=seconds, write=seconds, pool=short)


def auth_from_settings(settings: Any, *, clock: Clock) -> httpx.Auth:
    """Return the authentication flow chosen by ``auth_mode`` (CONTRACT §1).

    A relative ``oauth_token_url`` (e.g. ``/oauth2/token``) is resolved against the base URL's host.

    Raises:
        ConfigurationError: unknown mode, or a setting the mode needs is missing.
    """
    mode = str(getattr(settings, "auth_mode", "") or "").strip().lower()
    if mode == "static":
        return StaticKeyAuth(
            _required(settings, "api_key"),
            _required(settings, "api_token"),
            header_name=getattr(settings, "auth_header_name", None) or "Authorization",
        )
    if mode == "oauth2":
        token_url = httpx.URL(base_url_from_settings(settings)).join(str(_required(settings, "oauth_token_url")))
        return OAuth2ClientCredentialsAuth(
            str(token_url),
            str(_required(settings, "oauth_client_id")),
            _required(settings, "oauth_client_secret"),
            _required(settings, "api_key"),
            _required(settings, "api_token"),
            clock=clock,
        )
    raise ConfigurationError(f"{_env_name('auth_mode')} must be 'static' or 'oauth2'")
