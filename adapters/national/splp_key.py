"""The SPLP gateway's API key: its claims read for display, and whether it suits the base URL (CONTRACT §7 G5).

The key is a JWT the gateway verifies; lapor-sync only reads it (PyJWT, signature not checked) to
tell a SANDBOX key from a PRODUCTION one before the first call, and to warn of its expiry. A key is
scoped to one API and one kind of endpoint: a SANDBOX key on the production API is refused with
900901 (G2), which is what these warnings spare an IT officer from meeting blind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import jwt
from pydantic import SecretStr

from lapor_sync.domain.errors import ConfigurationError
from lapor_sync.domain.timezones import display_wib

PRODUCTION_PATH = "/lapor/3.0.0"  # CONTRACT §1
SANDBOX_PATH = "/sandbox-konsolidasi/1.0"  # CONTRACT §1
EXPIRY_WARNING = timedelta(days=14)
"""How long before its ``exp`` a key is reported as expiring: time to ask SPLP for a new one."""
KEY_SETTING = "LAPOR_SYNC_SPLP_KEY"
BASE_URL_SETTING = "LAPOR_SYNC_API_BASE_URL"

BaseUrlKind = Literal["production", "sandbox", "unknown"]


class UnreadableKeyError(ConfigurationError):
    """The SPLP key is not a JWT whose claims can be read; the message names the setting, never the key."""


@dataclass(frozen=True)
class KeyClaims:
    """What the SPLP key says of itself (G5); the key itself is never kept here.

    Attributes:
        keytype: ``SANDBOX`` or ``PRODUCTION`` (upper case), or ``None`` when the claim is absent.
        token_type: ``apiKey`` for an SPLP API key; ``None`` when absent.
        issued_at: ``iat``, aware UTC, or ``None``.
        expires_at: ``exp``, aware UTC, or ``None`` (SPLP issues keys that never expire).
    """

    keytype: str | None
    token_type: str | None
    issued_at: datetime | None
    expires_at: datetime | None


def read_key_claims(key: SecretStr) -> KeyClaims:
    """Read the SPLP key's claims without verifying its signature (the gateway verifies it).

    Raises:
        UnreadableKeyError: not a JWT (three base64url parts, a JSON object of claims), or a claim of
            the wrong type; the message names ``LAPOR_SYNC_SPLP_KEY`` and never quotes the key.
    """
    if key.get_secret_value().lower().startswith("bearer "):  # copied from a header, as G5 shows it
        raise UnreadableKeyError(f"{KEY_SETTING}: give the key alone, without 'Bearer ' (lapor-sync sends that)")
    try:
        claims = jwt.decode(key.get_secret_value(), options={"verify_signature": False})
    except jwt.PyJWTError:
        raise UnreadableKeyError(
            f"{KEY_SETTING}: not a readable JWT (three base64url parts with JSON claims); "
            "use the API key SPLP issued for the LAPOR! API"
        ) from None
    keytype = _text_claim(claims, "keytype")
    return KeyClaims(
        keytype=keytype.upper() if keytype is not None else None,
        token_type=_text_claim(claims, "token_type"),
        issued_at=_time_claim(claims, "iat"),
        expires_at=_time_claim(claims, "exp"),
    )


def _text_claim(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None or isinstance(value, str):
        return value
    raise UnreadableKeyError(f"{KEY_SETTING}: its '{name}' claim is not text")


def _time_claim(claims: dict[str, Any], name: str) -> datetime | None:
    """A NumericDate claim (RFC 7519 §2: seconds since the epoch, UTC) as an aware datetime."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UnreadableKeyError(f"{KEY_SETTING}: its '{name}' claim is not a time (seconds since 1970)")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise UnreadableKeyError(f"{KEY_SETTING}: its '{name}' claim is not a time (seconds since 1970)") from None


def base_url_kind(base_url: str) -> BaseUrlKind:
    """Tell the production API from the sandbox by the base URL's path (CONTRACT §1), whatever the host.

    By the path, not the host, so the simulator on loopback serving either prefix is judged as the
    gateway would be. Any other path is ``unknown``.
    """
    try:
        path = httpx.URL(base_url).path.rstrip("/")
    except httpx.InvalidURL:
        return "unknown"
    if path.endswith(PRODUCTION_PATH):
        return "production"
    if path.endswith(SANDBOX_PATH):
        return "sandbox"
    return "unknown"


def key_warnings(claims: KeyClaims, base_url: str, now: datetime) -> list[str]:
    """What is wrong or soon wrong with the SPLP key against ``base_url`` at ``now`` (aware), one line each.

    A SANDBOX key on the production API or a PRODUCTION key on the sandbox (the gateway answers
    900901, CONTRACT §7 G2, G5); a key whose ``exp`` has passed, or falls within
    :data:`EXPIRY_WARNING`; a key type that is neither; a ``token_type`` other than ``apiKey``.
    Times are shown in WIB. Empty when nothing is wrong.
    """
    warnings = _kind_warnings(claims.keytype, base_url_kind(base_url))
    if claims.token_type is not None and claims.token_type != "apiKey":
        warnings.append(
            f"{KEY_SETTING} has token_type '{claims.token_type}', not 'apiKey': is it the gateway's API key "
            "rather than another token?"
        )
    if claims.expires_at is not None and claims.expires_at <= now:
        warnings.append(
            f"{KEY_SETTING} expired at {display_wib(claims.expires_at)}: the gateway will refuse it "
            "(900901); ask SPLP for a new key"
        )
    elif claims.expires_at is not None and claims.expires_at - now <= EXPIRY_WARNING:
        warnings.append(
            f"{KEY_SETTING} expires at {display_wib(claims.expires_at)}: ask SPLP for a new key before then"
        )
    return warnings


def _kind_warnings(keytype: str | None, kind: BaseUrlKind) -> list[str]:
    if keytype not in ("SANDBOX", "PRODUCTION"):
        return [f"{KEY_SETTING} names no key type SANDBOX or PRODUCTION (keytype {keytype!r}); check it is an SPLP key"]
    if keytype == "SANDBOX" and kind == "production":
        return [
            f"{KEY_SETTING} is a SANDBOX key but {BASE_URL_SETTING} is the production API ({PRODUCTION_PATH}): "
            f"the gateway will refuse it (900901); use a PRODUCTION key, or the sandbox URL (...{SANDBOX_PATH})"
        ]
    if keytype == "PRODUCTION" and kind == "sandbox":
        return [
            f"{KEY_SETTING} is a PRODUCTION key but {BASE_URL_SETTING} is the sandbox ({SANDBOX_PATH}): "
            f"the gateway will refuse it (900901); use a SANDBOX key, or the production URL (...{PRODUCTION_PATH})"
        ]
    return []
