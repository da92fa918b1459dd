"""The audit log (admins only): who did what to which complaint, when and from where, filtered and paged."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from lapor_sync.accounts.roles import Role
from lapor_sync.accounts.users import ConsoleUser
from lapor_sync.web.context import Console, console
from lapor_sync.web.inputs import day_end, day_start, optional_text
from lapor_sync.web.security import require
from lapor_sync.web.templating import render, translate

router = APIRouter()
api = APIRouter()
PAGE_SIZE = 50


def audit_page(
    services: Console,
    *,
    user: str | None,
    action: str | None,
    tracking_id: str | None,
    since: date | None,
    until: date | None,
    before: int | None,
) -> dict[str, Any]:
    """One page of audit entries, newest first, and the ``before`` of the next (``None`` on the last page).

    Args:
        services: the console's services.
        user: only this user's entries (blank: any).
        action: only this action, e.g. ``case.resync`` (blank: any).
        tracking_id: only this complaint's; a leading ``#`` is ignored (blank: any).
        since: the first WIB day shown, whole.
        until: the last WIB day shown, whole.
        before: the previous page's ``next_before``.
    """
    entries = services.audit.search(
        user=optional_text(user),
        action=optional_text(action),
        tracking_id=(optional_text(tracking_id) or "").lstrip("#") or None,
        since=day_start(since),
        until=day_end(until),
        before_id=before,
        limit=PAGE_SIZE + 1,
    )
    more = len(entries) > PAGE_SIZE
    entries = entries[:PAGE_SIZE]
    return {"entries": [vars(e) for e in entries], "next_before": entries[-1].id if more else None}


@router.get("/audit")
def audit_log_page(
    request: Request,
    services: Annotated[Console, Depends(console)],
    _admin: Annotated[ConsoleUser, Depends(require(Role.ADMIN))],
    user: str | None = None,
    action: str | None = None,
    tracking_id: str | None = None,
    since: Annotated[date | None, Query()] = None,
    until: Annotated[date | None, Query()] = None,
    before: int | None = None,
) -> Response:
    """The audit log with its filters."""
    filters = {"user": user, "action": action, "tracking_id": tracking_id, "since": since, "until": until}
    data = audit_page(services, before=before, **filters)
    return render(request, "audit.html", title=translate(request, "Audit log"), filters=filters, **data)


@api.get("/audit")
def audit_log_api(
    services: Annotated[Console, Depends(console)],
    _admin: Annotated[ConsoleUser, Depends(require(Role.ADMIN))],
    user: str | None = None,
    action: str | None = None,
    tracking_id: str | None = None,
    since: date | None = None,
    until: date | None = None,
    before: int | None = None,
) -> dict[str, Any]:
    """Audit entries, newest first (``at`` in UTC); pass ``next_before`` as ``before`` for the next page."""
    return audit_page(
        services, user=user, action=action, tracking_id=tracking_id, since=since, until=until, before=before
    )
