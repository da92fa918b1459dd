"""Reads the national adapter's settings: base URL, authentication mode with its secrets, timeouts, outbound policy.

The settings object is the application's (pydantic-settings, prefix ``LAPOR_SYNC_``); only these
attributes are read: ``api_base_url``, ``auth_mode`` (``"static"`` or ``"oauth2"``), ``api_key``,
``api_token``, ``auth_header_name``, ``oauth_token_url``, ``oauth_client_id``,
``oauth_client_secret``, ``http_timeout_seconds``, ``request_deadline_seconds``,
``max_retry_after_seconds``, ``allow_insecure_http``, ``tls_ca_bundle``, ``max_response_bytes``
(an optional one absent takes the adapter's default). A missing or wrong one is reported by the
name of its environment variable, never with a secret's value or a URL (it may hold a password).
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx
from pydantic import SecretStr

from lapor_sync.adapters.national.auth import OAuth2ClientCredentialsAuth, StaticKeyAuth
from lapor_sync.adapters.national.classify import DEFAULT_MAX_RETRY_AFTER_SECONDS
from lapor_sync.adapters.national.deadline import DEFAULT_REQUEST_DEADLINE_SECONDS
from lapor_sync.adapters.national.outbound import DEFAULT_MAX_RESPONSE_BYTES, OutboundPolicy, plain_http_refused
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


def _refuse_plain_http(settings: Any, name: str, url: str) -> None:
    """Refuse plain ``http://`` to a host that is not loopback unless ``allow_insecure_http`` says so."""
    if plain_http_refused(httpx.URL(url), allow_insecure_http=bool(getattr(settings, "allow_insecure_http", False))):
        raise ConfigurationError(
            f"{_env_name(name)} is plain http:// to a host that is not loopback: the credentials would cross "
            f"the network unencrypted; use https://, or set {_env_name('allow_insecure_http')}=true"
        )


def base_url_from_settings(settings: Any) -> str:
    """Return the API base URL (``LAPOR_SYNC_API_BASE_URL``): https, or http to loopback.

    Raises:
        ConfigurationError: unset, not http(s), or plain http to another host without
            ``LAPOR_SYNC_ALLOW_INSECURE_HTTP``.
    """
    base_url = str(_required(settings, "api_base_url"))
    if not base_url.startswith(("https://", "http://")):
        raise ConfigurationError(f"{_env_name('api_base_url')} must start with https:// or http://")
    _refuse_plain_http(settings, "api_base_url", base_url)
    return base_url


def token_url_from_settings(settings: Any) -> str:
    """Return the OAuth2 token URL; a relative one (e.g. ``/oauth2/token``) is resolved on the base URL's host.

    Raises:
        ConfigurationError: unset, or plain http to another host without ``LAPOR_SYNC_ALLOW_INSECURE_HTTP``.
    """
    token_url = str(httpx.URL(base_url_from_settings(settings)).join(str(_required(settings, "oauth_token_url"))))
    _refuse_plain_http(settings, "oauth_token_url", token_url)
    return token_url


def _seconds(settings: Any, name: str, default: float | None = None) -> float:
    """Return the setting ``name`` as seconds: ``default`` when absent, required when there is none.

    Raises:
        ConfigurationError: missing (without a default) or not positive.
    """
    value = _required(settings, name) if default is None else getattr(settings, name, default)
    seconds = float(value)
    if seconds <= 0:
        raise ConfigurationError(f"{_env_name(name)} must be positive")
    return seconds


def timeout_from_settings(settings: Any) -> httpx.Timeout:
    """Return timeouts from ``http_timeout_seconds``: read/write as given, connect/pool at most 10 s."""
    seconds = _seconds(settings, "http_timeout_seconds")
    short = min(seconds, _CONNECT_TIMEOUT_CAP)
    return httpx.Timeout(connect=short, read=seconds, write=seconds, pool=short)


def deadline_from_settings(settings: Any) -> float:
    """Return the wall-clock limit of one attempt of one request, seconds (``request_deadline_seconds``).

    It bounds what the per-operation timeouts cannot: a body trickled within the read timeout, a
    slow name lookup.

    Raises:
        ConfigurationError: not positive.
    """
    return _seconds(settings, "request_deadline_seconds", DEFAULT_REQUEST_DEADLINE_SECONDS)


def max_retry_after_from_settings(settings: Any) -> float:
    """Return the longest ``Retry-After`` honoured, seconds (``max_retry_after_seconds``).

    Raises:
        ConfigurationError: not positive.
    """
    return _seconds(settings, "max_retry_after_seconds", DEFAULT_MAX_RETRY_AFTER_SECONDS)


def tls_from_settings(settings: Any) -> ssl.SSLContext | None:
    """Return a TLS context trusting the CAs of ``tls_ca_bundle`` (a PEM file), or ``None`` for the default trust.

    Verification stays on either way (``CERT_REQUIRED``, host name checked): no setting turns it off.

    Raises:
        ConfigurationError: naming ``LAPOR_SYNC_TLS_CA_BUNDLE`` when the file is missing, unreadable
            or holds no PEM certificate.
    """
    bundle = getattr(settings, "tls_ca_bundle", None)
    if bundle is None:
        return None
    try:
        return ssl.create_default_context(cafile=str(bundle))
    except ssl.SSLError:
        raise ConfigurationError(f"{_env_name('tls_ca_bundle')}: no PEM certificate in {bundle}") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigurationError(f"{_env_name('tls_ca_bundle')}: cannot read {bundle} ({reason})") from None


def outbound_from_settings(settings: Any) -> OutboundPolicy:
    """Return the outbound policy: the base URL's host (and the token URL's in OAuth2 mode), TLS, size limit.

    Raises:
        ConfigurationError: a URL or the CA bundle is refused (see above), or ``max_response_bytes``
            is not positive.
    """
    urls = [base_url_from_settings(settings)]
    if str(getattr(settings, "auth_mode", "") or "").strip().lower() == "oauth2":
        urls.append(token_url_from_settings(settings))
    limit = int(getattr(settings, "max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES))
    if limit < 1:
        raise ConfigurationError(f"{_env_name('max_response_bytes')} must be positive")
    return OutboundPolicy.for_urls(
        *urls,
        allow_insecure_http=bool(getattr(settings, "allow_insecure_http", False)),
        max_response_bytes=limit,
        tls=tls_from_settings(settings),
    )


def auth_from_settings(settings: Any, *, clock: Clock) -> httpx.Auth:
    """Return the authentication flow chosen by ``auth_mode`` (CONTRACT §1).

    Raises:
        ConfigurationError: unknown mode, a setting the mode needs is missing, or the token URL is
            refused (see ``token_url_from_settings``).
    """
    mode = str(getattr(settings, "auth_mode", "") or "").strip().lower()
    if mode == "static":
        return StaticKeyAuth(
            _required(settings, "api_key"),
            _required(settings, "api_token"),
            header_name=getattr(settings, "auth_header_name", None) or "Authorization",
        )
    if mode == "oauth2":
        return OAuth2ClientCredentialsAuth(
            token_url_from_settings(settings),
            str(_required(settings, "oauth_client_id")),
            _required(settings, "oauth_client_secret"),
            _required(settings, "api_key"),
            _required(settings, "api_token"),
            clock=clock,
            max_retry_after_seconds=max_retry_after_from_settings(settings),
        )
    raise ConfigurationError(f"{_env_name('auth_mode')} must be 'static' or 'oauth2'")
