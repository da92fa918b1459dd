"""Signing in and out, and choosing the language."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from lapor_sync.accounts.throttle import SignInThrottled
from lapor_sync.accounts.users import ConsoleUser, SignInRefused
from lapor_sync.web.context import Console, console
from lapor_sync.web.i18n import Language
from lapor_sync.web.middleware import LANGUAGE_COOKIE, console_state
from lapor_sync.web.security import audit, client_address, optional_user
from lapor_sync.web.sessions import ConsoleSession
from lapor_sync.web.templating import redirect_after, render, translate, url

router = APIRouter()
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this console only (never another site: no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/sign-in")
def sign_in_page(request: Request, next: str = "/", user: ConsoleUser | None = Depends(optional_user)) -> Response:  # noqa: A002
    """The sign-in form (a signed-in user goes straight on)."""
    if user is not None:
        return RedirectResponse(url(request, safe_next(next)), status_code=303)
    return render(request, "sign_in.html", title=translate(request, "Sign in"), next=safe_next(next), error=None)


@router.post("/sign-in")
def sign_in(
    request: Request,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form()] = "/",  # noqa: A002
    services: Console = Depends(console),
) -> Response:
    """Check the password; on success start a new session (new CSRF token) and go to ``next``."""
    try:
        user = services.accounts.authenticate(name, password, address=client_address(request) or "unknown")
    except SignInThrottled as exc:
        minutes = max(1, -(-exc.retry_after_seconds // 60))
        error = translate(request, "Too many failed sign-ins; try again in %(minutes)d minutes.", minutes=minutes)
        return _refused(request, name, next, error, status_code=429)
    except SignInRefused:
        error = translate(request, "The user name or password is wrong, or the user is disabled.")
        return _refused(request, name, next, error, status_code=401)
    state = console_state(request)
    state.replace_session(state.session.signed_in(user.id, services.clock.now()))
    request.state.user = user
    audit(request, user, "sign_in")
    return redirect_after(request, safe_next(next))


def _refused(request: Request, name: str, next_path: str, error: str, *, status_code: int) -> Response:
    return render(
        request,
        "sign_in.html",
        status_code=status_code,
        title=translate(request, "Sign in"),
        next=safe_next(next_path),
        error=error,
        name=name,
    )


@router.post("/sign-out")
def sign_out(
    request: Request, services: Console = Depends(console), user: ConsoleUser | None = Depends(optional_user)
) -> Response:
    """End this browser's session, and the user's sessions everywhere: a copied cookie no longer works."""
    if user is not None:
        services.accounts.sign_out(user.id)
        audit(request, user, "sign_out")
    console_state(request).replace_session(ConsoleSession.fresh(services.clock.now()))
    return redirect_after(request, "/sign-in", translate(request, "Signed out."))


@router.post("/language")
def choose_language(
    request: Request,
    language: Annotated[Language, Form()],
    next: Annotated[str, Form()] = "/",  # noqa: A002
) -> Response:
    """Remember the chosen language in a cookie (a year) and go back to the page."""
    response = redirect_after(request, safe_next(next))
    response.set_cookie(
        LANGUAGE_COOKIE, language.value, max_age=LANGUAGE_COOKIE_SECONDS, httponly=True, samesite="strict"
    )
    return response
