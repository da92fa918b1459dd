"""The event search (``lapor-sync log``'s filters) and its live tail (``log --follow``) as server-sent events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse

from lapor_sync.accounts.roles import Role
from lapor_sync.accounts.users import ConsoleUser
from lapor_sync.domain.runs import Level
from lapor_sync.queries.events import EventFilter, event_dict, event_json, event_query, search_events
from lapor_sync.queries.tail import newest_id
from lapor_sync.storage.models import SyncEvent
from lapor_sync.web import live
from lapor_sync.web.context import Console, console
from lapor_sync.web.inputs import day_end, day_start
from lapor_sync.web.middleware import console_state
from lapor_sync.web.security import require, still_signed_in
from lapor_sync.web.templating import environment, render, translate, url

router = APIRouter()
api = APIRouter()

Text = Annotated[str | None, Query(max_length=64)]
Day = Annotated[str | None, Query(max_length=10, description="A WIB calendar day, YYYY-MM-DD.")]
Before = Annotated[int | None, Query(ge=1)]
After = Annotated[int | None, Query(ge=0, description="The newest event id the reader has (0: from the first).")]
FILTERS = ("tracking_id", "agency", "level", "kind", "since", "until")
"""The search's query parameters, kept in the page's links (older events, the live tail)."""
REPLAY_IDS = 500
"""A stream starts at most this many event ids back: a reader further behind (``after=0``) pages
through ``/events`` instead, so that one poll never reads a million rows."""
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}  # no proxy buffering (nginx)


def event_filter(
    request: Request,
    tracking_id: Text = None,
    agency: Text = None,
    level: Text = None,
    kind: Text = None,
    since: Day = None,
    until: Day = None,
) -> EventFilter:
    """The search's filters from the query string (a FastAPI dependency); empty fields match all.

    ``since`` and ``until`` are WIB days, both included.

    Raises:
        HTTPException: 422 for a level or a day that is not one.
    """
    chosen = level.strip() if level else ""
    if chosen and chosen not in Level._value2member_map_:
        raise HTTPException(422, translate(request, "Unknown level: %(level)s", level=chosen))
    return EventFilter(
        tracking_id=tracking_id or None,
        agency_code=agency or None,
        level=Level(chosen) if chosen else None,
        kind=kind or None,
        since=day_start(_day(request, since)),
        until=day_end(_day(request, until)),
    )


def _day(request: Request, text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise HTTPException(422, translate(request, "Not a date (YYYY-MM-DD): %(text)s", text=text)) from None


Filters = Annotated[EventFilter, Depends(event_filter)]


def find_events(services: Console, wanted: EventFilter, *, before: int | None) -> dict[str, Any]:
    """One page of the matching events, newest first, and where a live tail would start.

    Returns:
        ``events`` (as ``log --json`` gives them), ``next_before`` (the next page's ``before``, or
        ``None``) and ``live_after`` (the newest event id when the page was read: the stream's ``after``).
    """
    newest = newest_id(services.db)  # read first: an event written meanwhile is then shown twice, never missed
    with services.db.session() as session:
        page = search_events(session, services.app.institution_id, wanted, before_id=before)
    return {"events": [event_dict(e) for e in page.rows], "next_before": page.next_before, "live_after": newest}


def stream(
    request: Request, services: Console, wanted: EventFilter, after: int | None, show: Callable[[SyncEvent], str]
) -> StreamingResponse:
    """The live tail of ``wanted`` from after ``after`` (default: now) as ``text/event-stream``."""
    newest = newest_id(services.db)
    start = newest if after is None else max(after, newest - REPLAY_IDS)
    query = event_query(services.app.institution_id, wanted)
    body = live.follow(
        request,
        services.db,
        services.clock,
        query,
        after_id=start,
        show=show,
        stopping=services.stopping,
        allowed=partial(still_signed_in, request, services),
    )
    return StreamingResponse(body, media_type="text/event-stream", headers=STREAM_HEADERS)


def _html_row(request: Request, event: SyncEvent) -> str:
    """An event as the event table's row, in the reader's language (the page's stream)."""
    rows = environment(console_state(request).language).get_template("_events.html")
    return str(rows.make_module({"url": partial(url, request)}).row(event_dict(event)))


def _resume(after: int | None, last_event_id: str | None) -> int | None:
    """Where a stream starts: ``after``, or where a reconnecting ``EventSource`` left off (``Last-Event-ID``)."""
    if last_event_id and last_event_id.isdigit():
        return int(last_event_id)
    return after


@router.get("/events")
def events_page(
    request: Request,
    wanted: Filters,
    before: Before = None,
    services: Console = Depends(console),
    _user: ConsoleUser = Depends(require(Role.VIEWER)),
) -> Response:
    """The event search: filters, the newest matching events, and a "Live" switch for the tail."""
    found = find_events(services, wanted, before=before)
    chosen = {key: value for key in FILTERS if (value := request.query_params.get(key))}
    return render(
        request,
        "events.html",
        title=translate(request, "Sync events"),
        found=found,
        chosen=chosen,
        agencies=services.app.mapping.agencies,
        levels=[level.value for level in Level],
    )


@api.get("/events")
def events_api(
    wanted: Filters,
    before: Before = None,
    services: Console = Depends(console),
    _user: ConsoleUser = Depends(require(Role.VIEWER)),
) -> dict:
    """Matching sync events, newest first: ``events``, ``next_before`` and ``live_after`` (see the stream)."""
    return find_events(services, wanted, before=before)


@router.get("/events/stream")
def events_stream_page(
    request: Request,
    wanted: Filters,
    after: After = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
    services: Console = Depends(console),
    _user: ConsoleUser = Depends(require(Role.VIEWER)),
) -> StreamingResponse:
    """New matching events as server-sent events whose data is the table row (the page's "Live" switch)."""
    return stream(request, services, wanted, _resume(after, last_event_id), partial(_html_row, request))


@api.get("/events/stream")
def events_stream_api(
    request: Request,
    wanted: Filters,
    after: After = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
    services: Console = Depends(console),
    _user: ConsoleUser = Depends(require(Role.VIEWER)),
) -> StreamingResponse:
    """New matching events as server-sent events (``text/event-stream``), each event's data one JSON object.

    Starts after ``after`` (``live_after`` of ``/events``; at most 500 ids back), or after ``Last-Event-ID`` on a reconnect,
    or now. A ``: keepalive`` comment comes every 15 s of quiet; the stream ends after 10 minutes
    with an ``end`` event (reconnect with its id as ``Last-Event-ID``).
    """
    return stream(request, services, wanted, _resume(after, last_event_id), event_json)
