"""Settings: ``lapor-sync config show`` as a page, every value masked exactly as the command masks it.

Viewers may read it: the values are masked (secrets ``********``, passwords in URLs ``***``), as
any user of the CLI on the host sees them, and IT staff with the viewer role need them to tell why
the sync misbehaves (a wrong base URL, an expired SPLP key).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lapor_sync.reports.config import ConfigView, config_view
from lapor_sync.web.context import Console
from lapor_sync.web.inputs import Reader, Services
from lapor_sync.web.templating import render, translate

router = APIRouter()
api = APIRouter(tags=["settings"])


def settings_now(services: Console) -> ConfigView:
    """The effective settings, masked, with their sources, and the national connection they make."""
    return config_view(services.app.settings, services.clock.now())


@router.get("/settings")
def settings_page(request: Request, services: Services, _user: Reader) -> Response:
    """The settings page."""
    view = settings_now(services)
    return render(request, "settings.html", title=translate(request, "Settings"), view=view)


@api.get("/settings")
def settings_api(services: Services, _user: Reader) -> dict[str, Any]:
    """``config show --json``: each setting ``{value, source, env}``, and ``national``."""
    view = settings_now(services)
    return view.settings | {"national": view.national}
