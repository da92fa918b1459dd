"""The mapping: the routing rules in force, the agencies, the complaints no rule routed, and ``mapping check``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lapor_sync.reports.mapping import check_mapping, rules_in_force, triaged_categories
from lapor_sync.web.context import Console
from lapor_sync.web.inputs import Reader, Services
from lapor_sync.web.templating import render, translate

router = APIRouter()
api = APIRouter(tags=["mapping"])


def mapping_overview(services: Console) -> dict[str, Any]:
    """What ``mapping check`` finds, the rules in force in the order they are tried, the agencies, and triage.

    Returns:
        ``check`` (``mapping check --json``, plus ``not_checked``), ``rules``
        (:func:`~lapor_sync.reports.mapping.rules_in_force`), ``agencies`` (``code``, ``name``,
        ``abbreviation``, ``institution_id``) and ``triaged`` (categories of the cases no rule
        routed, most cases first; :func:`~lapor_sync.reports.mapping.triaged_categories`).
    """
    app = services.app
    mapping = app.mapping
    found = check_mapping(app, mapping)
    with services.db.session() as session:
        triaged = triaged_categories(session, mapping.institution.id)
    return {
        "check": found.as_dict() | {"not_checked": found.not_checked},
        "rules": rules_in_force(mapping),
        "agencies": [
            {"code": a.code, "name": a.name, "abbreviation": a.abbreviation, "institution_id": a.institution_id}
            for a in mapping.agencies
        ],
        "triaged": [asdict(t) for t in triaged],
    }


@router.get("/mapping")
def mapping_page(request: Request, services: Services, _user: Reader) -> Response:
    """The mapping page."""
    return render(request, "mapping.html", title=translate(request, "Mapping"), **mapping_overview(services))


@api.get("/mapping")
def mapping_api(services: Services, _user: Reader) -> dict[str, Any]:
    """The mapping's check, rules in force, agencies and triaged categories (instants UTC)."""
    return mapping_overview(services)
