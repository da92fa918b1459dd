"""Console sessions in a signed cookie: who signed in, when, when last seen, and the form token.

The cookie holds no secret and nothing personal: a user id, two instants and the CSRF token, signed
(itsdangerous, HMAC-SHA1 over the server's key) so it cannot be forged or altered. It is ``HttpOnly``
(no script reads it), ``SameSite=Strict`` (no other site's page sends it along) and ``Secure`` unless
the console is reached over plain HTTP on loopback. A session ends after ``idle_seconds`` without a
request, when its user is disabled, or when the user's password changes or the user signs out after it
began (checked on every request against the database, so it holds in every process, and a copy of
the cookie is worth nothing after a sign-out).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime

from itsdangerous import BadSignature, URLSafeSerializer

from lapor_sync.domain.clock import Clock

COOKIE = "lapor_sync_session"
SALT = "lapor-sync console session"
REFRESH_SECONDS = 60
"""How stale ``seen`` may get before the cookie is written again (not on every request)."""


@dataclass(frozen=True)
class ConsoleSession:
    """One browser's session.

    Attributes:
        csrf: the token every form of this browser carries back (random, 32 bytes).
        user_id: the signed-in user, ``None`` before sign-in (a visitor still has a CSRF token, for the
            sign-in form itself).
        issued: when the user signed in, UTC seconds since the epoch (0 before sign-in).
        seen: the last request, UTC seconds since the epoch.
    """

    csrf: str
    user_id: int | None = None
    issued: int = 0
    seen: int = 0

    @classmethod
    def fresh(cls, now: datetime) -> ConsoleSession:
        """A signed-out session with a new CSRF token."""
        return cls(csrf=secrets.token_urlsafe(32), seen=int(now.timestamp()))

    def signed_in(self, user_id: int, now: datetime) -> ConsoleSession:
        """This browser, signed in as ``user_id``: a new CSRF token too (no token known before sign-in survives)."""
        stamp = int(now.timestamp())
        return ConsoleSession(csrf=secrets.token_urlsafe(32), user_id=user_id, issued=stamp, seen=stamp)


class SessionCodec:
    """Reads and writes :class:`ConsoleSession` cookies signed with ``key``, idle-limited on ``clock``.

    Args:
        key: the signing key (setting ``web_secret_key``, or the database's own: :mod:`lapor_sync.web.secret`).
        clock: "now" (a manual clock in tests: idle timeouts are tested without waiting).
        idle_seconds: a session unused this long is over.
    """

    def __init__(self, key: str, clock: Clock, *, idle_seconds: int) -> None:
        self._serializer = URLSafeSerializer(key, salt=SALT)
        self._clock = clock
        self.idle_seconds = idle_seconds

    def read(self, cookie: str | None) -> ConsoleSession | None:
        """The session in ``cookie``; ``None`` when absent, forged, malformed or idle too long."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie)
            session = ConsoleSession(csrf=str(data["c"]), user_id=data["u"], issued=int(data["i"]), seen=int(data["s"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        if self._now() - session.seen > self.idle_seconds:
            return None
        return session

    def touched(self, session: ConsoleSession) -> ConsoleSession | None:
        """``session`` with ``seen`` moved to now, or ``None`` when it need not be written again yet."""
        now = self._now()
        return replace(session, seen=now) if now - session.seen >= REFRESH_SECONDS else None

    def write(self, session: ConsoleSession) -> str:
        """The cookie value for ``session``."""
        return self._serializer.dumps({"c": session.csrf, "u": session.user_id, "i": session.issued, "s": session.seen})

    def _now(self) -> int:
        return int(self._clock.now().timestamp())
