"""What the pages share in reading requests and answering them: who may, empty filters, WIB days, the actor's name, notices."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Annotated, TypeVar

from fastapi import Depends
from pydantic import BeforeValidator
from starlette.requests import Request
from starlette.responses import RedirectResponse

from lapor_sync.accounts.roles import Role
from lapor_sync.accounts.users import ConsoleUser
from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.domain.timezones import wib_midnight
from lapor_sync.web.context import Console, console
from lapor_sync.web.security import require
from lapor_sync.web.templating import redirect_after, refusal, translate

T = TypeVar("T")

Reader = Annotated[ConsoleUser, Depends(require(Role.VIEWER))]
"""A route's parameter for the user, who must be a viewer or above (reads)."""
Operator = Annotated[ConsoleUser, Depends(require(Role.OPERATOR))]
"""A route's parameter for the user, who must be an operator or above (actions on the sync)."""
Services = Annotated[Console, Depends(console)]
"""A route's parameter for the console's services."""


def none_if_blank(value: object) -> object:
    """``None`` for a blank string (a filter form's "all" choice), anything else as it is."""
    return None if isinstance(value, str) and not value.strip() else value


Blank = BeforeValidator(none_if_blank)
"""Put on a query parameter: a filter form's "all" choice sends it empty, which means no filter."""


def optional_text(value: str | None) -> str | None:
    """``value`` stripped, or ``None`` when blank (an empty filter field means "any")."""
    return (value or "").strip() or None


def day_start(day: date | None) -> datetime | None:
    """The first instant of WIB ``day`` (aware), or ``None``: a filter's inclusive lower bound."""
    return None if day is None else wib_midnight(day)


def day_end(day: date | None) -> datetime | None:
    """The first instant after WIB ``day`` (aware), or ``None``: a filter's exclusive upper bound."""
    return None if day is None else wib_midnight(day + timedelta(days=1))


def actor(user: ConsoleUser) -> str:
    """The name the services record for an action ``user`` takes in the console (``ani (console)``)."""
    return f"{user.name} (console)"


def bulk_notice(request: Request, done: int, refused: Sequence[int]) -> str:
    """The notice after a bulk action: how many rows were done, and which were refused (by id, a few).

    Args:
        request: the request (its language).
        done: how many rows the action was done to.
        refused: the ids of the rows it was refused for.
    """
    text = translate(request, "Done for %(done)d rows; refused for %(refused)d.", done=done, refused=len(refused))
    if refused:
        shown = ", ".join(f"#{i}" for i in refused[:10]) + (" …" if len(refused) > 10 else "")
        text += " " + translate(request, "Refused: %(ids)s (open each row to see why).", ids=shown)
    return text


def after_action(request: Request, path: str, act: Callable[[], T], notice: Callable[[T], str]) -> RedirectResponse:
    """Run a page's action and answer with a redirect to ``path`` that says what came of it.

    Args:
        request: the form's request.
        path: where to go next (the record's page, or the list).
        act: the action (a service call, audited by its caller).
        notice: the words for its result, in the request's language.

    Returns:
        The redirect, with ``notice(result)``; or, when a service refused (:class:`LaporSyncError`:
        an unknown row, a state that forbids it, a busy lease), with "Not done:" and its reason.
    """
    try:
        result = act()
    except LaporSyncError as exc:
        return redirect_after(request, path, translate(request, "Not done: %(why)s", why=refusal(request, exc)))
    return redirect_after(request, path, notice(result))
