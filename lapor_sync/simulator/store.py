"""The simulated platform's tables and indexes: complaints, the inbox index and the event queue.

No rules, lock or clock here: :class:`~lapor_sync.simulator.world.World` decides what may happen
and calls these primitives under its lock; the primitives keep records, ids and indexes in step.
"""

from __future__ import annotations

import heapq
import sys
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from datetime import datetime

from lapor_sync.simulator.model import (
    Attachment,
    Complaint,
    Counters,
    DataLog,
    Event,
    EventKind,
    FollowUp,
    StatusLog,
)

DISPOSITION_LOG = "Laporan didisposisikan dari {{institution_from}} ke {{institution_to}}"
STATUS_LOG = "Status laporan diubah oleh {{institution_from}}"
FOLLOWUP_LOG = "{{institution_from}} menambahkan tindak lanjut"


class Store:
    """Complaints by id, with an inbox index and a queue of scheduled events.

    Args:
        complaints: every complaint, visible or not yet.
        counters: the next ids to hand out.
        tree: the ids of the caller's institution and its sub-units (the inbox's scope).
        events: pending scheduled events.
    """

    def __init__(
        self,
        complaints: Iterable[Complaint],
        counters: Counters,
        tree: frozenset[int],
        events: Iterable[Event] = (),
    ) -> None:
        self.counters = counters
        self.tree = tree
        self._complaints = {c.complaint_id: c for c in complaints}
        # (updated_at, complaint_id) of the complaints dispositioned to the tree, sorted: the inbox
        # order. Not-yet-visible complaints sort after now, because updated_at >= dispositioned_at.
        self._inbox = sorted(
            (c.updated_at, c.complaint_id) for c in self._complaints.values() if c.disposition_id in tree
        )
        self._events = list(events)
        heapq.heapify(self._events)

    # -- complaints and the inbox index --------------------------------------------------------

    def get(self, complaint_id: int) -> Complaint | None:
        """Return the complaint with this id, visible or not, or ``None``."""
        return self._complaints.get(complaint_id)

    def all(self) -> list[Complaint]:
        """Return every complaint in complaint id order."""
        return sorted(self._complaints.values(), key=lambda c: c.complaint_id)

    def insert(self, complaint: Complaint) -> None:
        """Add a new complaint (and index it when it is dispositioned to the tree)."""
        self._complaints[complaint.complaint_id] = complaint
        if complaint.disposition_id in self.tree:
            insort(self._inbox, (complaint.updated_at, complaint.complaint_id))

    def touch(self, c: Complaint, at: datetime, *, disposition_id: int | None = None) -> None:
        """Set ``updated_at`` (and the disposition, when given), moving the complaint in the inbox index."""
        if c.disposition_id in self.tree:
            self._inbox.pop(bisect_left(self._inbox, (c.updated_at, c.complaint_id)))
        c.updated_at = at
        if disposition_id is not None:
            c.disposition_id = disposition_id
        if c.disposition_id in self.tree:
            insort(self._inbox, (at, c.complaint_id))

    def inbox_page(
        self, since: datetime | None, until: datetime, page: int, per_page: int
    ) -> tuple[list[Complaint], int]:
        """Return page ``page`` (1-based) of the indexed complaints with ``since <= updated_at <= until``.

        Returns:
            The page's complaints in inbox order, and the number over all pages. O(log n + page).
        """
        lo = bisect_left(self._inbox, (since, 0)) if since else 0
        hi = bisect_right(self._inbox, (until, sys.maxsize))
        start = lo + (page - 1) * per_page
        keys = self._inbox[start : min(start + per_page, hi)]
        return [self._complaints[cid] for _, cid in keys], max(0, hi - lo)

    # -- thread and logs -----------------------------------------------------------------------

    def log(
        self,
        c: Complaint,
        template: str,
        source: int | None,
        target: int | None,
        at: datetime,
        *,
        old: int | None = None,
        new: int | None = None,
    ) -> None:
        """Append a ``data_logs`` entry; ``template`` is one of the ``*_LOG`` texts of this module."""
        code = {DISPOSITION_LOG: "disposition", STATUS_LOG: "status", FOLLOWUP_LOG: "followup"}[template]
        c.data_logs.append(DataLog(self.counters.take("data_log_id"), code, template, source, target, old, new, at))

    def change_status(self, c: Complaint, new: int, note: str | None, source: int | None, at: datetime) -> None:
        """Set the status, with a status log entry and a ``status`` data log (not ``updated_at``)."""
        self.log(c, STATUS_LOG, source, None, at, old=c.status_code, new=new)
        c.status_logs.append(StatusLog(new, note, at))
        c.status_code = new

    def add_followup(
        self,
        c: Complaint,
        *,
        user_type: str,
        institution_from_id: int | None,
        content: str,
        rating: int,
        is_secret: bool,
        at: datetime,
        attachment_names: Iterable[str] = (),
    ) -> FollowUp:
        """Append a thread entry with the next follow-up id (not ``updated_at``)."""
        attachments = [
            Attachment(
                self.counters.take("attachment_id"),
                name,
                name.rsplit(".", 1)[-1] if "." in name else None,
                f"/storage/followups/{c.complaint_id}/{name}",
            )
            for name in attachment_names
        ]
        entry = FollowUp(
            self.counters.take("followup_id"),
            c.complaint_id,
            user_type,
            institution_from_id,
            content,
            rating,
            is_secret,
            attachments,
            at,
        )
        c.followups.append(entry)
        return entry

    # -- scheduled events ----------------------------------------------------------------------

    def schedule(self, at: datetime, kind: EventKind, complaint_id: int, ref: int) -> None:
        """Queue an event at ``at`` (whole seconds); ties run in scheduling order."""
        event = Event(at.replace(microsecond=0), self.counters.take("event_seq"), kind, complaint_id, ref)
        heapq.heappush(self._events, event)

    def pop_due(self, instant: datetime) -> Event | None:
        """Remove and return the earliest event at or before ``instant``, or ``None``."""
        return heapq.heappop(self._events) if self._events and self._events[0].at <= instant else None

    def pending_events(self) -> list[Event]:
        """Return the queued events in time order."""
        return sorted(self._events)
