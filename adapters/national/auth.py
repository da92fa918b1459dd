"""Authentication to the national platform: a static API key, that key plus an SPLP gateway key, or SPLP OAuth2.

Each is an ``httpx.Auth`` flow that signs each request (CONTRACT §1, §7 G5, G6). The LAPOR API key
is always sent as ``Bearer <key>`` (in OAuth2 mode under the ``auth`` header) and the application's
GUID in the ``token`` header. Secrets are held as ``SecretStr`` and never appear in ``repr``, logs
or errors.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from lapor_sync.adapters.national import classify
from lapor_sync.adapters.national.outbound import ANSWER_LIMIT
from lapor_sync.domain.clock import Clock, SystemClock
from lapor_sync.domain.errors import RunStoppingError, TransientError

APP_TOKEN_HEADER = "token"  # noqa: S105 - a header name, not a secret
OAUTH2_KEY_HEADER = "auth"
TOKEN_ANSWER_MAX_BYTES = 64 * 1024  # a token answer is a few hundred bytes; more is not a token answer


def _secret(value: SecretStr | str) -> SecretStr:
    return value if isinstance(value, SecretStr) else SecretStr(value)


def _plain(*secrets: SecretStr) -> tuple[str, ...]:
    """The values of ``secrets``, each also without surrounding braces (an app token GUID is written both ways)."""
    values = [s.get_secret_value() for s in secrets]
    return tuple(dict.fromkeys(values + [v.strip("{}") for v in values]))


def credentials_of(auth: httpx.Auth) -> tuple[str, ...]:
    """The secret values ``auth`` sends, to hide them in server messages (``classify.without_credentials``).

    Returns an empty tuple for a flow that is not one of this module's.
    """
    return auth.credentials() if isinstance(auth, StaticKeyAuth | OAuth2ClientCredentialsAuth) else ()


class StaticKeyAuth(httpx.Auth):
    """Static mode: ``<header_name>: Bearer <api key>`` and ``token: <GUID>`` on every request.

    A 401 in this mode is not retried (CONTRACT §1): the classifier turns it into ``RunStoppingError``.
    Its ``repr`` shows neither the key nor the token.

    Args:
        api_key: the LAPOR API key.
        app_token: the integrating application's GUID, sent as configured (often in braces).
        header_name: the header carrying the key; ``"Authorization"`` or, in some deployments, ``"auth"``.
    """

    def __init__(
        self, api_key: SecretStr | str, app_token: SecretStr | str, *, header_name: str = "Authorization"
    ) -> None:
        self._api_key = _secret(api_key)
        self._app_token = _secret(app_token)
        self._header_name = header_name

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign ``request`` and send it once."""
        self._sign(request)
        yield request

    def _sign(self, request: httpx.Request) -> None:
        request.headers[self._header_name] = f"Bearer {self._api_key.get_secret_value()}"
        request.headers[APP_TOKEN_HEADER] = self._app_token.get_secret_value()

    def credentials(self) -> tuple[str, ...]:
        """The API key and the app token, as sent."""
        return _plain(self._api_key, self._app_token)

    def __repr__(self) -> str:
        return f"StaticKeyAuth(header_name={self._header_name!r}, api_key=**********, app_token=**********)"


class SplpKeyAuth(StaticKeyAuth):
    """SPLP key mode: the static mode's headers plus ``<gateway_header>: Bearer <SPLP key>`` (CONTRACT §7 G5).

    The gateway checks its key and LAPOR! its own, so both travel on every request; a 401 is not
    retried, as in static mode. Its ``repr`` shows the header names, never a key or the token.

    Args:
        api_key: the LAPOR API key.
        app_token: the integrating application's GUID.
        splp_key: the SPLP API key (a JWT, scoped to the LAPOR! API).
        header_name: the header carrying the LAPOR key (as in static mode).
        gateway_header: the header carrying the SPLP key; ``AuthorizationSPLP`` as seen (G5).
    """

    def __init__(
        self,
        api_key: SecretStr | str,
        app_token: SecretStr | str,
        splp_key: SecretStr | str,
        *,
        header_name: str = "Authorization",
        gateway_header: str = "AuthorizationSPLP",
    ) -> None:
        super().__init__(api_key, app_token, header_name=header_name)
        self._splp_key = _secret(splp_key)
        self._gateway_header = gateway_header

    def _sign(self, request: httpx.Request) -> None:
        super()._sign(request)
        request.headers[self._gateway_header] = f"Bearer {self._splp_key.get_secret_value()}"

    def credentials(self) -> tuple[str, ...]:
        """The API key, the app token and the SPLP key, as sent."""
        return _plain(self._api_key, self._app_token, self._splp_key)

    def __repr__(self) -> str:
        return (
            f"SplpKeyAuth(header_name={self._header_name!r}, gateway_header={self._gateway_header!r}, "
            "api_key=**********, app_token=**********, splp_key=**********)"
        )


@dataclass(frozen=True)
class PasswordGrant:
    """The resource owner's credentials of the OAuth2 ``password`` grant (RFC 6749 §4.3), seen on SPLP (G6).

    Its ``repr`` shows the user name, never the password.
    """

    username: str
    password: SecretStr

    def __repr__(self) -> str:
        return f"PasswordGrant(username={self.username!r}, password=**********)"


class _TokenAnswer(BaseModel):
    access_token: SecretStr
    expires_in: float = 3600.0  # RFC 6749 §5.1 makes it optional; SPLP sends it


class OAuth2ClientCredentialsAuth(httpx.Auth):
    """SPLP OAuth2 mode: a cached gateway token, plus the LAPOR key and app token (CONTRACT §1, §7 G6).

    The token is fetched with ``POST token_url`` (form ``grant_type=client_credentials``, or
    ``grant_type=password`` with ``username`` and ``password`` when ``password_grant`` is given;
    HTTP Basic ``client_id:client_secret`` either way), sent as ``<token_header>: Bearer <token>``,
    and reused until ``refresh_margin_seconds`` before it expires (by
    ``clock``). A 401 on a request triggers exactly one token refresh and one resend of that
    request; a second 401 reaches the classifier and stops the run. The token answer is read up to
    ``TOKEN_ANSWER_MAX_BYTES`` (the client's outbound policy cuts it off). Several threads may share
    it (a push's deliveries, a pull's fetch pool): one token request at a time is made, and threads
    that found no valid token wait for it and use it rather than each fetching one. Its ``repr``
    shows the token URL and client id, never a secret or a token.

    Args:
        token_url: absolute URL of the token endpoint.
        client_id: the OAuth2 client id.
        client_secret: the OAuth2 client secret.
        api_key: the LAPOR API key, sent in the ``auth`` header.
        app_token: the application's GUID, sent in the ``token`` header.
        clock: where "now" comes from, for token expiry.
        refresh_margin_seconds: how long before expiry a token is replaced (at most half its lifetime).
        max_retry_after_seconds: the longest ``Retry-After`` of the token endpoint honoured, seconds
            (``LAPOR_SYNC_MAX_RETRY_AFTER_SECONDS``; see ``classify.parse_retry_after``).
        password_grant: the resource owner's credentials for the ``password`` grant; ``None`` for
            ``client_credentials``.
        token_header: the header the gateway token goes in (per API, G6).

    Raises:
        RunStoppingError: the token endpoint refused the client (4xx other than 408/429).
        TransientError: the token endpoint failed in a way worth retrying, or answered garbage.
    """

    requires_response_body = True  # the token answer must be read inside the flow

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: SecretStr | str,
        api_key: SecretStr | str,
        app_token: SecretStr | str,
        *,
        clock: Clock | None = None,
        refresh_margin_seconds: float = 30.0,
        max_retry_after_seconds: float = classify.DEFAULT_MAX_RETRY_AFTER_SECONDS,
        password_grant: PasswordGrant | None = None,
        token_header: str = "Authorization",
    ) -> None:
        self._token_url = token_url
        self._password_grant = password_grant
        self._token_header = token_header
        self._client_id = client_id
        self._client_secret = _secret(client_secret)
        self._api_key = _secret(api_key)
        self._app_token = _secret(app_token)
        self._clock = clock or SystemClock()
        self._refresh_margin = timedelta(seconds=refresh_margin_seconds)
        self._max_retry_after = max_retry_after_seconds
        self._access_token: SecretStr | None = None
        self._refresh_at: datetime | None = None
        # Without it, N threads finding no valid token at once (at the start, at each refresh) would
        # make N token requests, each counted against the quota, where one serves them all. The
        # request made under it is bounded by the attempt's deadline, so a waiting thread is too.
        self._token_lock = threading.Lock()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign ``request`` with a valid token; on 401 refresh the token once and resend once."""
        token = self._cached_token()
        if token is None:
            with self._token_lock:  # the thread before may have fetched one while this one waited
                token = self._cached_token() or self._store_token((yield self._token_request()))
        self._sign(request, token)
        response = yield request
        if response.status_code == 401:
            self._sign(request, self._store_token((yield self._token_request())))
            yield request

    def _cached_token(self) -> SecretStr | None:
        if self._access_token is None or self._refresh_at is None or self._clock.now() >= self._refresh_at:
            return None
        return self._access_token

    def credentials(self) -> tuple[str, ...]:
        """The client secret (alone and in its HTTP Basic form), the password, the API key, the app token and the access token."""
        secrets = [self._client_secret, self._api_key, self._app_token, self._basic_credentials()]
        if self._password_grant is not None:
            secrets.append(self._password_grant.password)
        return _plain(*secrets, *([self._access_token] if self._access_token is not None else []))

    def _basic_credentials(self) -> SecretStr:
        """``base64(client_id:client_secret)``, the HTTP Basic credentials of the token request (RFC 7617)."""
        pair = f"{self._client_id}:{self._client_secret.get_secret_value()}".encode()
        return SecretStr(base64.b64encode(pair).decode("ascii"))

    def _token_request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            self._token_url,
            data=self._grant_form(),
            headers={
                "Authorization": f"Basic {self._basic_credentials().get_secret_value()}",
                "Accept": "application/json",
            },
            extensions={ANSWER_LIMIT: TOKEN_ANSWER_MAX_BYTES},  # enforced by the client's outbound policy
        )

    def _grant_form(self) -> dict[str, str]:
        if self._password_grant is None:
            return {"grant_type": "client_credentials"}
        grant = self._password_grant
        return {"grant_type": "password", "username": grant.username, "password": grant.password.get_secret_value()}

    def _store_token(self, response: httpx.Response) -> SecretStr:
        now = self._clock.now()
        status = response.status_code
        if 400 <= status < 500 and status not in (408, 429):
            refused = "the client credentials"
            if self._password_grant is not None:  # invalid_grant: the owner's user name or password is wrong
                refused += " or the password grant's LAPOR_SYNC_OAUTH_USERNAME and LAPOR_SYNC_OAUTH_PASSWORD"
            raise RunStoppingError(f"OAuth2 token endpoint refused {refused}", status=status)
        if not response.is_success:
            raise classify.error_for_status(
                response,
                response.content,
                write=False,
                now=now,
                credentials=self.credentials(),
                max_retry_after=self._max_retry_after,
            )
        try:
            answer = _TokenAnswer.model_validate_json(response.content)
        except ValidationError:
            raise TransientError(
                "OAuth2 token endpoint answered without a usable access_token", status=status
            ) from None
        lifetime = timedelta(seconds=answer.expires_in)
        self._access_token = answer.access_token
        self._refresh_at = now + lifetime - min(self._refresh_margin, lifetime / 2)
        return answer.access_token

    def _sign(self, request: httpx.Request, access_token: SecretStr) -> None:
        request.headers[self._token_header] = f"Bearer {access_token.get_secret_value()}"
        request.headers[OAUTH2_KEY_HEADER] = f"Bearer {self._api_key.get_secret_value()}"
        request.headers[APP_TOKEN_HEADER] = self._app_token.get_secret_value()

    def __repr__(self) -> str:
        return (
            f"OAuth2ClientCredentialsAuth(token_url={self._token_url!r}, client_id={self._client_id!r}, "
            f"grant={self._password_grant or 'client_credentials'!r}, token_header={self._token_header!r}, "
            "client_secret=**********, api_key=**********, app_token=**********)"
        )
