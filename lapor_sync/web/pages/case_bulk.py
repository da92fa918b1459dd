"""The case list's bulk actions: resync the selected cases in one run, or re-route each; outcomes counted per row.

The same services as one case's actions (:mod:`.case_actions`), the same audit entry per case.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from lapor_sync.accounts.roles import Role
from lapor_sync.accounts.users import ConsoleUser
from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.storage.models import Case
from lapor_sync.web.context import Console, console
from lapor_sync.web.inputs import actor
from lapor_sync.web.pages.case_actions import Refused, answer, cases_of, resync
from lapor_sync.web.security import audit, require
from lapor_sync.web.templating import translate

router = APIRouter()
api = APIRouter()

BULK_LIMIT = 200  # one page of the list at most


@router.post("/cases/bulk")
@api.post("/cases/bulk")
def bulk(
    request: Request,
    action: Annotated[Literal["resync", "reassign"], Form()],
    ids: Annotated[list[int] | None, Form(max_length=BULK_LIMIT)] = None,
    agency: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
    services: Console = Depends(console),
    user: ConsoleUser = Depends(require(Role.OPERATOR)),
) -> Response:
    """Resync the selected cases in one run, or re-route each to ``agency``; the answer counts per-row outcomes."""
    if not ids:
        return answer(request, "/cases", Refused(translate(request, "Select at least one case.")), "")
    cases = cases_of(services, ids)
    try:
        if action == "resync":
            counts = _bulk_resync(request, services, user, cases)
        else:
            counts = _bulk_reassign(request, services, user, cases, agency, reason)
    except Refused as refused:
        return answer(request, "/cases", refused, "")
    labels = _outcome_labels(request)
    summary = ", ".join(f"{n} {labels.get(outcome, outcome)}" for outcome, n in sorted(counts.items()))
    notice = translate(request, "%(count)d cases: %(summary)s.", count=len(cases), summary=summary)
    return answer(request, "/cases", {"outcomes": dict(counts)}, notice)


def _outcome_labels(request: Request) -> dict[str, str]:
    """Per-row outcomes of a bulk action in the request's language (resync's outcomes, and re-route's)."""
    return {
        "created": translate(request, "created"),
        "updated": translate(request, "updated"),
        "moved": translate(request, "moved"),
        "unchanged": translate(request, "unchanged"),
        "set aside": translate(request, "still set aside"),
        "not found": translate(request, "not found at LAPOR!"),
        "failed": translate(request, "not read (the run failed)"),
        "kept": translate(request, "already with that agency"),
        "refused": translate(request, "refused"),
    }


def _bulk_resync(request: Request, services: Console, user: ConsoleUser, cases: list[Case]) -> Counter[str]:
    """One resync run for every selected case; outcomes as the resync names them (``updated``, ``moved``...)."""
    result = resync(services, user, cases)
    for case in cases:
        audit(
            request, user, "case.resync", case_id=case.id, tracking_id=case.tracking_id, detail=f"run {result.run.id}"
        )
    counts = Counter(change.outcome.value for change in result.changes)
    if result.run.error:
        counts["failed"] = len(cases) - len(result.changes)
    return counts


def _bulk_reassign(
    request: Request, services: Console, user: ConsoleUser, cases: list[Case], agency: str, reason: str
) -> Counter[str]:
    """Re-route each case to ``agency`` (one lease for all): ``moved``, ``kept`` (already there) or ``refused``.

    Raises:
        Refused: an agency the mapping lacks, no reason, or a busy lease; no case was changed.
    """
    ids = [case.id for case in cases if case.id is not None]
    try:
        outcomes = services.app.reassigner().reassign_many(
            ids, agency, reason=reason, requested_by=actor(user), now=services.clock.now()
        )
    except LaporSyncError as exc:
        raise Refused(str(exc)) from None
    counts: Counter[str] = Counter()
    for case, done in zip(cases, outcomes, strict=True):
        if isinstance(done, LaporSyncError):
            counts["refused"] += 1
            continue
        counts["moved" if done.previous_agency != done.routing.agency_code else "kept"] += 1
        audit(request, user, "case.reassign", case_id=case.id, tracking_id=case.tracking_id, detail=f"to {agency}")
    return counts
