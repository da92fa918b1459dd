"""The live tail as server-sent events: new sync events as they are written, like ``lapor-sync log --follow``.

The same :class:`~lapor_sync.queries.tail.EventTail` as the terminal's, so both see the same events,
late commits included. Every wait is bounded: the database is polled every :data:`POLL_SECONDS`, a
comment keeps proxies from closing a quiet stream, and a stream ends after :data:`MAX_SECONDS` (the
browser's ``EventSource`` then reconnects by itself with ``Last-Event-ID``, so nothing is lost), as
soon as the client goes away, at the next poll once the server is stopping, and at the next poll once
its reader may no longer read (disabled, signed out, token revoked), as every other request would be.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
from anyio import to_thread
from sqlmodel.sql.expression import SelectOfScalar
from starlette.requests import Request

from lapor_sync.domain.clock import Clock
from lapor_sync.queries.tail import EventTail
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import SyncEvent

POLL_SECONDS = 1.0
"""How often the database is asked for new events, seconds."""
KEEPALIVE_SECONDS = 15.0
"""After this many quiet seconds a comment line is sent (proxies close idle connections)."""
MAX_SECONDS = 600.0
"""A stream ends after this long (by the console's clock); the browser reconnects where it left off."""
RETRY_MILLISECONDS = 3000
"""How long a browser waits before it reconnects a stream that ended."""

pause: Callable[[float], Awaitable[None]] = anyio.sleep
"""How the stream waits between polls (tests replace it with one that moves a manual clock)."""


def message(event_id: int | None, data: str, *, name: str = "sync-event") -> str:
    """One server-sent event: ``id``, ``event`` and ``data`` lines (one per line of ``data``), then a blank line."""
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"id: {event_id}\nevent: {name}\n{lines}\n"


async def follow(
    request: Request,
    db: Database,
    clock: Clock,
    query: SelectOfScalar[SyncEvent],
    *,
    after_id: int,
    show: Callable[[SyncEvent], str],
    stopping: threading.Event,
    allowed: Callable[[], bool],
) -> AsyncIterator[str]:
    """Yield the stream's text: each new event of ``query`` after ``after_id`` as ``show`` writes it.

    Args:
        request: the streaming request (its client going away ends the stream).
        db: the city's database.
        clock: the console's clock: the keep-alive and :data:`MAX_SECONDS` are counted on it.
        query: the filtered events (:func:`lapor_sync.queries.events.event_query`).
        after_id: the newest event id the reader has.
        show: an event as the ``data`` of its message (an HTML row, or JSON).
        stopping: set when the server stops: the stream ends at its next poll.
        allowed: whether the reader may still read (asks the database): when not, the stream ends
            at its next poll.

    Yields:
        Server-sent event text: messages, ``: keepalive`` comments, and a last ``end`` message.
    """
    tail = await to_thread.run_sync(EventTail, db, query, after_id)
    started = quiet_since = clock.now()
    yield f"retry: {RETRY_MILLISECONDS}\n\n"
    while True:
        if not await to_thread.run_sync(allowed):
            return
        events = await to_thread.run_sync(tail.poll)
        for event in events:
            yield message(event.id, show(event))
        now = clock.now()
        if events:
            quiet_since = now
        if (now - started).total_seconds() >= MAX_SECONDS:
            yield message(tail.last_id, "", name="end")
            return
        if (now - quiet_since).total_seconds() >= KEEPALIVE_SECONDS:
            yield ": keepalive\n\n"
            quiet_since = now
        if stopping.is_set() or await request.is_disconnected():
            return
        await pause(POLL_SECONDS)
