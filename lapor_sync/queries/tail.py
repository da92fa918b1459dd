"""Following sync events as they are written: ``lapor-sync log --follow`` and the console's live tail.

One implementation for both, so the terminal and the browser cannot drift apart in what they show
or miss (an event committed out of id order, see :data:`GAP_POLLS`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from lapor_sync.storage.database import Database
from lapor_sync.storage.models import SyncEvent

GAP_POLLS = 30
"""How many polls a missing event id is looked for again: on PostgreSQL ids are handed out when a
transaction inserts, not when it commits, so a lower id can become visible after a higher one."""
MAX_GAPS = 1000


def newest_id(db: Database) -> int:
    """The highest event id stored now (0 when there is none)."""
    with db.session() as session:
        return session.exec(select(func.max(SyncEvent.id))).one() or 0


class EventTail:
    """Finds the events of ``query`` written since the last poll, oldest first.

    Args:
        db: the city's database.
        query: the filtered select of events (``lapor-sync log``'s filters).
        after_id: events up to this id were already shown; the ids below it not visible yet (a
            transaction still open when ``after_id`` was read) are looked for like later gaps.
    """

    def __init__(self, db: Database, query: SelectOfScalar[SyncEvent], after_id: int) -> None:
        self.db, self.query, self.last_id = db, query, after_id
        with db.session() as session:
            visible = set(
                session.exec(
                    select(SyncEvent.id).where(col(SyncEvent.id) > after_id - MAX_GAPS, col(SyncEvent.id) <= after_id)
                )
            )
        # id not seen yet -> polls left to look for it
        self.gaps: dict[int, int] = {
            i: GAP_POLLS for i in range(max(1, after_id - MAX_GAPS + 1), after_id) if i not in visible
        }

    def poll(self) -> list[SyncEvent]:
        """Return the new events matching the query, in id order."""
        with self.db.session() as session:
            arrived = set(
                session.exec(
                    select(SyncEvent.id).where(
                        or_(col(SyncEvent.id) > self.last_id, col(SyncEvent.id).in_(list(self.gaps)))
                    )
                ).all()
            )
            events = list(session.exec(self.query.where(col(SyncEvent.id).in_(arrived)).order_by(col(SyncEvent.id))))
        arrived.discard(None)
        top = max([self.last_id, *(i for i in arrived if i is not None)])
        self.gaps = {i: left - 1 for i, left in self.gaps.items() if i not in arrived and left > 1}
        for missing in range(self.last_id + 1, top):
            if missing not in arrived and len(self.gaps) < MAX_GAPS:
                self.gaps[missing] = GAP_POLLS
        self.last_id = top
        return events


def follow(tail: EventTail, *, sleep: Callable[[float], None], poll_seconds: float = 1.0) -> Iterator[SyncEvent]:
    """Yield new events forever, polling every ``poll_seconds`` (stop by closing the iterator or Ctrl-C)."""
    while True:
        sleep(poll_seconds)
        yield from tail.poll()
