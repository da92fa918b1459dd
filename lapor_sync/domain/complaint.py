"""Complaints as the national platform dispositions them, in domain terms.

Every datetime here is timezone-aware UTC: the national adapter converts the wire's WIB strings
at the edge (CONTRACT §2), and nothing above it sees a WIB string.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class AuthorType(StrEnum):
    """Who wrote a thread entry (CONTRACT §4, ``user_type``)."""

    INSTITUTION = "instansi"
    REPORTER = "pelapor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Reporter:
    """The citizen who filed the complaint; personal data, never logged (UU 27/2022)."""

    name: str | None
    email: str | None
    phone: str | None


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached on the national side; only its metadata is carried for now."""

    id: int
    file_name: str
    extension: str | None
    path: str | None


@dataclass(frozen=True, slots=True)
class StatusLogEntry:
    """One status change in the complaint's national history."""

    status_code: int
    status_name: str
    note: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ThreadEntry:
    """A follow-up, reporter reply or admin note in the national thread.

    ``national_id`` is the platform's follow-up id; ``created_at`` is aware UTC. ``content`` is valid
    text (see :mod:`lapor_sync.domain.text`); ``content_length`` is its length as received, in
    characters, before NUL characters or lone surrogates were removed (``None``: ``len(content)``).
    ``complaint_id`` is the complaint the platform names for the entry, when it names one: the
    answer to a follow-up POST is checked against it.
    """

    national_id: int
    author_type: AuthorType
    institution_id: int | None
    institution_name: str | None
    content: str
    rating: int
    is_secret: bool
    created_at: datetime
    content_length: int | None = None
    complaint_id: int | None = None


@dataclass(frozen=True, slots=True)
class Complaint:
    """A complaint (laporan) as dispositioned by SP4N-LAPOR! (CONTRACT §4).

    ``reporter`` is ``None`` when the complaint is anonymous, whatever the wire carried.
    ``created_at`` and ``updated_at`` are aware UTC datetimes. Texts are valid (see
    :mod:`lapor_sync.domain.text`); ``content_length`` is the content's length as received, in
    characters, before NUL characters or lone surrogates were removed (``None``: ``len(content)``).
    """

    complaint_id: int
    tracking_id: str
    title: str
    content: str
    classification_id: int | None
    classification_name: str | None
    category_id: int | None
    category_name: str | None
    status_code: int
    status_name: str
    disposition_id: int | None
    disposition_name: str | None
    is_anonymous: bool
    is_secret: bool
    is_priority: bool
    channel: int | None
    channel_name: str | None
    location_id: int | None
    location_name: str | None
    date_of_incident: date | None
    created_at: datetime
    updated_at: datetime
    reporter: Reporter | None
    attachments: tuple[Attachment, ...] = ()
    content_length: int | None = None


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One row of the inbox walk: enough to decide whether the complaint must be fetched.

    ``tracking_id`` is the public id when the row carries a readable one (``None`` otherwise): how a
    complaint known only by its tracking id is found (CONTRACT §5).
    """

    complaint_id: int
    updated_at: datetime
    tracking_id: str | None = None


@dataclass(frozen=True, slots=True)
class ComplaintSnapshot:
    """A complaint with its status history and thread, as read in one sync run.

    ``thread`` is ``None`` when the follow-ups were not read because the detail showed nothing new
    (``NationalPlatform.fetch_complaint``'s ``unchanged_since``): the stored thread stands.
    ``requests`` is how many HTTP requests the read took (the detail, then each page of follow-ups),
    for request budgets; it takes no part in comparisons.
    """

    complaint: Complaint
    status_log: tuple[StatusLogEntry, ...] = ()
    thread: tuple[ThreadEntry, ...] | None = field(default=())
    requests: int = field(default=1, compare=False)


@dataclass(frozen=True, slots=True)
class MalformedRecord:
    """A record from the national platform that could not be read, set aside with its reason.

    ``raw`` is the payload as received (JSON-compatible), so it can be inspected and retried.
    """

    complaint_id: int | None
    reason: str
    raw: object
