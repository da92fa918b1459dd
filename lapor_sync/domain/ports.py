"""Ports: what the sync engine needs from the national platform and from the city's system.

Adapters implement these (``lapor_sync.adapters.national`` over HTTP, ``lapor_sync.adapters.city``
over the built-in store); the engine and the domain know nothing else about them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from lapor_sync.domain.complaint import ComplaintSnapshot, InboxItem, MalformedRecord, ThreadEntry
from lapor_sync.domain.status import CaseState


class QuotaListener(Protocol):
    """Told about the waits for the national API's request quota (CONTRACT §7): a sync run's journal.

    Called from any thread making requests (a pull's fetch threads, a push's delivery threads).
    """

    def waiting_on_quota(self, until: datetime) -> None:
        """A request waits for its turn until ``until`` (aware) before it is sent."""
        ...

    def waited_on_quota(self, seconds: float) -> None:
        """The run's requests waited ``seconds`` more for their turns: time no other wait already covered."""
        ...


@runtime_checkable
class QuotaReporting(Protocol):
    """A national platform client that waits for a request quota, and can say so (``LaporClient``)."""

    def report_quota_to(self, listener: QuotaListener | None) -> None:
        """Tell ``listener`` about the waits from now on; ``None``: tell nobody."""
        ...


@runtime_checkable
class CheckedRequests(Protocol):
    """A national platform client that may wait between being called and sending (for its request quota).

    A push re-checks its claim on a row right before each request for it (``sync.claims``); with a
    wait of minutes in between, the check must be made by the client, after the wait.
    """

    def check_before_requests(self, check: Callable[[], None] | None) -> None:
        """Run ``check`` right before each request this thread sends from now on (after any wait); ``None``: none.

        An error ``check`` raises is raised instead of sending the request, and is not retried.
        """
        ...


class NationalPlatform(Protocol):
    """The SP4N-LAPOR! integration API, in domain terms (CONTRACT §5).

    Every method raises only the errors of :mod:`lapor_sync.domain.errors`:
    ``TransientError`` (after the adapter's own retries are spent), ``AmbiguousWriteError`` (a write
    that may have been applied), ``RunStoppingError`` (401/403, pagination loops),
    ``ItemRejectedError`` (400/404/422) and ``MalformedRecordError`` (a record that cannot be read).
    """

    def walk_inbox(
        self, updated_since: datetime, report: InboxWalkReport | None = None
    ) -> Iterator[InboxItem | MalformedRecord]:
        """Walk the inbox once, page by page, from ``updated_since`` (aware; inclusive).

        Yields one entry per row in the server's order; a row that cannot be read is yielded as a
        ``MalformedRecord`` instead of stopping the walk. Raises ``RunStoppingError`` when a
        ``next_page_url`` repeats or the walk exceeds its page bound. ``report``, when given, is
        filled page by page as the walk goes (the pull's proof against page drift, CONTRACT §6).
        """
        ...

    def fetch_complaint(self, complaint_id: int, *, unchanged_since: datetime | None = None) -> ComplaintSnapshot:
        """Read one complaint's detail, status history and whole follow-up thread (all pages).

        The thread is sorted by ``created_at`` then national id. ``unchanged_since`` (aware UTC) is
        the ``updated_at`` the caller holds, read when its second had surely ended: when the detail
        shows that same ``updated_at``, the follow-ups are not requested and the snapshot's
        ``thread`` is ``None``. ``updated_at`` changes on any change to the complaint or its thread
        (CONTRACT §4), so they cannot hold anything new.
        """
        ...

    def list_followups(self, complaint_id: int) -> list[ThreadEntry]:
        """Read one complaint's follow-ups (all pages), sorted by ``created_at`` then id."""
        ...

    def post_followup(self, complaint_id: int, *, institution_id: int, content: str, is_secret: bool) -> ThreadEntry:
        """Post a follow-up from ``institution_id``; returns it as the server stored it.

        Not idempotent on the server (CONTRACT §5): after ``AmbiguousWriteError`` the caller reads
        back before posting again.
        """
        ...

    def set_status(self, complaint_id: int, *, status_code: int, note: str) -> None:
        """Ask for a status transition (CONTRACT §5: ``/process/{id}/status``)."""
        ...

    def request_reject(
        self,
        complaint_id: int,
        *,
        not_authority: bool,
        target_institution_id: int | None,
        reason: str,
    ) -> None:
        """Ask the platform's admin to archive or to forward a complaint.

        ``not_authority=False`` asks to archive it (insufficient supporting data);
        ``not_authority=True`` asks to forward it to ``target_institution_id`` (not our authority).
        The change happens only when an admin approves it, later.
        """
        ...


@dataclass(slots=True)
class InboxWalkReport:
    """What one inbox walk tells of its own consistency, filled by the adapter page by page (CONTRACT §6).

    Attributes:
        pages: pages read.
        totals: the paginator's ``total`` of each page, in order (``None``: a page without one).
        unreadable: rows yielded as ``MalformedRecord``.
    """

    pages: int = 0
    totals: list[int | None] = field(default_factory=list)
    unreadable: int = 0


class ReceiveOutcome(StrEnum):
    """What receiving a complaint snapshot did to the city's records."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class Received:
    """The result of :meth:`CityRecords.receive`.

    ``previous_agency_code`` is set when the case moved from one agency to another;
    ``new_thread_entries`` counts national thread entries stored for the first time;
    ``confirmed_own_entries`` counts the city's own follow-ups seen back on the national side;
    ``purge_lifted``: the case had been purged and its complaint is open again, so its content and
    reporter were stored again (UU 27/2022: kept while needed to handle the complaint).
    """

    outcome: ReceiveOutcome
    case_id: int
    agency_code: str
    previous_agency_code: str | None = None
    previous_state: str | None = None
    state: str | None = None
    previous_status_name: str | None = None
    new_thread_entries: int = 0
    confirmed_own_entries: int = 0
    purge_lifted: bool = False


@dataclass(frozen=True, slots=True)
class Receipt:
    """One complaint snapshot to store, and where the mapping sends it (see :meth:`CityRecords.receive`)."""

    snapshot: ComplaintSnapshot
    agency_code: str
    routing_rule: str
    state: CaseState | None


class CaseRecord(Protocol):
    """What the engine reads of a case in the city's system."""

    id: int | None
    complaint_id: int
    agency_code: str
    routing_rule: str
    state: str


class CityRecords(Protocol):
    """The city's own complaint records: where dispositions land and where agency staff act.

    The built-in store (``lapor_sync.adapters.city.builtin``) is one adapter; a city that runs its
    own complaint application gets another. Every staff action changes the case and writes its
    outbox row in one transaction, so a change is never lost nor announced twice.
    """

    def receive(
        self, snapshot: ComplaintSnapshot, *, agency_code: str, routing_rule: str, state: CaseState | None
    ) -> Received:
        """Create or update the case of ``snapshot.complaint`` and append new national thread entries.

        ``state`` is the internal state the national status maps to, or ``None`` to keep the
        current one (unknown status code, or a local change still waiting in the outbox).
        Agency follow-ups that come back from the national side are matched to their local entry
        by reference token, never stored twice.
        """
        ...

    def receive_many(self, receipts: Sequence[Receipt]) -> list[Received]:
        """Do what :meth:`receive` does for each receipt, at once (one page of the inbox).

        The receipts name distinct complaints; the results come in the same order. An adapter
        reads and writes the page in a few statements rather than a few per complaint.
        """
        ...

    def get_case(
        self, *, case_id: int | None = None, complaint_id: int | None = None, tracking_id: str | None = None
    ) -> CaseRecord:
        """Return one case by exactly one of its ids; raise ``LaporSyncError`` when there is none."""
        ...
