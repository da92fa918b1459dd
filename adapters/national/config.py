"""Reads the national adapter's settings: base URL, authentication mode with its secrets, endpoints, timeouts, outbound policy.

The settings object is the application's (pydantic-settings, prefix ``LAPOR_SYNC_``); only these
attributes are read: ``api_base_url``, ``auth_mode`` (``"static"``, ``"splp_key"`` or
``"oauth2"``), ``api_key``, ``api_token``, ``auth_header_name``, ``splp_key``,
``splp_key_header``, ``oauth_token_url``, ``oauth_client_id``, ``oauth_client_secret``,
``oauth_grant_type``, ``oauth_username``, ``oauth_password``, ``oauth_token_header``,
``endpoints``, ``followup_user_id``, ``followup_info_disposition``, ``http_timeout_seconds``,
``request_deadline_seconds``, ``max_retry_after_seconds``, ``allow_insecure_http``,
``tls_ca_bundle``, ``max_response_bytes``, ``proxy_url`` (an optional one absent takes the adapter's
default; the proxy also reads the standard variables, ``proxy.choose``).
A missing or wrong one is reported by the name of its environment variable, never with a secret's
value or a URL (it may hold a password).
"""

from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from lapor_sync.adapters.national import proxy, splp_key
from lapor_sync.adapters.national.auth import (
    APP_TOKEN_HEADER,
    OAUTH2_KEY_HEADER,
    OAuth2ClientCredentialsAuth,
    PasswordGrant,
    SplpKeyAuth,
    StaticKeyAuth,
)
from lapor_sync.adapters.national.classify import DEFAULT_MAX_RETRY_AFTER_SECONDS
from lapor_sync.adapters.national.deadline import DEFAULT_REQUEST_DEADLINE_SECONDS
from lapor_sync.adapters.national.outbound import DEFAULT_MAX_RESPONSE_BYTES, OutboundPolicy, plain_http_refused
from lapor_sync.config.endpoints import NationalEndpoints
from lapor_sync.domain.clock import Clock
from lapor_sync.domain.errors import ConfigurationError

ENV_PREFIX = "LAPOR_SYNC_"
AUTH_MODES = ("static", "splp_key", "oauth2")
_CONNECT_TIMEOUT_CAP = 10.0  # seconds: a connection that takes longer will not come
log = logging.getLogger("lapor_sync.national")


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
    routes = {url: choice.route for url in urls if (choice := proxy_from_settings(settings, url)).route}
    return OutboundPolicy.for_urls(
        *urls,
        allow_insecure_http=bool(getattr(settings, "allow_insecure_http", False)),
        max_response_bytes=limit,
        tls=tls_from_settings(settings),
        proxies=routes,
    )


def proxy_from_settings(settings: Any, url: str | None = None) -> proxy.ProxyChoice:
    """Return the proxy requests to ``url`` (the base URL by default) go through, and why (``proxy.choose``).

    Raises:
        ConfigurationError: the proxy URL is refused (the message names its variable, not the URL).
    """
    explicit = getattr(settings, "proxy_url", None)
    plain = explicit.get_secret_value() if isinstance(explicit, SecretStr) else explicit
    sources = settings.value_sources() if callable(getattr(settings, "value_sources", None)) else {}
    source = _env_name("proxy_url") + ("_FILE" if sources.get("proxy_url") == "env-file" else "")
    if sources.get("proxy_url") == "file":
        source = "proxy_url in the --config file"
    target = url or str(getattr(settings, "api_base_url", "") or "")
    return proxy.choose(target, plain, explicit_source=source)


def _mode(settings: Any) -> str:
    return str(getattr(settings, "auth_mode", "") or "").strip().lower()


def _header(settings: Any, name: str, default: str) -> str:
    return str(getattr(settings, name, None) or default)


def auth_headers(settings: Any) -> dict[str, str]:
    """Return the headers the mode signs each request with, header name → what it carries (no secret).

    E.g. in ``splp_key`` mode ``{"Authorization": "LAPOR API key", "token": "app token",
    "AuthorizationSPLP": "SPLP key"}``.

    Raises:
        ConfigurationError: unknown mode, or two credentials configured into one header (each
            needs its own: the second would overwrite the first).
    """
    mode = _mode(settings)
    lapor_key = _header(settings, "auth_header_name", "Authorization")
    by_setting: list[tuple[str, str, str]]  # (setting, header, what it carries)
    if mode == "static":
        by_setting = [("auth_header_name", lapor_key, "LAPOR API key")]
    elif mode == "splp_key":
        by_setting = [
            ("auth_header_name", lapor_key, "LAPOR API key"),
            ("splp_key_header", _header(settings, "splp_key_header", "AuthorizationSPLP"), "SPLP key"),
        ]
    elif mode == "oauth2":
        by_setting = [
            ("oauth_token_header", _header(settings, "oauth_token_header", "Authorization"), "SPLP access token"),
            ("", OAUTH2_KEY_HEADER, "LAPOR API key"),
        ]
    else:
        raise ConfigurationError(f"{_env_name('auth_mode')} must be one of {', '.join(AUTH_MODES)}")
    every = [*by_setting, ("", APP_TOKEN_HEADER, "app token")]
    seen: dict[str, tuple[str, str, str]] = {}  # lower-case name -> (setting, header, what it carries)
    for setting, header, carries in every:
        if header.lower() in seen:
            taken_setting, taken_header, taken = seen[header.lower()]
            named = (setting, header) if setting else (taken_setting, taken_header)  # the one that can change
            raise ConfigurationError(
                f"{_env_name(named[0])}: header '{named[1]}' would carry both the {taken} and the {carries}; "
                "give each credential a header of its own"
            )
        seen[header.lower()] = (setting, header, carries)
    return {header: carries for _, header, carries in every}


def _password_grant(settings: Any) -> PasswordGrant | None:
    """The ``password`` grant's credentials when ``oauth_grant_type`` asks for them (G6), else ``None``."""
    grant = str(getattr(settings, "oauth_grant_type", None) or "client_credentials")
    if grant == "client_credentials":
        return None
    if grant != "password":
        raise ConfigurationError(f"{_env_name('oauth_grant_type')} must be 'client_credentials' or 'password'")
    return PasswordGrant(str(_required(settings, "oauth_username")), _required(settings, "oauth_password"))


def auth_from_settings(settings: Any, *, clock: Clock) -> httpx.Auth:
    """Return the authentication flow chosen by ``auth_mode`` (CONTRACT §1, §7 G5, G6).

    In ``splp_key`` mode the key's claims are read first, and what :func:`connection_report`
    warns of (a SANDBOX key on the production API, an expired key) is logged, each warning once
    per process: before the first request, not after the gateway's 900901.

    Raises:
        ConfigurationError: unknown mode, a setting the mode needs is missing, two credentials in
            one header, an SPLP key that is not a readable JWT, or the token URL is refused (see
            ``token_url_from_settings``).
    """
    headers = list(auth_headers(settings))
    mode = _mode(settings)
    if mode == "static":
        return StaticKeyAuth(_required(settings, "api_key"), _required(settings, "api_token"), header_name=headers[0])
    if mode == "splp_key":
        key = _required(settings, "splp_key")
        claims = splp_key.read_key_claims(key)
        _log_once(splp_key.key_warnings(claims, base_url_from_settings(settings), clock.now()))
        return SplpKeyAuth(
            _required(settings, "api_key"),
            _required(settings, "api_token"),
            key,
            header_name=headers[0],
            gateway_header=headers[1],
        )
    return OAuth2ClientCredentialsAuth(
        token_url_from_settings(settings),
        str(_required(settings, "oauth_client_id")),
        _required(settings, "oauth_client_secret"),
        _required(settings, "api_key"),
        _required(settings, "api_token"),
        clock=clock,
        max_retry_after_seconds=max_retry_after_from_settings(settings),
        password_grant=_password_grant(settings),
        token_header=headers[0],
    )


def endpoints_from_settings(settings: Any) -> NationalEndpoints:
    """Return the deployment's paths and list parameters (``endpoints``; CONTRACT §5 when absent, §7 G7, G8).

    Raises:
        ConfigurationError: a mapping given in place of the settings' model is refused (see
            :class:`~lapor_sync.config.endpoints.NationalEndpoints`).
    """
    endpoints = getattr(settings, "endpoints", None)
    if endpoints is None or isinstance(endpoints, NationalEndpoints):
        return endpoints or NationalEndpoints()
    try:
        return NationalEndpoints.model_validate(endpoints)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(["endpoints", *(str(part) for part in first["loc"])])
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigurationError(f"{_env_name(where.replace('.', '__'))}: {reason}") from None


def followup_extras_from_settings(settings: Any) -> dict[str, str]:
    """Return the extra fields every follow-up post carries (``user_id``, ``info_disposition``, G9), when set."""
    extras = {
        "user_id": getattr(settings, "followup_user_id", None),
        "info_disposition": getattr(settings, "followup_info_disposition", None),
    }
    return {name: str(value) for name, value in extras.items() if value is not None and str(value) != ""}


@dataclass(frozen=True)
class ConnectionReport:
    """How the settings make lapor-sync meet the gateway, for ``config show`` and ``doctor``; holds no secret.

    Attributes:
        auth_mode: ``static``, ``splp_key`` or ``oauth2``.
        headers: header name → what it carries (see :func:`auth_headers`).
        base_url_kind: ``production``, ``sandbox`` or ``unknown`` (by the base URL's path, CONTRACT §1).
        key_claims: the SPLP key's claims in ``splp_key`` mode (``None`` otherwise, or when unset or unreadable).
        warnings: one line each: the key does not suit the base URL, has expired or soon will,
            or cannot be read (CONTRACT §7 G2, G5); the proxy URL is refused.
        proxy: the proxy requests to the base URL go through and where it came from, credentials
            masked (``http://***:***@proxy:3128 (from HTTPS_PROXY)``), or ``direct (why)``.
    """

    auth_mode: str
    headers: dict[str, str]
    base_url_kind: splp_key.BaseUrlKind
    key_claims: splp_key.KeyClaims | None = None
    warnings: list[str] = field(default_factory=list)
    proxy: str = ""

    def as_data(self) -> dict[str, Any]:
        """The report as plain data (times aware UTC), for a table or ``--json``."""
        return asdict(self)


def connection_report(settings: Any, now: datetime) -> ConnectionReport:
    """Tell, before any request, how the settings meet the gateway: mode, headers, the key's claims, warnings.

    Reads the SPLP key's claims without verifying it (the gateway verifies), and judges them against
    the base URL and ``now`` (aware) with :func:`splp_key.key_warnings`. What
    :func:`auth_from_settings` would refuse (a key that cannot be read, two credentials in one
    header) is a warning here: the report never raises, so it can show what is wrong.
    """
    report = _connection_report(settings, now)
    try:
        report = replace(report, proxy=proxy_from_settings(settings).describe())
    except ConfigurationError as exc:
        report = replace(report, proxy="refused", warnings=[*report.warnings, str(exc)])
    return report


def _connection_report(settings: Any, now: datetime) -> ConnectionReport:
    mode, base_url = _mode(settings), str(getattr(settings, "api_base_url", "") or "")
    kind = splp_key.base_url_kind(base_url)
    try:
        headers = auth_headers(settings)
    except ConfigurationError as exc:
        return ConnectionReport(mode, {}, kind, warnings=[str(exc)])
    report = ConnectionReport(mode, headers, kind)
    key = getattr(settings, "splp_key", None)
    key = SecretStr(key) if isinstance(key, str) else key
    if mode != "splp_key" or key is None or not key.get_secret_value():
        return report
    try:
        claims = splp_key.read_key_claims(key)
    except splp_key.UnreadableKeyError as exc:
        return ConnectionReport(mode, headers, kind, warnings=[str(exc)])
    return ConnectionReport(mode, headers, kind, claims, splp_key.key_warnings(claims, base_url, now))


_logged: set[str] = set()
_logged_lock = threading.Lock()


def _log_once(warnings: list[str]) -> None:
    """Log each warning once per process: every client built (each worker run builds one) would repeat it."""
    with _logged_lock:
        fresh = [warning for warning in warnings if warning not in _logged]
        _logged.update(fresh)
    for warning in fresh:
        log.warning("%s", warning)
