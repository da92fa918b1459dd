"""Sync runs, newest first, and the events of one run in the order they happened."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from lapor_sync.queries.page import DEFAULT_LIMIT, MAX_LIMIT, Page, capped, newest_first
from lapor_sync.storage.models import COUNTERS, SyncEvent, SyncRun


def search_runs(
    session: Session,
    institution_id: int,
    *,
    job: str | None = None,
    outcome: str | None = None,
    trigger: str | None = None,
    before_id: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[SyncRun]:
    """One page of an institution's sync runs, newest first by id.

    By id, not by ``started_at``: runs stamped by a clock that ran ahead would otherwise stay on top.
    Index: ``ix_sync_run_job`` (institution_id, job, id), ``ix_sync_run_outcome`` for ``outcome``.

    Args:
        session: a session on the city's database.
        institution_id: the national institution whose runs are listed.
        job: only this job (``pull``, ``push``, ...; case and spaces ignored).
        outcome: only this outcome (``ok``, ``failed``, ``running``, ...).
        trigger: only this trigger (``schedule``, ``manual``, ``command``).
        before_id: only runs older than this id (the previous page's ``next_before``).
        limit: runs per page (at most 200).

    Returns:
        The page of runs.
    """
    query = select(SyncRun).where(SyncRun.institution_id == institution_id)
    for column, wanted in ((SyncRun.job, job), (SyncRun.trigger, trigger), (SyncRun.outcome, outcome)):
        if wanted:
            query = query.where(column == wanted.strip().lower())
    return newest_first(session, query, col(SyncRun.id), before_id=before_id, limit=limit, row_id=lambda r: r.id)


def run_events(
    session: Session, run_id: int, *, after_id: int | None = None, limit: int = MAX_LIMIT
) -> list[SyncEvent]:
    """The events of one run, oldest first (a run reads as a story), from after ``after_id``.

    Index: ``ix_sync_event_run`` (run_id, id).

    Args:
        session: a session on the city's database.
        run_id: the sync run.
        after_id: only events with a higher id (the last id of the previous call); ``None``: from the first.
        limit: events at most (capped at 200); call again with the last id for more.

    Returns:
        The events, in id order.
    """
    query = select(SyncEvent).where(SyncEvent.run_id == run_id)
    if after_id is not None:
        query = query.where(col(SyncEvent.id) > after_id)
    return list(session.exec(query.order_by(col(SyncEvent.id)).limit(capped(limit))).all())


def run_dict(run: SyncRun) -> dict[str, Any]:
    """One sync run as JSON-ready fields (``runs --json``, the console): times aware UTC, duration in seconds.

    ``duration_seconds`` is ``None`` while the run is under way.
    """
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
