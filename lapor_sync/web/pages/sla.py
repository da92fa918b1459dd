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


def sla_now(services: Console, *, agency: str, everything: bool) -> SlaOverview:
    """``lapor-sync sla [--agency CODE] [--all]`` now (``agency`` empty: every agency).

    Raises:
        HTTPException: 422, an agency code the mapping does not have.
    """
    app = services.app
    with services.db.session() as session:
        try:
            return sla_overview(
                session,
                app.mapping,
                app.settings,
                services.clock.now(),
                agency=agency.strip() or None,
                everything=everything,
            )
        except UnknownAgency as exc:
            raise HTTPException(422, str(exc)) from None


@router.get("/sla")
def sla_page(
    request: Request, services: Services, _user: Reader, agency: AgencyFilter = "", everything: AllFilter = False
) -> Response:
    """The SLA page: one table per agency with a case overdue or due soon (or any open case, with ``all``)."""
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
    """``sla --json``: the instant, the limits, counts per status, and per agency its listed cases (UTC)."""
    return sla_now(services, agency=agency, everything=everything).as_dict()
