"""What operators do to cases: resync now, re-route (and clear the override), follow-up, complete, return, forward; in bulk too.

Each action is the CLI's service (:func:`~lapor_sync.sync.admin.resync.resync_from_settings`,
:class:`~lapor_sync.sync.admin.reassign.Reassigner`, :func:`~lapor_sync.sync.admin.case_actions.act_on_case`)
called with the console user as the actor, then audited. A service's refusal (a closed case, an agency
the mapping lacks, LAPOR! not configured, a busy lease) comes back as a notice on the page, or as 409
with ``error`` from the API; never as a server error. The list's bulk actions: :mod:`.case_bulk`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from lapor_sync.accounts.roles import Role
from lapor_sync.accounts.users import ConsoleUser
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.reports.routing import reassignment_fields
from lapor_sync.storage.models import Case
from lapor_sync.sync.admin.case_actions import act_on_case
from lapor_sync.sync.admin.reassign import Reassignment
from lapor_sync.sync.admin.resync import ResyncResult, resync_from_settings
from lapor_sync.sync.admin.selection import Selection
from lapor_sync.web.context import Console, console
from lapor_sync.web.inputs import actor
from lapor_sync.web.pages.cases import stored_case
from lapor_sync.web.security import audit, require
from lapor_sync.web.templating import is_api, redirect_after, translate

router = APIRouter()
api = APIRouter()

Text = Annotated[str, Form(max_length=4000)]
Reason = Annotated[str, Form(max_length=500)]


class Refused(Exception):
    """A service refused an action; ``reason`` is its one-line message (no personal data, no content)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def cases_of(services: Console, case_ids: list[int]) -> list[Case]:
    """The institution's cases among ``case_ids``, in the order given.

    Raises:
        HTTPException: 404, an id names no case here.
    """
    with services.db.session() as session:
        return [stored_case(session, services, case_id) for case_id in dict.fromkeys(case_ids)]


def resync(services: Console, user: ConsoleUser, cases: list[Case]) -> ResyncResult:
    """Re-read ``cases`` from LAPOR! in one resync run (as ``lapor-sync resync --complaint-id``).

    Raises:
        Refused: LAPOR! is not configured, or a pull holds the lease.
    """
    selection = Selection(complaint_ids=tuple(case.complaint_id for case in cases))
    try:
        return resync_from_settings(services.app, selection, requested_by=actor(user))
    except LaporSyncError as exc:
        raise Refused(str(exc)) from None


def reassign(services: Console, user: ConsoleUser, case_id: int, agency: str | None, reason: str) -> Reassignment:
    """Keep the case with ``agency`` (``None``: clear the override), as ``lapor-sync case reassign``.

    Raises:
        Refused: an agency the mapping lacks, no reason, no override to clear, a busy lease.
    """
    reassigner, now = services.app.reassigner(), services.clock.now()
    try:
        if agency is None:
            return reassigner.clear(case_id, reason=reason, requested_by=actor(user), now=now)
        return reassigner.reassign(case_id, agency, reason=reason, requested_by=actor(user), now=now)
    except LaporSyncError as exc:
        raise Refused(str(exc)) from None


def act(services: Console, case_id: int, action: AgencyAction, text: str, **options: Any) -> dict[str, Any]:
    """Apply a follow-up, completion, return or forward and queue it for LAPOR! (``act_on_case``).

    Raises:
        Refused: the case's state or the national rules forbid it, empty text, an unusable template
            or forward target.
    """
    try:
        done = act_on_case(services.app, str(case_id), action, text, **options)
    except LaporSyncError as exc:
        raise Refused(str(exc)) from None
    return {
        "outbox_id": done.outbox_id,
        "action": done.action.value,
        "waits_for_approval": done.waits_for_approval,
        "case_state": done.case_state,
        "warning": done.warning,
    }


def answer(request: Request, back_to: str, outcome: dict[str, Any] | Refused, notice: str) -> Response:
    """The page's 303 to ``back_to`` with ``notice`` (or the refusal), or the API's JSON (409 when refused)."""
    if isinstance(outcome, Refused):
        if is_api(request):
            return JSONResponse({"error": outcome.reason}, status_code=409)
        notice = translate(request, "Not done: %(reason)s", reason=outcome.reason)
    elif is_api(request):
        return JSONResponse(jsonable_encoder(outcome))  # instants (an override's set_at) as ISO 8601
    return redirect_after(request, back_to, notice)


@router.post("/cases/{case_id}/resync")
@api.post("/cases/{case_id}/resync")
def resync_case(
    request: Request,
    case_id: int,
    services: Console = Depends(console),
    user: ConsoleUser = Depends(require(Role.OPERATOR)),
) -> Response:
    """Re-read the case from LAPOR! now; the notice links the new run."""
    case = cases_of(services, [case_id])[0]
    try:
        result = resync(services, user, [case])
    except Refused as refused:
        return answer(request, f"/cases/{case_id}", refused, "")
    run = result.run
    audit(request, user, "case.resync", case_id=case_id, tracking_id=case.tracking_id, detail=f"run {run.id}")
    outcome = {"run_id": run.id, "outcome": run.outcome, "changes": [c.outcome.value for c in result.changes]}
    if run.error:
        notice = translate(request, "Resync run %(run)s failed: %(error)s", run=run.id, error=run.error)
    else:
        notice = translate(request, "Resync done in run %(run)s.", run=run.id)
    return answer(request, f"/cases/{case_id}?run={run.id}", outcome, notice)


@router.post("/cases/{case_id}/reassign")
@api.post("/cases/{case_id}/reassign")
def reassign_case(
    request: Request,
    case_id: int,
    reason: Reason,
    agency: Annotated[str | None, Form(max_length=32)] = None,
    clear: Annotated[bool, Form()] = False,
    services: Console = Depends(console),
    user: ConsoleUser = Depends(require(Role.OPERATOR)),
) -> Response:
    """Re-route the case to ``agency`` and keep it there (or, with ``clear``, back to the mapping's routing)."""
    case = cases_of(services, [case_id])[0]
    try:
        done = reassign(services, user, case_id, None if clear else agency or "", reason)
    except Refused as refused:
        return answer(request, f"/cases/{case_id}", refused, "")
    verb = "case.reassign_clear" if clear else "case.reassign"
    agency_code = done.routing.agency_code
    audit(request, user, verb, case_id=case_id, tracking_id=case.tracking_id, detail=f"to {agency_code}")
    outcome = reassignment_fields(done)
    if clear:
        notice = translate(request, "Override cleared: the case is with %(agency)s.", agency=agency_code)
    else:
        notice = translate(request, "The case is now kept with %(agency)s.", agency=agency_code)
    return answer(request, f"/cases/{case_id}", outcome, notice)


@router.post("/cases/{case_id}/followup")
@api.post("/cases/{case_id}/followup")
def followup_case(
    request: Request,
    case_id: int,
    text: Annotated[str, Form(max_length=4000)] = "",
    template: Annotated[str | None, Form(max_length=64)] = None,
    services: Console = Depends(console),
    user: ConsoleUser = Depends(require(Role.OPERATOR)),
) -> Response:
    """Add a follow-up (from a reply template, when one is chosen); it leaves with the next push."""
    return _act(request, services, user, case_id, AgencyAction.FOLLOWUP, text, template=template or None)


@router.post("/cases/{case_id}/complete")
@api.post("/cases/{case_id}/complete")
def complete_case(
    request: Request,
    case_id: int,
    text: Text,
    services: Console = Depends(console),
    user: ConsoleUser = Depends(require(Role.OPERATOR)),
) -> Response:
    """Complete the case (Selesai) with a closing note."""
    return _act(request, services, user, case_id, AgencyAction.COMPLETE, text)


@router.post("/cases/{case_id}/return")
@api.post("/cases/{case_id}/return")
def return_case(
    request: Request,
    case_id: int,
    text: Text,
    services: Console = Depends(console),
    user: ConsoleUser = Depends(require(Role.OPERATOR)),
) -> Response:
    """Ask LAPOR! to return the complaint to the reporter (data dukung kurang); an admin there decides."""
    return _act(request, services, user, case_id, AgencyAction.RETURN, text)


@router.post("/cases/{case_id}/forward")
@api.post("/cases/{case_id}/forward")
def forward_case(
    request: Request,
    case_id: int,
    text: Text,
    institution: Annotated[int, Form(ge=1)],
    services: Console = Depends(console),
    user: ConsoleUser = Depends(require(Role.OPERATOR)),
) -> Response:
    """Ask LAPOR! to forward the complaint to another institution (bukan wewenang); an admin there decides."""
    return _act(request, services, user, case_id, AgencyAction.FORWARD, text, target_institution_id=institution)


def _act(
    request: Request,
    services: Console,
    user: ConsoleUser,
    case_id: int,
    action: AgencyAction,
    text: str,
    **options: Any,
) -> Response:
    """Run one agency action, audit it, and answer (see :func:`answer`)."""
    case = cases_of(services, [case_id])[0]
    try:
        outcome = act(services, case_id, action, text, **options)
    except Refused as refused:
        return answer(request, f"/cases/{case_id}", refused, "")
    audit(
        request,
        user,
        f"case.{action.value}",
        case_id=case_id,
        tracking_id=case.tracking_id,
        detail=f"outbox {outcome['outbox_id']}",
    )
    if outcome["waits_for_approval"]:
        notice = translate(request, "Request queued for LAPOR!; a LAPOR! admin decides on it.")
    else:
        notice = translate(request, "Queued for LAPOR!: it leaves with the next push.")
    return answer(request, f"/cases/{case_id}", outcome, notice)
