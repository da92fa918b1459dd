"""What sync did, as data: sync runs, and the query of sync events by run, complaint, agency, level, kind and time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from lapor_sync.domain.runs import Level
from lapor_sync.storage.models import COUNTERS, SyncEvent, SyncRun

LEVELS = list(Level)  # in rising severity


def list_runs(
    session: Session,
    institution_id: int,
    *,
    job: str | None = None,
    trigger: str | None = None,
    outcome: str | None = None,
    limit: int = 20,
    before_id: int | None = None,
) -> list[SyncRun]:
    """Return sync runs, newest first by id (not by stamp: a clock that ran ahead would keep its runs on top).

    Args:
        session: a session on the city's database.
        institution_id: whose runs.
        job: only this job (``pull``, ``push``, ``resync``, ...); case and space ignored.
        trigger: only this trigger (``schedule``, ``manual``, ``command``).
        outcome: only this outcome (``ok``, ``failed``, ``interrupted``, ``abandoned``, ``running``).
        limit: at most this many.
        before_id: keyset pagination: only runs with a smaller id.
    """
    query = select(SyncRun).where(SyncRun.institution_id == institution_id)
    for column, wanted in ((SyncRun.job, job), (SyncRun.trigger, trigger), (SyncRun.outcome, outcome)):
        if wanted:
            query = query.where(column == wanted.strip().lower())
    if before_id is not None:
        query = query.where(col(SyncRun.id) < before_id)
    return list(session.exec(query.order_by(col(SyncRun.id).desc()).limit(limit)))


def run_data(run: SyncRun) -> dict[str, Any]:
    """One sync run as data: instants aware UTC, duration in seconds (``None`` while running), every counter."""
    duration = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
    return {
        "id": run.id,
        "job": run.job,
        "trigger": run.trigger,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_seconds": duration,
        **{name: getattr(run, name) for name in COUNTERS},
        "outcome": run.outcome,
        "error": run.error,
    }


def event_query(
    institution_id: int,
    *,
    run: int | None = None,
    complaint_id: int | None = None,
    tracking_id: str | None = None,
    agency_code: str | None = None,
    level: Level = Level.INFO,
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> SelectOfScalar[SyncEvent]:
    """The events of this institution's runs (and the admins' run-less ones) matching every filter given.

    Args:
        institution_id: whose runs.
        run: only this run's events.
        complaint_id: only this complaint's, by national id (indexed with the time).
        tracking_id: only this complaint's (with or without ``#``).
        agency_code: only events about this agency (case ignored).
        level: the lowest level: ``info`` takes all, ``warning`` warnings and errors.
        kind: a kind (``complaint.triage``) or a family (``complaint`` takes ``complaint.*``).
        since: at or after this instant (aware).
        until: before this instant (aware; exclusive).

    Returns:
        The select, unordered: callers order and limit it (a page, or a tail of new events).
    """
    query = (
        select(SyncEvent)
        .outerjoin(SyncRun, col(SyncEvent.run_id) == col(SyncRun.id))
        .where(or_(col(SyncEvent.run_id).is_(None), SyncRun.institution_id == institution_id))
    )
    if run is not None:
        query = query.where(SyncEvent.run_id == run)
    if complaint_id is not None:
        query = query.where(SyncEvent.complaint_id == complaint_id)
    if tracking_id:
        query = query.where(SyncEvent.tracking_id == tracking_id.strip().lstrip("#"))
    if agency_code:
        query = query.where(SyncEvent.agency_code == agency_code.strip().upper())
    query = query.where(col(SyncEvent.level).in_([lv.value for lv in LEVELS[LEVELS.index(level) :]]))
    if kind:
        query = query.where(or_(SyncEvent.kind == kind, col(SyncEvent.kind).startswith(f"{kind}.")))
    if since is not None:
        query = query.where(SyncEvent.at >= since)
    if until is not None:
        query = query.where(SyncEvent.at < until)
    return query
