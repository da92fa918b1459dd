"""The dashboard: health as ``lapor-sync status`` gives it, and the last thirty days in charts."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from lapor_sync.accounts.roles import Role
from lapor_sync.accounts.users import ConsoleUser
from lapor_sync.queries.daily import daily_series
from lapor_sync.reports.health import assess
from lapor_sync.web.charts import column_chart, row_chart
from lapor_sync.web.context import Console, console
from lapor_sync.web.security import require
from lapor_sync.web.templating import render, translate

router = APIRouter()
api = APIRouter()

DAYS = 30
"""How many WIB days the charts cover, today included."""


def dashboard(services: Console) -> dict[str, Any]:
    """``status``'s report (verdict, reasons, facts) and the daily series of the last :data:`DAYS` days.

    Returns:
        ``status --json``'s keys (ages in seconds, times aware UTC), plus ``series``: ``days`` (WIB
        dates, oldest first), ``pulled``, ``pushed``, ``backlog`` (one number per day) and
        ``overdue_by_agency`` (agency code → open cases overdue now).
    """
    app, now = services.app, services.clock.now()
    report = assess(services.db, app.mapping, app.settings, services.clock)
    with services.db.session() as session:
        series = daily_series(session, app.institution_id, now=now, days=DAYS)
    # Health counted the overdue cases per agency already (``status``'s sla_overdue_by_agency).
    overdue = report.facts["sla_overdue_by_agency"]
    return {**report.as_dict(), "series": {**asdict(series), "overdue_by_agency": overdue}}


def _charts(series: dict[str, Any]) -> dict[str, Any]:
    """The series drawn (:mod:`lapor_sync.web.charts`): columns per day, the backlog's line, rows per agency."""
    days = [f"{day:%d}" for day in series["days"]]
    overdue = series["overdue_by_agency"]
    return {
        "pulled": column_chart(days, series["pulled"]),
        "pushed": column_chart(days, series["pushed"]),
        "backlog": column_chart(days, series["backlog"], line=True),
        "overdue": row_chart(list(overdue), list(overdue.values())),
    }


@router.get("/")
def dashboard_page(
    request: Request, services: Console = Depends(console), _user: ConsoleUser = Depends(require(Role.VIEWER))
) -> Response:
    """The dashboard page: the verdict, the facts behind it (each linked to its page) and the charts."""
    found = dashboard(services)
    return render(
        request, "dashboard.html", title=translate(request, "Dashboard"), health=found, drawn=_charts(found["series"])
    )


@api.get("/dashboard")
def dashboard_api(services: Console = Depends(console), _user: ConsoleUser = Depends(require(Role.VIEWER))) -> dict:
    """The dashboard's data: ``status --json``'s report and the daily series (see :func:`dashboard`)."""
    return dashboard(services)
