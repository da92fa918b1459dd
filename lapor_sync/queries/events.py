"""Sync events matching the log's filters: one page newest first, or the live tail oldest first.

``sync_event`` has no institution column: an event belongs to the institution of its run, and the
events written outside any run (an admin's reassign, purge) are everyone's, as ``lapor-sync log``
has always shown them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from lapor_sync.domain.runs import Level
from lapor_sync.queries.page import DEFAULT_LIMIT, Page, capped, newest_first
from lapor_sync.storage.models import SyncEvent, SyncRun

_LEVELS = list(Level)  # in rising severity


@dataclass(frozen=True)
class EventFilter:
    """What ``log`` and the event search narrow events by; every field ``None`` matches all.

    Attributes:
        run_id: only events of this sync run.
        tracking_id: only this complaint's events (a leading ``#`` is ignored).
        agency_code: only events about this agency (case ignored).
        level: the lowest level shown: ``warning`` shows warnings and errors.
        kind: a kind (``complaint.created``) or a family (``complaint``: all its kinds).
        since: only events at or after this instant (aware).
        until: only events before this instant (aware, excluded).
    """

    run_id: int | None = None
    tracking_id: str | None = None
    agency_code: str | None = None
    level: Level | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def event_query(institution_id: int, wanted: EventFilter) -> SelectOfScalar[SyncEvent]:
    """The select of the events of ``institution_id`` (and the run-less ones) that match ``wanted``, unordered.

    Indexes: (tracking_id, id), (agency_code, id), (kind, id), (level, id), (run_id, id), (at).

    Args:
        institution_id: the national institution whose events are read.
        wanted: the filters.

    Returns:
        The select, for a page (:func:`search_events`) or a tail (:class:`lapor_sync.queries.tail.EventTail`).
    """
    query = (
        select(SyncEvent)
        .outerjoin(SyncRun, col(SyncEvent.run_id) == col(SyncRun.id))
        .where(or_(col(SyncEvent.run_id).is_(None), SyncRun.institution_id == institution_id))
    )
    return query.where(*_conditions(wanted))


def _conditions(wanted: EventFilter) -> list[object]:
    """The WHERE terms of ``wanted``, one per filter given."""
    terms: list[object] = []
    if wanted.run_id is not None:
        terms.append(SyncEvent.run_id == wanted.run_id)
    if wanted.tracking_id:
        terms.append(SyncEvent.tracking_id == wanted.tracking_id.strip().lstrip("#"))
    if wanted.agency_code:
        terms.append(SyncEvent.agency_code == wanted.agency_code.strip().upper())
    if wanted.level is not None and wanted.level is not Level.INFO:  # info is the lowest: all levels
        terms.append(col(SyncEvent.level).in_([lv.value for lv in _LEVELS[_LEVELS.index(wanted.level) :]]))
    if wanted.kind:
        terms.append(_kind_term(wanted.kind.strip()))
    if wanted.since is not None:
        terms.append(SyncEvent.at >= wanted.since)
    if wanted.until is not None:
        terms.append(SyncEvent.at < wanted.until)
    return terms


def _kind_term(kind: str) -> object:
    """``kind`` itself, or any kind of the family ``kind`` (``complaint`` → ``complaint.created``, ...)."""
    return or_(SyncEvent.kind == kind, col(SyncEvent.kind).startswith(f"{kind}."))


def search_events(
    session: Session,
    institution_id: int,
    wanted: EventFilter | None = None,
    *,
    before_id: int | None = None,
    after_id: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[SyncEvent]:
    """One page of matching events: newest first, or with ``after_id`` the ones written since, oldest first.

    Args:
        session: a session on the city's database.
        institution_id: the national institution whose events are read.
        wanted: the filters (:class:`EventFilter`); ``None``: all events.
        before_id: only events older than this id (the previous page's ``next_before``).
        after_id: the live tail: only events newer than this id, oldest first. The page's
            ``next_before`` is then ``None``; the next poll passes the last row's id.
        limit: events per page (at most 200).

    Returns:
        The page of events.
    """
    query = event_query(institution_id, wanted or EventFilter())
    if after_id is not None:
        rows = session.exec(query.where(col(SyncEvent.id) > after_id).order_by(col(SyncEvent.id)).limit(capped(limit)))
        return Page(list(rows.all()), None)
    return newest_first(session, query, col(SyncEvent.id), before_id=before_id, limit=limit, row_id=lambda e: e.id)


def event_dict(event: SyncEvent) -> dict[str, Any]:
    """One event as JSON-ready fields (``log --json``, the console's API and live tail); ``at`` stays aware UTC."""
    return {
        "id": event.id,
        "run_id": event.run_id,
        "at": event.at,
        "level": event.level,
        "kind": event.kind,
        "complaint_id": event.complaint_id,
        "tracking_id": event.tracking_id,
        "agency_code": event.agency_code,
        "message": event.message,
    }


def event_json(event: SyncEvent) -> str:
    """One event as one line of JSON (``log --json`` lines, the console API's live tail), ``at`` in UTC ISO 8601."""
    return json.dumps(event_dict(event) | {"at": event.at.isoformat()}, ensure_ascii=False)
