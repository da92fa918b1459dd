"""The simulated platform's records: complaints with their logs, follow-ups, requests and events.

Plain mutable dataclasses, owned by :class:`~lapor_sync.simulator.world.World` and changed only
under its lock. Every datetime is aware UTC; names (status, institution, category, channel) are
derived from codes when the records are put on the wire, so they can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


@dataclass(slots=True)
class Attachment:
    """File metadata only: the simulator keeps no file content."""

    id: int
    file_name: str
    extension: str | None
    path: str | None


@dataclass(slots=True)
class Reporter:
    """A fictitious citizen (name, email, phone): personal data on the real platform, never logged."""

    name: str
    email: str | None
    phone: str | None


@dataclass(slots=True)
class StatusLog:
    """One entry of ``status_logs`` (CONTRACT §5, complaint detail)."""

    status_code: int
    note: str | None
    at: datetime


@dataclass(slots=True)
class DataLog:
    """One entry of ``data_logs`` (CONTRACT §4); ``template_code`` is disposition, status or followup."""

    id: int
    template_code: str
    content: str
    institution_from_id: int | None
    institution_to_id: int | None
    status_old: int | None
    status_new: int | None
    created_at: datetime


@dataclass(slots=True)
class FollowUp:
    """A thread entry (CONTRACT §4): ``user_type`` is instansi, pelapor or admin."""

    id: int
    complaint_id: int
    user_type: str
    institution_from_id: int | None
    content: str
    rating: int
    is_secret: bool
    attachments: list[Attachment]
    created_at: datetime


@dataclass(slots=True)
class RejectRequest:
    """A pending archive (``not_authority`` False) or forward (True) request awaiting the admin."""

    id: int
    not_authority: bool
    target_institution_id: int
    description: str
    requested_at: datetime


@dataclass(slots=True)
class Complaint:
    """A complaint and everything attached to it.

    ``dispositioned_at`` is when the complaint was first dispositioned to the city (it is hidden
    from the API before then); ``first_disposition_id`` is the institution it went to then.
    Invariant kept by the world: ``updated_at >= dispositioned_at``.
    """

    complaint_id: int
    tracking_id: str
    title: str
    content: str
    classification_id: int
    category_id: int
    status_code: int
    disposition_id: int
    first_disposition_id: int
    is_anonymous: bool
    is_secret: bool
    is_priority: bool
    channel: int
    location_id: int
    location_name: str
    date_of_incident: date | None
    created_at: datetime
    dispositioned_at: datetime
    updated_at: datetime
    reporter: Reporter | None
    attachments: list[Attachment] = field(default_factory=list)
    status_logs: list[StatusLog] = field(default_factory=list)
    data_logs: list[DataLog] = field(default_factory=list)
    followups: list[FollowUp] = field(default_factory=list)
    pending_request: RejectRequest | None = None


class EventKind(StrEnum):
    """What a scheduled event does when the clock reaches it."""

    REPORTER_REPLY = "reporter_reply"
    ADMIN_DECISION = "admin_decision"
    AUTO_CLOSE = "auto_close"


@dataclass(order=True, slots=True)
class Event:
    """A change the platform makes by itself at ``at``; ``seq`` breaks ties in scheduling order.

    ``ref`` ties the event to what started it: the follow-up's number within the complaint (1 for
    the first institution follow-up) for a reporter reply, the follow-up id for auto-close, the
    request id for an admin decision; a superseded event recognises itself and does nothing.
    """

    at: datetime
    seq: int
    kind: EventKind = field(compare=False)
    complaint_id: int = field(compare=False)
    ref: int = field(compare=False)


@dataclass(slots=True)
class Counters:
    """The next ids the platform hands out; persisted so a reloaded world continues the series."""

    followup_id: int = 1
    data_log_id: int = 1
    attachment_id: int = 1
    request_id: int = 1
    event_seq: int = 1
    complaint_id: int = 3_100_001
    tracking_id: int = 1_900_000

    def take(self, name: str, step: int = 1) -> int:
        """Return the current value of counter ``name`` and advance it by ``step``."""
        value = getattr(self, name)
        setattr(self, name, value + step)
        return value
