"""The console's pages, one module per area; each gives a page router and, where it has one, its JSON twin.

``ROUTERS`` lists ``(pages, api)`` pairs in the order they are mounted; ``api`` routes are mounted
under ``/api/v1`` at the same paths as their pages.
"""

from __future__ import annotations

from fastapi import APIRouter

from lapor_sync.web.pages import (
    audit,
    auth,
    case_actions,
    case_bulk,
    cases,
    dashboard,
    events,
    mapping,
    outbox,
    runs,
    set_aside,
    settings,
    sla,
    users,
)

ROUTERS: list[tuple[APIRouter, APIRouter | None]] = [
    (auth.router, None),
    (dashboard.router, dashboard.api),
    (cases.router, cases.api),
    (case_actions.router, case_actions.api),
    (case_bulk.router, case_bulk.api),
    (users.router, users.api),
    (audit.router, audit.api),
    (outbox.router, outbox.api),
    (set_aside.router, set_aside.api),
    (mapping.router, mapping.api),
    (sla.router, sla.api),
    (settings.router, settings.api),
    (runs.router, runs.api),
    (events.router, events.api),
]
