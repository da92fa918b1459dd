"""Who may call the simulator, and how often: static key, OAuth2 client credentials, rate limit.

CONTRACT §1 (two authentication modes) and §2 (429 with ``Retry-After``). Expiry and rate use
the machine's monotonic clock, not the simulated one: a demo that jumps months ahead must not
expire every token at each jump.
"""

from __future__ import annotations

import base64
import hmac
import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Credentials:
    """The fake demo credentials the simulator accepts (never real secrets; never logged)."""

    api_key: str = "sim-api-key"
    app_token: str = "{00000000-0000-4000-8000-000000006271}"
    client_id: str = "sim-client"
    client_secret: str = "sim-secret"


class AuthMode(StrEnum):
    """Which of the CONTRACT §1 modes the simulator accepts."""

    STATIC = "static"
    OAUTH2 = "oauth2"
    ANY = "any"


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class AccessTokens:
    """OAuth2 access tokens handed out by ``POST /oauth2/token``.

    Args:
        lifetime: seconds a token lives (``expires_in``).
        wall: monotonic seconds; injectable for tests.
    """

    def __init__(self, lifetime: int = 3600, wall: Callable[[], float] = time.monotonic) -> None:
        self.lifetime = lifetime
        self._wall = wall
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self) -> str:
        """Return a fresh random token, valid for ``lifetime`` seconds."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            now = self._wall()
            self._expiry = {t: exp for t, exp in self._expiry.items() if exp > now}
            self._expiry[token] = now + self.lifetime
        return token

    def valid(self, token: str) -> bool:
        """Return True while ``token`` was issued here and has not expired or been revoked."""
        with self._lock:
            return self._expiry.get(token, 0.0) > self._wall()

    def revoke(self, token: str) -> None:
        """Forget ``token`` before its time (fault injection: a token that expires early)."""
        with self._lock:
            self._expiry.pop(token, None)

    def revoke_all(self) -> None:
        """Forget every token (test hook: the next call with an old token gets 401)."""
        with self._lock:
            self._expiry.clear()


class Authenticator:
    """Checks request headers against CONTRACT §1.

    Static mode: ``Authorization: Bearer <api key>`` or ``auth: <api key>``, plus ``token: <GUID>``.
    OAuth2 mode: ``Authorization: Bearer <access token>``, ``auth: <api key>`` and ``token``.
    The ``auth`` header is accepted with or without a ``Bearer`` prefix.

    Args:
        credentials: the fake credentials accepted.
        tokens: the access tokens handed out, for OAuth2 mode.
        mode: which of the modes is accepted; ``AuthMode.ANY`` accepts both.
    """

    def __init__(self, credentials: Credentials, tokens: AccessTokens, mode: AuthMode = AuthMode.ANY) -> None:
        self.credentials = credentials
        self.tokens = tokens
        self.mode = mode

    def authenticate(self, headers: Mapping[str, str]) -> bool:
        """Return True when ``headers`` carry valid credentials for the configured mode."""
        creds = self.credentials
        if not _same(headers.get("token", "").strip("{}"), creds.app_token.strip("{}")):
            return False
        scheme, _, bearer = headers.get("authorization", "").partition(" ")
        bearer = bearer.strip() if scheme.lower() == "bearer" else None
        auth_key = headers.get("auth")
        if auth_key is not None and auth_key[:7].lower() == "bearer ":
            auth_key = auth_key[7:].strip()  # deployments send the key as "auth: Bearer <key>" too
        static_ok = _same(bearer, creds.api_key) or (bearer is None and _same(auth_key, creds.api_key))
        if self.mode is not AuthMode.OAUTH2 and static_ok:
            return True
        if self.mode is not AuthMode.STATIC:
            return bearer is not None and _same(auth_key, creds.api_key) and self.tokens.valid(bearer)
        return False

    def client_authenticated(self, authorization: str | None) -> bool:
        """Check HTTP Basic ``client_id:client_secret`` on a token request."""
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            client_id, _, secret = base64.b64decode(encoded.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return _same(client_id, self.credentials.client_id) and _same(secret, self.credentials.client_secret)


class RateLimiter:
    """A token bucket per client: ``rate`` requests per second, bursts up to ``rate`` requests.

    Args:
        rate: sustained requests per second per client.
        wall: monotonic seconds; injectable for tests.
    """

    def __init__(self, rate: float, wall: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._capacity = max(1.0, rate)
        self._wall = wall
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, client: str) -> int | None:
        """Take one request from ``client``'s bucket.

        Returns:
            ``None`` when allowed, else the whole seconds to wait (``Retry-After``, at least 1).
        """
        with self._lock:
            now = self._wall()
            level, last = self._buckets.get(client, (self._capacity, now))
            level = min(self._capacity, level + (now - last) * self.rate)
            if level >= 1.0:
                self._buckets[client] = (level - 1.0, now)
                return None
            self._buckets[client] = (level, now)
            return max(1, math.ceil((1.0 - level) / self.rate))
