"""Sync runs: the list with its filters, and one run with its counts and its events (``lapor-sync runs``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from lapor_sync.accounts.roles import Role
from lapor_sync.accounts.users import ConsoleUser
from lapor_sync.domain.runs import Job, RunOutcome
from lapor_sync.queries.events import event_dict
from lapor_sync.queries.runs import run_dict, run_events, search_runs
from lapor_sync.storage.models import SyncRun
from lapor_sync.web.context import Console, console
from lapor_sync.web.inputs import optional_text
from lapor_sync.web.security import require
from lapor_sync.web.templating import render, translate

router = APIRouter()
api = APIRouter()

TRIGGERS = ("schedule", "manual", "command")
"""Who starts runs: the worker's schedule, an admin's resync, a ``lapor-sync`` command."""
EVENTS_PER_PAGE = 100

Filter = Annotated[str | None, Query(max_length=16)]
Before = Annotated[int | None, Query(ge=1)]


def list_runs(
    services: Console, *, job: str | None, outcome: str | None, trigger: str | None, before: int | None
) -> dict[str, Any]:
    """One page of sync runs, newest first (:func:`lapor_sync.queries.runs.search_runs`).

    Returns:
        ``runs`` (as ``runs --json`` gives them) and ``next_before`` (the next page's ``before``, or ``None``).
    """
    with services.db.session() as session:
        page = search_runs(
            session,
            services.app.institution_id,
            job=optional_text(job),
            outcome=optional_text(outcome),
            trigger=optional_text(trigger),
            before_id=before,
        )
    return {"runs": [run_dict(run) for run in page.rows], "next_before": page.next_before}


def one_run(services: Console, run_id: int, *, after: int | None) -> dict[str, Any]:
    """One sync run with who ran it, its quota wait, and its events oldest first from after ``after``.

    Returns:
        ``run`` (``runs --json``'s fields plus ``holder``, ``leases``, ``tick`` and ``quota_wait_until``),
        ``events`` (up to :data:`EVENTS_PER_PAGE`) and ``next_after`` (the next page's ``after``, or ``None``).

    Raises:
        HTTPException: 404 when the run does not exist or belongs to another institution.
    """
    with services.db.session() as session:
        run = session.get(SyncRun, run_id)
        if run is None or run.institution_id != services.app.institution_id:
            raise HTTPException(404)
        events = run_events(session, run_id, after_id=after, limit=EVENTS_PER_PAGE + 1)
    more = len(events) > EVENTS_PER_PAGE
    events = events[:EVENTS_PER_PAGE]
    detail = run_dict(run) | {
        "holder": run.holder,
        "leases": run.leases,
        "tick": run.tick,
        "quota_wait_until": run.quota_wait_until,
    }
    return {
        "run": detail,
        "events": [event_dict(event) for event in events],
        "next_after": events[-1].id if more else None,
    }


@router.get("/runs")
def runs_page(
    request: Request,
    job: Filter = None,
    outcome: Filter = None,
    trigger: Filter = None,
    before: Before = None,
    services: Console = Depends(console),
    _user: ConsoleUser = Depends(require(Role.VIEWER)),
) -> Response:
    """The list of sync runs, with filters by job, outcome and trigger."""
    found = list_runs(services, job=job, outcome=outcome, trigger=trigger, before=before)
    return render(
        request,
        "runs.html",
        title=translate(request, "Sync runs"),
        found=found,
        chosen={"job": optional_text(job), "outcome": optional_text(outcome), "trigger": optional_text(trigger)},
        jobs=[j.value for j in Job],
        outcomes=[o.value for o in RunOutcome],
        triggers=TRIGGERS,
    )


@api.get("/runs")
def runs_api(
    job: Filter = None,
    outcome: Filter = None,
    trigger: Filter = None,
    before: Before = None,
    services: Console = Depends(console),
    _user: ConsoleUser = Depends(require(Role.VIEWER)),
) -> dict:
    """Sync runs, newest first: ``runs`` and ``next_before`` (pass it as ``before`` for the next page)."""
    return list_runs(services, job=job, outcome=outcome, trigger=trigger, before=before)


@router.get("/runs/{run_id}")
def run_page(
    request: Request,
    run_id: int,
    after: Before = None,
    services: Console = Depends(console),
    _user: ConsoleUser = Depends(require(Role.VIEWER)),
) -> Response:
    """One sync run: its counts, error, holder and quota wait, and its events as a story."""
    found = one_run(services, run_id, after=after)
    return render(request, "run.html", title=translate(request, "Sync run #%(id)d", id=run_id), found=found)


@api.get("/runs/{run_id}")
def run_api(
    run_id: int,
    after: Before = None,
    services: Console = Depends(console),
    _user: ConsoleUser = Depends(require(Role.VIEWER)),
) -> dict:
    """One sync run and its events, oldest first: ``run``, ``events``, ``next_after`` (the next page's ``after``)."""
    return one_run(services, run_id, after=after)
