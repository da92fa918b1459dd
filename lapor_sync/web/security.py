"""Who is asking, and may they: session or token sign-in, roles, the CSRF check, and the audit trail.

A browser signs in with a password and carries a session cookie (:mod:`lapor_sync.web.sessions`);
a program sends ``Authorization: Bearer <token>`` (``lapor-sync user token NAME``). Each request is
checked against the database: a disabled user, or a session older than its user's last password
change, is signed out at once, in every process serving the console.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import Depends, Request

from lapor_sync.accounts.audit import Actor
from lapor_sync.accounts.roles import Role
from lapor_sync.accounts.users import ConsoleUser
from lapor_sync.web.context import Console, console
from lapor_sync.web.middleware import console_state
from lapor_sync.web.sessions import ConsoleSession

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class NotSignedIn(Exception):
    """No valid session or token: pages redirect to the sign-in page, the API answers 401."""


class NotAllowed(Exception):
    """Signed in, but the role does not allow this (403).

    Args:
        needed: the least role that may.
    """

    def __init__(self, needed: Role) -> None:
        super().__init__(needed)
        self.needed = needed


class CsrfRefused(Exception):
    """A form or action came without this browser's CSRF token (403)."""


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, if any."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def current_user(request: Request, services: Console = Depends(console)) -> ConsoleUser:
    """The user making ``request`` (a FastAPI dependency), also put on ``request.state.user``.

    Raises:
        NotSignedIn: no token and no live session, a token nobody holds, or a disabled user.
    """
    token = bearer_token(request)
    if token is not None:
        user = services.tokens.user_for_token(token)
    else:
        user = _session_user(request, services)
    if user is None or user.disabled:
        raise NotSignedIn
    request.state.user = user
    return user


def optional_user(request: Request, services: Console = Depends(console)) -> ConsoleUser | None:
    """The signed-in user, or ``None`` (for pages anyone may see: sign-in, errors)."""
    try:
        return current_user(request, services)
    except NotSignedIn:
        return None


def still_signed_in(request: Request, services: Console) -> bool:
    """Whether the user who made ``request`` may still use the console (for answers that last: the live tail).

    Asked again while the answer goes on, so a user disabled, signed out or whose token was revoked
    meanwhile stops getting data, as their next request would.
    """
    try:
        current_user(request, services)
    except NotSignedIn:
        return False
    return True


def _session_user(request: Request, services: Console) -> ConsoleUser | None:
    state = console_state(request)
    session = state.session
    if session.user_id is None:
        return None
    user = services.accounts.session_user(session.user_id, datetime.fromtimestamp(session.issued, UTC))
    if user is None:
        state.replace_session(ConsoleSession.fresh(services.clock.now()))  # ended: forget it in the browser too
    return user


def require(role: Role) -> Callable[..., ConsoleUser]:
    """A dependency that passes users of ``role`` or higher and refuses the others.

    Raises (from the dependency):
        NotSignedIn: nobody is signed in.
        NotAllowed: the user's role is below ``role``.
    """

    def dependency(user: ConsoleUser = Depends(current_user)) -> ConsoleUser:
        if not user.role.at_least(role):
            raise NotAllowed(role)
        return user

    dependency.__name__ = f"require_{role.value}"
    return dependency


async def verify_csrf(request: Request) -> None:
    """Refuse an unsafe request (POST, ...) from a browser that does not carry its session's CSRF token.

    The token comes in the form field ``csrf_token`` or the ``X-CSRF-Token`` header (htmx sends it).
    A request with a bearer token carries no cookie credentials, so cross-site forgery cannot use it: it
    is not asked for one. Applied to every route of the console (a dependency of the whole app).

    Raises:
        CsrfRefused: the token is missing or wrong.
    """
    if request.method not in UNSAFE_METHODS or bearer_token(request) is not None:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # Starlette keeps it on the request: the route reads the same form
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not secrets.compare_digest(sent, console_state(request).session.csrf):
        raise CsrfRefused


def client_address(request: Request) -> str | None:
    """The client's address (behind a trusted proxy, from ``X-Forwarded-For``: see ``web_forwarded_allow_ips``)."""
    return request.client.host if request.client else None


def audit_actor(request: Request, user: ConsoleUser) -> Actor:
    """The signed-in console ``user`` as the audit log names them: name, role and client address."""
    return Actor(user=user.name, role=user.role.value, address=client_address(request))


def audit(
    request: Request,
    user: ConsoleUser,
    action: str,
    *,
    case_id: int | None = None,
    tracking_id: str | None = None,
    detail: str | None = None,
) -> None:
    """Write who did ``action`` to which complaint, from where, into the audit log.

    Args:
        request: the request acting (its client address is recorded).
        user: who acts.
        case_id: the case acted on, if any.
        tracking_id: its tracking id, if any.
        action: what was done, a short stable name (``case.resync``, ``outbox.retry``, ``case.open_confidential``).
        detail: a few words more; never a secret, a reporter's identity or a complaint's text.
    """
    services: Console = request.app.state.console
    services.audit.record(
        user=user.name,
        role=user.role.value,
        action=action,
        address=client_address(request),
        case_id=case_id,
        tracking_id=tracking_id,
        detail=detail,
    )
