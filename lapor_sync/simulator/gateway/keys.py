"""The SPLP API keys the simulated gateway mints and accepts: fake JWTs, one for each key type.

CONTRACT §7 G5: the key is a JWT with ``token_type`` ``apiKey``, ``keytype`` ``SANDBOX`` or
``PRODUCTION``, ``iat`` and perhaps ``exp``, scoped to one API. The simulator signs its keys with
HS256 under a fixed, fake secret (never a real one; the keys are printed as demo credentials). It
accepts exactly the keys it minted, compared whole, so it never needs to verify a signature; a
client reads the claims without verifying them. No JWT library: five lines of base64 and HMAC
make a fake credential, and the simulator must not add a dependency the client does not need.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from enum import StrEnum

FAKE_SECRET = b"lapor-sync-simulator-fake-splp-secret"
"""The HS256 secret of the simulator's keys: fake, published here, good for nothing else."""


class KeyType(StrEnum):
    """The ``keytype`` claim: which of the API's environments a key is for (CONTRACT §7 G2, G5)."""

    PRODUCTION = "PRODUCTION"
    SANDBOX = "SANDBOX"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class SplpKey:
    """One minted key.

    Attributes:
        token: the JWT as sent after ``Bearer``.
        keytype: its environment.
        issued_at: ``iat``, epoch seconds (UTC).
        expires_at: ``exp``, epoch seconds (UTC), or ``None`` when the key has no ``exp`` (G5).
    """

    token: str
    keytype: KeyType
    issued_at: int
    expires_at: int | None

    def __repr__(self) -> str:
        # The key is fake, yet a repr in a log or an assertion message should not train anyone to print keys.
        return f"SplpKey(keytype={self.keytype.value}, issued_at={self.issued_at}, expires_at={self.expires_at})"

    def expired(self, now: float) -> bool:
        """True when the key has an ``exp`` at or before ``now`` (epoch seconds)."""
        return self.expires_at is not None and now >= self.expires_at


def mint(keytype: KeyType, issued_at: int, expires_at: int | None = None) -> SplpKey:
    """Mint a key of ``keytype``: an HS256 JWT under :data:`FAKE_SECRET` with the claims of G5.

    Args:
        keytype: ``PRODUCTION`` or ``SANDBOX``.
        issued_at: ``iat``, epoch seconds.
        expires_at: ``exp``, epoch seconds, or ``None`` to leave the claim out.
    """
    header = {"alg": "HS256", "typ": "JWT"}
    claims: dict[str, object] = {
        "sub": "lapor-sync-simulator@carbon.super",
        "token_type": "apiKey",
        "keytype": keytype.value,
        "iat": issued_at,
        "jti": secrets.token_hex(16),  # two keys minted in the same second still differ
        **({"exp": expires_at} if expires_at is not None else {}),
    }
    compact = {"separators": (",", ":")}
    signing_input = f"{_b64(json.dumps(header, **compact).encode())}.{_b64(json.dumps(claims, **compact).encode())}"
    signature = hmac.new(FAKE_SECRET, signing_input.encode("ascii"), hashlib.sha256).digest()
    return SplpKey(f"{signing_input}.{_b64(signature)}", keytype, issued_at, expires_at)


class SplpKeys:
    """The keys a gateway accepts: one per key type at start, more minted by tests.

    Args:
        issued_at: ``iat`` of the two start-up keys, epoch seconds.
        lifetime: seconds until their ``exp``; ``None`` mints them without ``exp``.
    """

    def __init__(self, issued_at: int, lifetime: int | None = None) -> None:
        expires_at = None if lifetime is None else issued_at + lifetime
        self._by_token: dict[str, SplpKey] = {}
        self.production = self.add(mint(KeyType.PRODUCTION, issued_at, expires_at))
        self.sandbox = self.add(mint(KeyType.SANDBOX, issued_at, expires_at))

    def add(self, key: SplpKey) -> SplpKey:
        """Accept ``key`` from now on (e.g. one a test minted already expired); return it."""
        self._by_token[key.token] = key
        return key

    def find(self, token: str) -> SplpKey | None:
        """Return the key whose JWT is exactly ``token``, or ``None`` (unknown, garbled or another API's)."""
        return self._by_token.get(token)
