"""The dashboard: health as ``lapor-sync status`` gives it (the dashboard helper adds charts)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from lapor_sync.accounts.roles import Role
from lapor_sync.accounts.users import ConsoleUser
from lapor_sync.reports.health import assess
from lapor_sync.web.context import Console, console
from lapor_sync.web.security import require
from lapor_sync.web.templating import render, translate

router = APIRouter()
api = APIRouter()


def health(services: Console) -> dict[str, Any]:
    """``status``'s report: the verdict, its reasons and the facts behind them (ages in seconds, times UTC)."""
    app = services.app
    report = assess(services.db, app.mapping, app.settings, services.clock)
    return report.as_dict()


@router.get("/")
def dashboard_page(
    request: Request, services: Console = Depends(console), _user: ConsoleUser = Depends(require(Role.VIEWER))
) -> Response:
    """The dashboard page."""
    return render(request, "dashboard.html", title=translate(request, "Dashboard"), health=health(services))


@api.get("/dashboard")
def dashboard_api(services: Console = Depends(console), _user: ConsoleUser = Depends(require(Role.VIEWER))) -> dict:
    """The dashboard's data: ``status --json``'s report."""
    return health(services)
