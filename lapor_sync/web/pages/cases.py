"""Cases: the search and one case's page (national data, thread, SLA clock, routing, outbox rows, sync events).

Privacy as ``lapor-sync case show`` keeps it, decided by :func:`~lapor_sync.reports.case_detail.case_detail`:
the reporter's identity only after an explicit, audited "show reporter" (operators and admins, never
for an anonymous complaint); a confidential (rahasia) complaint's title, content and thread only to
the roles the mapping's ``[privacy] confidential_roles`` names, after an explicit, audited "show
confidential content". Listings never show a confidential complaint's title.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, field_validator
from sqlmodel import Session

from lapor_sync.accounts.roles import Role
from lapor_sync.accounts.users import ConsoleUser
from lapor_sync.domain.sla import Deadline, SlaResult
from lapor_sync.domain.status import CaseState
from lapor_sync.queries.cases import CaseFilter, search_cases
from lapor_sync.queries.page import DEFAULT_LIMIT, MAX_LIMIT
from lapor_sync.reports.case_detail import CaseDetail, case_detail
from lapor_sync.reports.routing import override_fields
from lapor_sync.storage.models import Case
from lapor_sync.sync.admin.masters import stored_templates, tables_exist
from lapor_sync.web.context import Console, console
from lapor_sync.web.inputs import none_if_blank
from lapor_sync.web.security import audit, require
from lapor_sync.web.templating import redirect_after, render, translate

router = APIRouter()
api = APIRouter()

REPORTER_ROLE = Role.OPERATOR
"""The least role that may reveal a reporter's name and contact (as ``case show --show-reporter`` does)."""


class CaseRow(BaseModel):
    """One case in the list: no reporter, and no title for a confidential complaint."""

    id: int
    tracking_id: str
    agency_code: str
    state: str
    national_status_name: str
    category_name: str | None
    is_secret: bool
    is_anonymous: bool
    dispositioned_at: datetime
    title: str | None


class CaseList(BaseModel):
    """One page of the case search; pass ``next_before`` as ``before`` for the next (older) page."""

    rows: list[CaseRow]
    next_before: int | None


class CaseSearch(BaseModel):
    """The search form's fields, as typed (every one optional)."""

    tracking_id: str | None = Field(default=None, max_length=40)
    text: str | None = Field(default=None, max_length=200)
    agency: str | None = Field(default=None, max_length=32)
    state: CaseState | None = None
    open_only: bool | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        """A field the form sent empty ("any") filters nothing."""
        return none_if_blank(value)

    def as_filter(self, *, include_confidential: bool) -> CaseFilter:
        """The read model's filter for these fields."""
        return CaseFilter(
            tracking_id=self.tracking_id or None,
            text=self.text or None,
            agency_code=self.agency or None,
            state=self.state,
            open_only=bool(self.open_only),
            include_confidential=include_confidential,
        )


def may_read_confidential(services: Console, user: ConsoleUser) -> bool:
    """Whether ``user``'s role is one the mapping allows to open confidential content (default admin alone)."""
    return services.app.mapping.privacy.may_read_confidential(user.role.value)


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def find_cases(
    services: Console, user: ConsoleUser, wanted: CaseSearch, before: int | None, limit: int = DEFAULT_LIMIT
) -> CaseList:
    """One page of at most ``limit`` of the institution's cases matching ``wanted``, newest first.

    Words are looked for in titles and contents, never in reporters' fields; in confidential
    complaints only for the roles allowed to read them.
    """
    with services.db.session() as session:
        page = search_cases(
            session,
            services.app.institution_id,
            wanted.as_filter(include_confidential=may_read_confidential(services, user)),
            before_id=before,
            limit=limit,
        )
    return CaseList(rows=[_row(case) for case in page.rows], next_before=page.next_before)


def _row(case: Case) -> CaseRow:
    assert case.id is not None  # a stored case
    return CaseRow(
        id=case.id,
        tracking_id=case.tracking_id,
        agency_code=case.agency_code,
        state=case.state,
        national_status_name=case.national_status_name,
        category_name=case.category_name,
        is_secret=case.is_secret,
        is_anonymous=case.is_anonymous,
        dispositioned_at=case.dispositioned_at,
        title=None if case.is_secret else case.title,
    )


def exact_match(wanted: CaseSearch, found: CaseList) -> int | None:
    """The id of the one case whose whole tracking id was typed, when it is the only one found."""
    number = (wanted.tracking_id or "").strip().lstrip("#")
    if number and len(found.rows) == 1 and found.rows[0].tracking_id == number:
        return found.rows[0].id
    return None


@router.get("/cases")
def cases_page(
    request: Request,
    wanted: Annotated[CaseSearch, Query()],
    before: int | None = None,
    limit: Limit = DEFAULT_LIMIT,
    services: Console = Depends(console),
    user: ConsoleUser = Depends(require(Role.VIEWER)),
) -> Response:
    """The case search; a whole tracking id that names one case opens it."""
    found = find_cases(services, user, wanted, before, limit)
    if (case_id := exact_match(wanted, found)) is not None and before is None:
        return redirect_after(request, f"/cases/{case_id}")
    return render(
        request,
        "cases.html",
        title=translate(request, "Cases"),
        found=found,
        wanted=wanted,
        agencies=services.app.mapping.agencies,
        states=list(CaseState),
        limit=limit,
    )


@api.get("/cases")
def cases_api(
    wanted: Annotated[CaseSearch, Query()],
    before: int | None = None,
    limit: Limit = DEFAULT_LIMIT,
    services: Console = Depends(console),
    user: ConsoleUser = Depends(require(Role.VIEWER)),
) -> CaseList:
    """The case search: cases newest first by id; ``next_before`` pages on."""
    return find_cases(services, user, wanted, before, limit)


def stored_case(session: Session, services: Console, case_id: int) -> Case:
    """The institution's case ``case_id``.

    Raises:
        HTTPException: 404, no such case here.
    """
    case = session.get(Case, case_id)
    if case is None or case.institution_id != services.app.institution_id:
        raise HTTPException(404)
    return case


def open_case(
    request: Request, services: Console, user: ConsoleUser, case_id: int, *, reporter: bool, confidential: bool
) -> dict[str, Any]:
    """One case as ``user`` may read it; revealing the reporter or confidential content is checked and audited.

    Args:
        request: the request (its address goes into the audit log).
        services: the console's services.
        user: who reads.
        case_id: the case.
        reporter: show the reporter's name and contact (operator and above; never for an anonymous complaint).
        confidential: show a confidential complaint's texts (roles of ``[privacy] confidential_roles``).

    Returns:
        ``case`` (fields), ``override``, ``reporter`` (or ``None``), ``thread``, ``outbox``, ``sla``,
        ``routing``, ``events``, ``templates`` (reply template codes and names for a follow-up) and
        ``may`` (what ``user`` may reveal): instants aware UTC.

    Raises:
        HTTPException: 404 no such case; 403 the role may not reveal what was asked.
    """
    may = {
        "read_confidential": may_read_confidential(services, user),
        "show_reporter": user.role.at_least(REPORTER_ROLE),
    }
    if (confidential and not may["read_confidential"]) or (reporter and not may["show_reporter"]):
        raise HTTPException(403, translate(request, "Your role may not open this."))
    with services.db.session() as session:
        case = stored_case(session, services, case_id)
        detail = case_detail(services.app, session, case, show_reporter=reporter, show_confidential=confidential)
        templates = _templates(session, services.app.institution_id)
    if confidential and (case.is_secret or any(entry["is_secret"] for entry in detail.thread)):
        audit(request, user, "case.open_confidential", case_id=case_id, tracking_id=case.tracking_id)
    if reporter and detail.reporter is not None:
        audit(request, user, "case.show_reporter", case_id=case_id, tracking_id=case.tracking_id)
    return _as_data(detail) | {"templates": templates, "may": may}


def _templates(session: Session, institution_id: int) -> list[dict[str, str]]:
    """The stored reply templates LAPOR! still lists, for the follow-up form."""
    if not tables_exist(session.connection()):
        return []
    return [{"code": t.code, "name": t.name} for t in stored_templates(session, institution_id) if t.gone_at is None]


def _as_data(detail: CaseDetail) -> dict[str, Any]:
    """The detail as plain data for the template and the JSON answer."""
    return {
        "case": detail.fields,
        "override": override_fields(detail.override),
        "reporter": detail.reporter,
        "thread": detail.thread,
        "outbox": detail.outbox,
        "sla": _sla(detail.sla, detail.sla_days_left),
        "routing": detail.routing,
        "events": [
            {"id": e.id, "at": e.at, "run_id": e.run_id, "kind": e.kind, "level": e.level, "message": e.message}
            for e in detail.events
        ],
    }


def _sla(sla: SlaResult, days_left: dict[str, int]) -> dict[str, Any]:
    def deadline(d: Deadline | None) -> dict[str, Any] | None:
        return None if d is None else asdict(d) | {"working_days_left": days_left.get(d.kind.value)}

    return {"status": sla.status.value, "followup": deadline(sla.followup), "auto_close": deadline(sla.auto_close)}


@router.get("/cases/{case_id}")
def case_page(
    request: Request,
    case_id: int,
    show_reporter: bool = False,
    show_confidential: bool = False,
    run: int | None = None,
    services: Console = Depends(console),
    user: ConsoleUser = Depends(require(Role.VIEWER)),
) -> Response:
    """One case; ``show_reporter`` / ``show_confidential`` are the page's explicit, audited buttons.

    ``run`` is the resync run just started from this page: the page links it. A closed case offers
    no agency action (the service would refuse each one: :func:`lapor_sync.domain.actions.check_action`).
    """
    data = open_case(request, services, user, case_id, reporter=show_reporter, confidential=show_confidential)
    fields = data["case"]
    return render(
        request,
        "case.html",
        title=translate(request, "Case #%(tracking_id)s", tracking_id=fields["tracking_id"]),
        detail=data,
        agencies=services.app.mapping.agencies,
        outside=services.app.mapping.outside_institutions,
        case_open=CaseState(fields["state"]).is_open,
        resync_run=run,
    )


@api.get("/cases/{case_id}")
def case_api(
    request: Request,
    case_id: int,
    show_reporter: bool = False,
    show_confidential: bool = False,
    services: Console = Depends(console),
    user: ConsoleUser = Depends(require(Role.VIEWER)),
) -> dict[str, Any]:
    """One case (see the page); revealing the reporter or confidential content is audited."""
    return open_case(request, services, user, case_id, reporter=show_reporter, confidential=show_confidential)
