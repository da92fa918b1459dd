"""The outbox: rows owed to LAPOR!, dead letters with their last error, each row's attempts; retry and cancel.

Reads for viewers, actions for operators, through :mod:`lapor_sync.sync.admin.outbox` (the same
services as ``lapor-sync outbox retry|cancel``). No follow-up text is shown: it may be confidential.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from lapor_sync.accounts.users import ConsoleUser
from lapor_sync.domain.outbox import OutboxState
from lapor_sync.queries.outbox import search_outbox
from lapor_sync.reports.outbox import attempt_row, outbox_row
from lapor_sync.storage.models import OutboxItem
from lapor_sync.sync.admin import outbox as outbox_admin
from lapor_sync.sync.admin.outbox import BulkOutcome, OutboxRefused
from lapor_sync.web.context import Console
from lapor_sync.web.inputs import Blank, Operator, Reader, Services, actor, after_action, bulk_notice
from lapor_sync.web.security import audit
from lapor_sync.web.templating import redirect_after, render, translate

router = APIRouter()
api = APIRouter(tags=["outbox"])


class BulkAction(StrEnum):
    """What a bulk action does to each selected row."""

    RETRY = "retry"
    CANCEL = "cancel"


class CancelRequest(BaseModel):
    """A cancel through the API: why (kept on the row and in the log; phone numbers and e-mails masked)."""

    reason: str = Field(min_length=1, max_length=500)


class OutboxFilters(BaseModel):
    """The outbox list's query parameters; a filter left empty matches every row (but the delivered ones)."""

    state: Annotated[OutboxState | None, Blank] = None
    kind: str | None = Field(default=None, max_length=32)
    tracking_id: str | None = Field(default=None, max_length=32)
    before: int | None = None


class BulkRequest(BaseModel):
    """A bulk retry or cancel through the API."""

    ids: list[int] = Field(min_length=1, max_length=200)
    action: BulkAction
    reason: str | None = Field(default=None, max_length=500)


def outbox_list(services: Console, wanted: OutboxFilters) -> dict[str, Any]:
    """One page of outbox rows, newest first; without a state filter every row not delivered.

    Returns:
        ``rows`` (:func:`~lapor_sync.reports.outbox.outbox_row`, no payload) and ``next_before``.
    """
    with services.db.session() as session:
        page = search_outbox(
            session,
            services.app.institution_id,
            state=wanted.state,
            undelivered=True,
            kind=wanted.kind,
            tracking_id=wanted.tracking_id,
            before_id=wanted.before,
        )
    return {"rows": [outbox_row(row) for row in page.rows], "next_before": page.next_before}


def outbox_item(services: Console, item_id: int) -> dict[str, Any]:
    """One outbox row and its delivery attempts, oldest first (errors as stored: masked).

    Raises:
        HTTPException: 404, no such row in this institution's outbox.
    """
    try:
        row, attempts = outbox_admin.attempts(services.db, services.app.institution_id, item_id)
    except OutboxRefused:
        raise HTTPException(404) from None
    return outbox_row(row) | {"attempt_history": [attempt_row(a) for a in attempts]}


def retry(request: Request, services: Console, user: ConsoleUser, item_id: int) -> OutboxItem:
    """Requeue one row (``lapor-sync outbox retry ID``), audited as ``outbox.retry``.

    Raises:
        OutboxRefused: unknown row, or its state forbids it; the message says why.
    """
    [row] = outbox_admin.requeue(
        services.db, services.clock.now(), services.app.institution_id, item_id=item_id, requested_by=actor(user)
    )
    audit(request, user, "outbox.retry", case_id=row.case_id, tracking_id=row.tracking_id, detail=f"outbox #{row.id}")
    return row


def cancel(request: Request, services: Console, user: ConsoleUser, item_id: int, reason: str) -> OutboxItem:
    """Cancel one row (``lapor-sync outbox cancel ID --reason``), audited as ``outbox.cancel``.

    The reason goes on the row (masked by the service), not in the audit entry: it is free text.

    Raises:
        OutboxRefused: unknown row, its state forbids it, or no reason.
    """
    row = outbox_admin.cancel(
        services.db, services.clock.now(), services.app.institution_id, item_id, reason=reason, requested_by=actor(user)
    )
    audit(request, user, "outbox.cancel", case_id=row.case_id, tracking_id=row.tracking_id, detail=f"outbox #{row.id}")
    return row


def bulk(
    request: Request, services: Console, user: ConsoleUser, ids: list[int], action: BulkAction, reason: str | None
) -> list[BulkOutcome]:
    """Retry or cancel each of ``ids``, each on its own; every row done is audited like a single action.

    Raises:
        OutboxRefused: a cancel without a reason (nothing is done).
    """
    now, institution = services.clock.now(), services.app.institution_id
    if action is BulkAction.RETRY:
        outcomes = outbox_admin.requeue_many(services.db, now, institution, ids, requested_by=actor(user))
    else:
        outcomes = outbox_admin.cancel_many(
            services.db, now, institution, ids, reason=reason or "", requested_by=actor(user)
        )
    for outcome in outcomes:
        if outcome.row is not None:
            row = outcome.row
            detail = f"outbox #{row.id} (bulk)"
            audit(
                request, user, f"outbox.{action.value}", case_id=row.case_id, tracking_id=row.tracking_id, detail=detail
            )
    return outcomes


def _outcome_data(outcome: BulkOutcome) -> dict[str, Any]:
    return {
        "item_id": outcome.item_id,
        "done": outcome.done,
        "row": outbox_row(outcome.row) if outcome.row else None,
        "refusal": outcome.refusal,
    }


# Pages


@router.get("/outbox")
def outbox_page(
    request: Request, services: Services, _user: Reader, wanted: Annotated[OutboxFilters, Query()]
) -> Response:
    """The outbox list with its filters and bulk actions."""
    data = outbox_list(services, wanted)
    title = translate(request, "Outbox")
    return render(request, "outbox.html", title=title, states=list(OutboxState), filters=wanted, **data)


@router.get("/outbox/{item_id}")
def outbox_item_page(request: Request, item_id: int, services: Services, _user: Reader) -> Response:
    """One outbox row, its attempts, and its actions."""
    item = outbox_item(services, item_id)
    title = translate(request, "Outbox row #%(id)d", id=item_id)
    return render(request, "outbox_item.html", title=title, item=item)


@router.post("/outbox/{item_id}/retry")
def retry_page(request: Request, item_id: int, services: Services, user: Operator) -> Response:
    """Requeue one row, back to its page with what happened."""
    return after_action(
        request,
        f"/outbox/{item_id}",
        lambda: retry(request, services, user, item_id),
        lambda _row: translate(request, "Back in the queue: the next push sends it."),
    )


@router.post("/outbox/{item_id}/cancel")
def cancel_page(
    request: Request,
    item_id: int,
    services: Services,
    user: Operator,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Cancel one row, back to its page with what happened."""
    return after_action(
        request,
        f"/outbox/{item_id}",
        lambda: cancel(request, services, user, item_id, reason),
        lambda _row: translate(request, "Cancelled: it will not be sent to LAPOR!."),
    )


@router.post("/outbox/bulk")
def bulk_page(
    request: Request,
    services: Services,
    user: Operator,
    action: Annotated[BulkAction, Form()],
    ids: Annotated[list[int], Form()] = [],  # noqa: B006 - FastAPI copies a form default
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Retry or cancel the selected rows, back to the list with the count of each outcome."""
    if not ids:
        return redirect_after(request, "/outbox", translate(request, "Select at least one row."))
    return after_action(
        request, "/outbox", lambda: bulk(request, services, user, ids, action, reason), _notice(request)
    )


def _notice(request: Request) -> Callable[[list[BulkOutcome]], str]:
    def notice(outcomes: list[BulkOutcome]) -> str:
        refused = [o.item_id for o in outcomes if not o.done]
        return bulk_notice(request, len(outcomes) - len(refused), refused)

    return notice


# API twins


@api.get("/outbox")
def outbox_api(services: Services, _user: Reader, wanted: Annotated[OutboxFilters, Query()]) -> dict[str, Any]:
    """Outbox rows newest first (``before``: the previous page's ``next_before``); no payload."""
    return outbox_list(services, wanted)


@api.get("/outbox/{item_id}")
def outbox_item_api(item_id: int, services: Services, _user: Reader) -> dict[str, Any]:
    """One outbox row with ``attempt_history``."""
    return outbox_item(services, item_id)


@api.post("/outbox/{item_id}/retry")
def retry_api(request: Request, item_id: int, services: Services, user: Operator) -> dict[str, Any]:
    """Requeue one row; 409 with the reason when its state forbids it."""
    try:
        return outbox_row(retry(request, services, user, item_id))
    except OutboxRefused as exc:
        raise HTTPException(409, str(exc)) from None


@api.post("/outbox/{item_id}/cancel")
def cancel_api(
    request: Request, item_id: int, body: CancelRequest, services: Services, user: Operator
) -> dict[str, Any]:
    """Cancel one row; 409 with the reason when its state forbids it."""
    try:
        return outbox_row(cancel(request, services, user, item_id, body.reason))
    except OutboxRefused as exc:
        raise HTTPException(409, str(exc)) from None


@api.post("/outbox/bulk")
def bulk_api(request: Request, body: BulkRequest, services: Services, user: Operator) -> list[dict[str, Any]]:
    """Retry or cancel many rows: one outcome per id (``done``, ``row`` or ``refusal``)."""
    try:
        outcomes = bulk(request, services, user, body.ids, body.action, body.reason)
    except OutboxRefused as exc:
        raise HTTPException(422, str(exc)) from None
    return [_outcome_data(o) for o in outcomes]
