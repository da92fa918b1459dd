"""SLA: open cases overdue and due soon per agency, in working days, as ``lapor-sync sla`` gives them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from lapor_sync.reports.sla import SlaOverview, UnknownAgency, sla_overview
from lapor_sync.web.context import Console
from lapor_sync.web.inputs import Reader, Services
from lapor_sync.web.templating import render, translate

router = APIRouter()
api = APIRouter(tags=["sla"])

AgencyFilter = Annotated[str, Query(max_length=32)]  # empty: every agency
AllFilter = Annotated[bool, Query(alias="all")]

# Without an agency, each agency's most pressing cases only: every agency's 7,726 at 100,000
# complaints took a second to evaluate and render; its own page lists them all.
PER_AGENCY = 10


def sla_now(services: Console, *, agency: str, everything: bool) -> SlaOverview:
    """``lapor-sync sla [--agency CODE] [--all]`` now (``agency`` empty: every agency).

    Every agency's overdue and due-soon cases are cut at each agency's :data:`PER_AGENCY` most
    pressing; one agency's, or every open case (``everything``), are listed in full.

    Raises:
        HTTPException: 422, an agency code the mapping does not have.
    """
    app, code = services.app, agency.strip() or None
    per_agency = PER_AGENCY if code is None and not everything else None
    with services.db.session() as session:
        try:
            return sla_overview(
                session,
                app.mapping,
                app.settings,
                services.clock.now(),
                agency=code,
                everything=everything,
                per_agency=per_agency,
            )
        except UnknownAgency as exc:
            raise HTTPException(422, str(exc)) from None


@router.get("/sla")
def sla_page(
    request: Request, services: Services, _user: Reader, agency: AgencyFilter = "", everything: AllFilter = False
) -> Response:
    """The SLA page: one table per agency with a case overdue or due soon (or any open case, with ``all``).

    Without an agency, each table shows the agency's most pressing cases and links to its own page.
    """
    overview = sla_now(services, agency=agency, everything=everything)
    return render(
        request,
        "sla.html",
        title=translate(request, "SLA"),
        overview=overview,
        agencies=services.app.mapping.agencies,
        agency=agency,
        everything=everything,
    )


@api.get("/sla")
def sla_api(
    services: Services, _user: Reader, agency: AgencyFilter = "", everything: AllFilter = False
) -> dict[str, Any]:
    """``sla --json``: the instant, the limits, counts per status, and per agency its listed cases (UTC).

    Without an agency, also ``per_agency`` and per agency ``shown`` and ``listable`` (the cases cut).
    """
    return sla_now(services, agency=agency, everything=everything).as_dict()
