"""Set-aside records: complaints LAPOR! gave that could not be read or stored, with the reason; resync, assign.

Through :mod:`lapor_sync.sync.admin.set_aside` (the services ``lapor-sync resync --set-aside`` and
``case reassign`` use). Assigning an agency can become a category route of the mapping file: the
console shows the TOML to add (:func:`lapor_sync.config.mapping_rule.category_route_toml`) and never
edits the file itself: the admin adds it and runs ``lapor-sync mapping check``. The raw payload is
not shown here (it may hold a confidential complaint's text): ``lapor-sync set-aside --show-raw``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from lapor_sync.accounts.users import ConsoleUser
from lapor_sync.config.mapping_rule import RuleRefused, category_route_toml
from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.queries.set_aside import search_set_aside
from lapor_sync.reports.routing import reassignment_fields
from lapor_sync.reports.set_aside import set_aside_detail, set_aside_row
from lapor_sync.sync.admin.reassign import Reassignment
from lapor_sync.sync.admin.resync import ResyncOutcome, ResyncResult, resync_from_settings
from lapor_sync.sync.admin.set_aside import assign_agency, set_aside_selection
from lapor_sync.web.context import Console
from lapor_sync.web.inputs import Operator, Reader, Services, actor, after_action
from lapor_sync.web.security import audit
from lapor_sync.web.templating import redirect_after, render, translate

router = APIRouter()
api = APIRouter(tags=["set-aside"])


class ResyncRequest(BaseModel):
    """A resync of set-aside records through the API."""

    ids: list[int] = Field(min_length=1, max_length=200)


class AssignRequest(BaseModel):
    """An agency for a set-aside record's case through the API, and why."""

    agency_code: str = Field(min_length=1, max_length=32)
    reason: str = Field(min_length=1, max_length=500)


def set_aside_list(services: Console, *, include_resolved: bool, before: int | None) -> dict[str, Any]:
    """One page of set-aside records, newest first, with their reasons.

    Returns:
        ``rows`` (:func:`~lapor_sync.reports.set_aside.set_aside_row`, no raw payload) and ``next_before``.
    """
    with services.db.session() as session:
        page = search_set_aside(
            session, services.app.institution_id, include_resolved=include_resolved, before_id=before
        )
    return {"rows": [set_aside_row(r) for r in page.rows], "next_before": page.next_before}


def set_aside_record(services: Console, record_id: int) -> dict[str, Any]:
    """One record, and the case its complaint has become, if any (identifiers, agency and category only).

    Raises:
        HTTPException: 404, no such record in this institution.
    """
    with services.db.session() as session:
        detail = set_aside_detail(services.app.city_records(session), record_id)
    if detail is None:
        raise HTTPException(404)
    return detail


def proposed_rule(services: Console, record_id: int, agency_code: str) -> dict[str, Any]:
    """The category route that would send the complaints of this record's category to ``agency_code``.

    Returns:
        ``agency_code``, ``category_name``, ``category_id``, ``mapping_file`` (``None``: the packaged
        one is in force), and ``toml`` (the text to add) or ``refusal`` (why no rule is proposed).

    Raises:
        HTTPException: 404, no such record; 409, its complaint has no case yet (resync it first).
    """
    record = set_aside_record(services, record_id)
    case = record["case"]
    if case is None:
        raise HTTPException(409, "resync this record first: its complaint has no case yet")
    app = services.app
    proposal: dict[str, Any] = {
        "agency_code": agency_code,
        "category_name": case["category_name"],
        "category_id": case["category_id"],
        "mapping_file": str(app.settings.mapping_file) if app.settings.mapping_file else None,
    }
    try:
        toml = category_route_toml(
            app.mapping, case["category_name"] or "", agency_code, category_id=case["category_id"]
        )
    except RuleRefused as exc:
        return proposal | {"toml": None, "refusal": str(exc)}
    return proposal | {"toml": toml, "refusal": None}


def resync(request: Request, services: Console, user: ConsoleUser, ids: list[int]) -> ResyncResult:
    """Read the records' complaints again from LAPOR! in one resync run, audited as ``set_aside.resync``.

    Raises:
        LaporSyncError: the national platform is not configured, a record is unknown or has no
            complaint id, the pull lease is busy, or LAPOR! cannot be reached; the message says which.
    """
    selection = set_aside_selection(services.db, services.app.institution_id, ids)
    result = resync_from_settings(services.app, selection, requested_by=actor(user))
    detail = f"set-aside {', '.join(f'#{i}' for i in ids[:20])}; run #{result.run.id}"
    audit(request, user, "set_aside.resync", detail=detail)
    return result


def assign(
    request: Request, services: Console, user: ConsoleUser, record_id: int, agency_code: str, reason: str
) -> Reassignment:
    """Keep the record's case with ``agency_code`` (the sticky reassign of ``case reassign``), audited.

    Raises:
        LaporSyncError: no such record, no case yet, an agency the mapping lacks, no reason, or a busy lease.
    """
    done = assign_agency(
        services.app.reassigner(), record_id, agency_code, actor=actor(user), reason=reason, now=services.clock.now()
    )
    detail = f"set-aside #{record_id}: {done.previous_agency} -> {done.routing.agency_code}"
    audit(request, user, "set_aside.assign", case_id=done.case_id, tracking_id=done.tracking_id, detail=detail)
    return done


def _resync_data(result: ResyncResult) -> dict[str, Any]:
    return {"run_id": result.run.id, "outcome": result.run.outcome, "summary": result.summary()}


def _resync_notice(request: Request, result: ResyncResult) -> str:
    counts = result.summary()
    stored = sum(counts[o] for o in (ResyncOutcome.CREATED, ResyncOutcome.UPDATED, ResyncOutcome.MOVED))
    return translate(
        request,
        "Resync run #%(run)d: %(stored)d stored, %(still)d still set aside, %(missing)d not found on LAPOR!.",
        run=result.run.id,
        stored=stored + counts[ResyncOutcome.UNCHANGED],
        still=counts[ResyncOutcome.SET_ASIDE],
        missing=counts[ResyncOutcome.NOT_FOUND],
    )


# Pages


@router.get("/set-aside")
def set_aside_page(
    request: Request,
    services: Services,
    _user: Reader,
    include_resolved: Annotated[bool, Query()] = False,
    before: Annotated[int | None, Query()] = None,
) -> Response:
    """The set-aside records, unresolved (or all), with bulk resync."""
    data = set_aside_list(services, include_resolved=include_resolved, before=before)
    title = translate(request, "Set-aside records")
    return render(request, "set_aside.html", title=title, include_resolved=include_resolved, **data)


@router.get("/set-aside/{record_id}")
def set_aside_record_page(
    request: Request,
    record_id: int,
    services: Services,
    _user: Reader,
    assigned: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """One record, its case if any, and the actions: resync, assign an agency (then: make it a rule?)."""
    record = set_aside_record(services, record_id)
    title = translate(request, "Set-aside record #%(id)d", id=record_id)
    agencies = services.app.mapping.agencies
    return render(request, "set_aside_record.html", title=title, record=record, agencies=agencies, assigned=assigned)


@router.get("/set-aside/{record_id}/rule")
def rule_page(
    request: Request,
    record_id: int,
    services: Services,
    _user: Reader,
    agency_code: Annotated[str, Query(min_length=1, max_length=32)],
) -> Response:
    """The category route to add to the mapping file, for the admin to confirm and add by hand."""
    rule = proposed_rule(services, record_id, agency_code)
    title = translate(request, "A mapping rule for this category")
    return render(request, "set_aside_rule.html", title=title, record_id=record_id, rule=rule)


@router.post("/set-aside/{record_id}/resync")
def resync_page(request: Request, record_id: int, services: Services, user: Operator) -> Response:
    """Resync one record, back to its page with the run's outcome."""
    return after_action(
        request,
        f"/set-aside/{record_id}",
        lambda: resync(request, services, user, [record_id]),
        lambda result: _resync_notice(request, result),
    )


@router.post("/set-aside/bulk")
def bulk_resync_page(
    request: Request,
    services: Services,
    user: Operator,
    ids: Annotated[list[int], Form()] = [],  # noqa: B006 - FastAPI copies a form default
) -> Response:
    """Resync the selected records in one run, back to the list with its outcome counts."""
    if not ids:
        return redirect_after(request, "/set-aside", translate(request, "Select at least one row."))
    return after_action(
        request, "/set-aside", lambda: resync(request, services, user, ids), lambda r: _resync_notice(request, r)
    )


@router.post("/set-aside/{record_id}/assign")
def assign_page(
    request: Request,
    record_id: int,
    services: Services,
    user: Operator,
    agency_code: Annotated[str, Form(min_length=1, max_length=32)],
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Assign the agency, then offer the mapping rule that would do it for the whole category."""
    try:
        done = assign(request, services, user, record_id, agency_code, reason)
    except LaporSyncError as exc:
        return redirect_after(request, f"/set-aside/{record_id}", translate(request, "Not done: %(why)s", why=str(exc)))
    notice = translate(
        request,
        "Case #%(tracking)s is now with %(agency)s.",
        tracking=done.tracking_id,
        agency=done.routing.agency_code,
    )
    return redirect_after(request, f"/set-aside/{record_id}?assigned={done.routing.agency_code}", notice)


# API twins


@api.get("/set-aside")
def set_aside_api(
    services: Services,
    _user: Reader,
    include_resolved: Annotated[bool, Query()] = False,
    before: Annotated[int | None, Query()] = None,
) -> dict[str, Any]:
    """Set-aside records newest first (``before``: the previous page's ``next_before``); no raw payload."""
    return set_aside_list(services, include_resolved=include_resolved, before=before)


@api.get("/set-aside/{record_id}")
def set_aside_record_api(record_id: int, services: Services, _user: Reader) -> dict[str, Any]:
    """One record, with ``case`` (its case's ids, agency and category) or ``null``."""
    return set_aside_record(services, record_id)


@api.get("/set-aside/{record_id}/rule")
def rule_api(
    record_id: int, services: Services, _user: Reader, agency_code: Annotated[str, Query(min_length=1, max_length=32)]
) -> dict[str, Any]:
    """The category route to add to the mapping file (``toml``), or why none is proposed (``refusal``)."""
    return proposed_rule(services, record_id, agency_code)


@api.post("/set-aside/{record_id}/resync")
def resync_api(request: Request, record_id: int, services: Services, user: Operator) -> dict[str, Any]:
    """Resync one record: the run's id, outcome and counts per outcome; 409 with the reason when refused."""
    return _resync_or_409(request, services, user, [record_id])


@api.post("/set-aside/bulk")
def bulk_resync_api(request: Request, body: ResyncRequest, services: Services, user: Operator) -> dict[str, Any]:
    """Resync many records in one run (as one record's resync)."""
    return _resync_or_409(request, services, user, body.ids)


@api.post("/set-aside/{record_id}/assign")
def assign_api(
    request: Request, record_id: int, body: AssignRequest, services: Services, user: Operator
) -> dict[str, Any]:
    """Assign the agency: the case, its previous agency and where it is now; 409 with the reason when refused."""
    try:
        done = assign(request, services, user, record_id, body.agency_code, body.reason)
    except LaporSyncError as exc:
        raise HTTPException(409, str(exc)) from None
    return reassignment_fields(done)


def _resync_or_409(request: Request, services: Console, user: ConsoleUser, ids: list[int]) -> dict[str, Any]:
    try:
        return _resync_data(resync(request, services, user, ids))
    except LaporSyncError as exc:
        raise HTTPException(409, str(exc)) from None
