"""SPLP gateway API keys for the tests: JWTs shaped as SPLP issues them (CONTRACT §7 G5), signed with a test key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jwt

_SIGNING_KEY = "lapor-sync-tests-only-signing-key-0123456789"  # the gateway verifies; lapor-sync never does


def splp_key(
    keytype: str | None = "PRODUCTION",
    *,
    issued: datetime | None = None,
    expires: datetime | None = None,
    **claims: Any,
) -> str:
    """An SPLP API key: ``token_type`` ``apiKey``, ``keytype``, ``iat``/``exp`` when given, and ``claims`` on top.

    A claim given as ``None`` (``keytype=None``, ``token_type=None``) is left out.
    """
    values: dict[str, Any] = {"token_type": "apiKey", "keytype": keytype, "sub": "pemkot@carbon.super"}
    values |= {"iat": issued and int(issued.timestamp()), "exp": expires and int(expires.timestamp())} | claims
    return jwt.encode({name: value for name, value in values.items() if value is not None}, _SIGNING_KEY)
