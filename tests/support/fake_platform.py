"""An in-memory SP4N-LAPOR! for engine tests: the ``NationalPlatform`` port without HTTP, with scripted errors.

It keeps one institution's complaints as domain objects and applies the contract's rules (CONTRACT §5): the
inbox walk (``updated_at >= since``, ordered by ``updated_at`` then ``complaint_id``, page by page over the
live set), the detail and its thread, follow-ups stored as posted after the platform's normalisation and never
deduplicated, the status transitions an institution may ask for, and reject requests that change nothing
until the platform's admin decides them. Content normalisation and the transition rules are the simulator's
own pure functions (:mod:`lapor_sync.simulator.rules`); the rest is held to the simulator by
``tests/e2e/test_platform_contract.py``, which runs the same cases against both.

Its refusals are the errors the real client raises for the platform's answers: an unknown complaint is
``ItemRejectedError`` (404), a write on a complaint no longer dispositioned to the city ``ItemRejectedError``
(403), a rule broken ``ItemRejectedError`` (422), a read of a complaint never dispositioned to the city
``RunStoppingError`` (403 on a read). Time is the clock it is given; the admin acts only when
:meth:`FakePlatform.decide_requests` is called.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from lapor_sync.domain.clock import Clock
from lapor_sync.domain.complaint import (
    AuthorType,
    Complaint,
    ComplaintSnapshot,
    InboxItem,
    MalformedRecord,
    StatusLogEntry,
    ThreadEntry,
)
from lapor_sync.domain.errors import ItemRejectedError, LaporSyncError, RunStoppingError
from lapor_sync.domain.ports import InboxWalkReport
from lapor_sync.domain.status import NATIONAL_STATUS_NAMES, NationalStatus
from lapor_sync.simulator import rules
from tests.support import factories

CITY = 6271
"""Pemerintah Kota Palangka Raya, the city of the packaged mapping."""
SUB_UNITS = frozenset(range(627101, 627113))
"""The city's agencies on the platform (Dinas PUPR 627101 ... Dinas Pertanian 627112)."""
PORT_METHODS = frozenset(
    {"walk_inbox", "fetch_complaint", "list_followups", "post_followup", "set_status", "request_reject"}
)
T = TypeVar("T")


@dataclass
class _Failure:
    """A scripted error: raised by the next call of ``method`` (about ``complaint_id``, when given)."""

    method: str
    error: LaporSyncError
    complaint_id: int | None
    applied: bool


@dataclass(frozen=True)
class RejectRequest:
    """A pending archive (``not_authority`` False) or forward request, waiting for the admin."""

    not_authority: bool
    target_institution_id: int | None
    reason: str


@dataclass
class _Record:
    """One complaint as the platform holds it."""

    complaint: Complaint
    status_log: list[StatusLogEntry]
    thread: list[ThreadEntry] = field(default_factory=list)
    request: RejectRequest | None = None
    ever_dispositioned_to_city: bool = True


class FakePlatform:
    """The national platform of one institution (and its sub-units), in memory; implements ``NationalPlatform``.

    Args:
        clock: "now" of the platform; stamps are cut to whole seconds, the platform's precision (CONTRACT §2).
        institution_id: the caller's institution.
        sub_units: its sub-units: complaints dispositioned to them are in the caller's inbox too.
        per_page: inbox rows per page; each page is computed when the walk reaches it, so rows that change
            during a walk move between pages as they do on the platform (page drift, CONTRACT §2).

    Attributes:
        calls: every port call as ``(method, complaint_id)``, in order (``None`` for the inbox walk).
    """

    def __init__(
        self, clock: Clock, *, institution_id: int = CITY, sub_units: frozenset[int] = SUB_UNITS, per_page: int = 100
    ) -> None:
        self.clock = clock
        self.tree = frozenset({institution_id, *sub_units})
        self.per_page = per_page
        self.calls: list[tuple[str, int | None]] = []
        self._records: dict[int, _Record] = {}
        self._malformed_rows: list[tuple[datetime, MalformedRecord]] = []
        self._failures: list[_Failure] = []
        self._failures_lock = threading.Lock()  # the pull reads complaints from several threads at once
        self._complaint_ids = itertools.count(3_100_001)
        self._followup_ids = itertools.count(1)

    # -- what happens on the national side (test controls) --------------------------------------

    def add_complaint(self, **changes: object) -> Complaint:
        """Disposition a new complaint now (to Dinas Sosial unless ``disposition_id`` says otherwise).

        ``changes`` are fields of :class:`~lapor_sync.domain.complaint.Complaint`; the default is
        ``tests.support.factories.complaint``: verified, public, with a fictitious reporter, filed an hour
        before. Its status history, as the simulator's: received when filed, verified now.
        """
        now = self._now()
        complaint_id = next(self._complaint_ids)
        fields: dict[str, object] = {"created_at": now - timedelta(hours=1), "updated_at": now, **changes}
        if isinstance(status_code := changes.get("status_code"), int):
            fields.setdefault("status_name", NATIONAL_STATUS_NAMES[status_code])
        if "disposition_id" in changes:
            fields.setdefault("disposition_name", None)  # the factory's name is Dinas Sosial's
        complaint = factories.complaint(complaint_id, **fields)
        received = StatusLogEntry(
            NationalStatus.UNVERIFIED, NATIONAL_STATUS_NAMES[0], "Laporan diterima", complaint.created_at
        )
        verified = StatusLogEntry(complaint.status_code, complaint.status_name, "Laporan didisposisikan", now)
        self._records[complaint_id] = _Record(
            complaint,
            [received, verified],
            ever_dispositioned_to_city=complaint.disposition_id in self.tree,
        )
        return complaint

    def add_malformed_row(self, reason: str, *, complaint_id: int | None = None, raw: object = None) -> None:
        """Put a row in the inbox, updated now, that cannot be read: the walk yields it as a ``MalformedRecord``."""
        self._malformed_rows.append((self._now(), MalformedRecord(complaint_id, reason, raw)))

    def add_reporter_reply(self, complaint_id: int, content: str) -> ThreadEntry:
        """The reporter answers in the complaint's thread now; the complaint's ``updated_at`` moves."""
        return self._append(self._record(complaint_id), AuthorType.REPORTER, None, content, is_secret=False)

    def complete(self, complaint_id: int, note: str = "Ditutup otomatis") -> None:
        """The platform closes the complaint by itself (auto-close after 10 working days, CONTRACT §3)."""
        self._change_status(self._record(complaint_id), NationalStatus.COMPLETED, note)

    def decide_requests(self) -> None:
        """The platform's admin approves every pending reject request (CONTRACT §5, ``/reject``).

        An archive request makes the complaint Diarsipkan; a forward gives it to the target institution, as
        Terverifikasi, and so takes it out of the caller's inbox, with no tombstone.
        """
        for record in self._records.values():
            request, record.request = record.request, None
            if request is None or NationalStatus(record.complaint.status_code).is_final:
                continue
            if not request.not_authority:
                self._change_status(record, NationalStatus.ARCHIVED, request.reason)
                continue
            record.complaint = replace(
                record.complaint,
                disposition_id=request.target_institution_id,
                disposition_name=None,
                updated_at=self._now(),
            )
            if record.complaint.status_code != NationalStatus.VERIFIED:
                self._change_status(record, NationalStatus.VERIFIED, request.reason)

    def fail_next(
        self, method: str, error: LaporSyncError, *, complaint_id: int | None = None, applied: bool = False
    ) -> None:
        """Script an error: the next call of ``method`` (about ``complaint_id``, when given) raises ``error``.

        Args:
            method: a port method, e.g. ``"post_followup"``; a walk fails when it starts.
            error: what to raise: ``TransientError``, ``AmbiguousWriteError``, ``RunStoppingError``,
                ``ItemRejectedError`` or ``MalformedRecordError``.
            complaint_id: only a call about this complaint fails; others pass.
            applied: the write is made before the error is raised (an answer lost after the platform
                stored it: CONTRACT §6, read back before posting again).

        Raises:
            ValueError: ``method`` is not a port method.
        """
        if method not in PORT_METHODS:
            raise ValueError(f"{method!r} is not a method of the NationalPlatform port")
        self._failures.append(_Failure(method, error, complaint_id, applied))

    def pending_request(self, complaint_id: int) -> RejectRequest | None:
        """The complaint's reject request still waiting for the admin, if any."""
        return self._records[complaint_id].request

    def thread(self, complaint_id: int) -> list[ThreadEntry]:
        """The complaint's thread as the platform holds it, oldest first (no call recorded, no error raised)."""
        return sorted(self._records[complaint_id].thread, key=lambda e: (e.created_at, e.national_id))

    def complaint(self, complaint_id: int) -> Complaint:
        """The complaint as the platform holds it now (no call recorded, no error raised)."""
        return self._records[complaint_id].complaint

    # -- the NationalPlatform port --------------------------------------------------------------

    def walk_inbox(
        self, updated_since: datetime, report: InboxWalkReport | None = None
    ) -> Iterator[InboxItem | MalformedRecord]:
        """Walk the inbox from ``updated_since`` (inclusive), one page at a time over the live set.

        ``report`` gets each page's ``total`` (the live set's size when the page is read) and its
        unreadable rows, as the HTTP adapter fills it.
        """
        self._scripted("walk_inbox", None, lambda: None)
        report = InboxWalkReport() if report is None else report
        page = 0
        while True:
            rows = self._inbox(updated_since)
            report.pages += 1
            report.totals.append(len(rows))
            for entry in rows[page * self.per_page : (page + 1) * self.per_page]:
                report.unreadable += isinstance(entry, MalformedRecord)
                yield entry
            page += 1
            if page * self.per_page >= len(rows):
                return

    def fetch_complaint(self, complaint_id: int, *, unchanged_since: datetime | None = None) -> ComplaintSnapshot:
        """Return the complaint, its status history and its thread (sorted by ``created_at``, then id).

        The thread is ``None`` (not read: one request, not two) when ``updated_at`` equals ``unchanged_since``.
        """

        def read() -> ComplaintSnapshot:
            record = self._readable(complaint_id)
            if unchanged_since is not None and record.complaint.updated_at == unchanged_since:
                return ComplaintSnapshot(record.complaint, tuple(record.status_log), None)
            thread = tuple(self.thread(complaint_id))
            return ComplaintSnapshot(record.complaint, tuple(record.status_log), thread, requests=2)

        return self._scripted("fetch_complaint", complaint_id, read)

    def list_followups(self, complaint_id: int) -> list[ThreadEntry]:
        """Return the complaint's thread, sorted by ``created_at``, then id."""

        def read() -> list[ThreadEntry]:
            self._readable(complaint_id)
            return self.thread(complaint_id)

        return self._scripted("list_followups", complaint_id, read)

    def post_followup(self, complaint_id: int, *, institution_id: int, content: str, is_secret: bool) -> ThreadEntry:
        """Store a follow-up, normalised and never deduplicated; a Terverifikasi complaint becomes Dalam Proses."""

        def write() -> ThreadEntry:
            record = self._writable(complaint_id)
            if institution_id not in self.tree:
                raise ItemRejectedError("institution_from_id is not your institution.", status=403)
            entry = self._append(record, AuthorType.INSTITUTION, institution_id, content, is_secret=is_secret)
            if record.complaint.status_code == NationalStatus.VERIFIED:
                self._change_status(record, NationalStatus.IN_PROCESS, "Laporan sedang ditindaklanjuti")
            return entry

        return self._scripted("post_followup", complaint_id, write)

    def set_status(self, complaint_id: int, *, status_code: int, note: str) -> None:
        """Apply a status transition an institution may ask for; Selesai only after its follow-up."""

        def write() -> None:
            record = self._writable(complaint_id)
            own_followup = any(e.author_type is AuthorType.INSTITUTION for e in record.thread)
            _refused_as_item(
                rules.check_transition, record.complaint.status_code, status_code, has_institution_followup=own_followup
            )
            self._change_status(record, status_code, note)

        self._scripted("set_status", complaint_id, write)

    def request_reject(
        self, complaint_id: int, *, not_authority: bool, target_institution_id: int | None, reason: str
    ) -> None:
        """Record a request for the admin (it replaces an earlier one); nothing visible changes until decided.

        Raises:
            ValueError: a forward without ``target_institution_id``, or an archive with one (as the client).
        """
        if not_authority != (target_institution_id is not None):
            raise ValueError("a forward needs a target institution; an archive request takes none")

        def write() -> None:
            record = self._writable(complaint_id)
            if not reason.strip():
                raise ItemRejectedError("The reason description is required.", status=422)
            if not_authority and target_institution_id == record.complaint.disposition_id:
                raise ItemRejectedError("Choose another known institution.", status=422)
            record.request = RejectRequest(not_authority, target_institution_id, reason.strip())

        self._scripted("request_reject", complaint_id, write)

    # -- inside -------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.clock.now().replace(microsecond=0)

    def _scripted(self, method: str, complaint_id: int | None, call: Callable[[], T]) -> T:
        """Make the call, unless a scripted failure is due: then raise it (after the write, if ``applied``)."""
        with self._failures_lock:
            self.calls.append((method, complaint_id))
            failure = next(
                (f for f in self._failures if f.method == method and f.complaint_id in (None, complaint_id)),
                None,
            )
            if failure is not None:
                self._failures.remove(failure)
        if failure is None:
            return call()
        if failure.applied:
            call()
        raise failure.error

    def _inbox(self, updated_since: datetime) -> list[InboxItem | MalformedRecord]:
        rows: list[tuple[datetime, int, InboxItem | MalformedRecord]] = [
            (
                r.complaint.updated_at,
                r.complaint.complaint_id,
                InboxItem(r.complaint.complaint_id, r.complaint.updated_at, r.complaint.tracking_id),
            )
            for r in self._records.values()
            if r.complaint.disposition_id in self.tree
        ]
        rows += [(at, row.complaint_id or 0, row) for at, row in self._malformed_rows]
        return [row for at, _, row in sorted(rows, key=lambda r: r[:2]) if at >= updated_since]

    def _record(self, complaint_id: int) -> _Record:
        record = self._records.get(complaint_id)
        if record is None:
            raise ItemRejectedError(f"Complaint {complaint_id} not found.", status=404)
        return record

    def _readable(self, complaint_id: int) -> _Record:
        record = self._record(complaint_id)
        if not record.ever_dispositioned_to_city:
            raise RunStoppingError(f"Complaint {complaint_id} is not dispositioned to your institution.", status=403)
        return record

    def _writable(self, complaint_id: int) -> _Record:
        record = self._readable(complaint_id)
        if record.complaint.disposition_id not in self.tree:
            raise ItemRejectedError(
                f"Complaint {complaint_id} is no longer dispositioned to your institution.", status=403
            )
        _refused_as_item(rules.check_writable, record.complaint.status_code)
        return record

    def _append(
        self, record: _Record, author: AuthorType, institution_id: int | None, content: str, *, is_secret: bool
    ) -> ThreadEntry:
        text = rules.normalise_content(content)
        if not text:
            raise ItemRejectedError("The content field is required.", status=422)
        entry = ThreadEntry(
            national_id=next(self._followup_ids),
            author_type=author,
            institution_id=institution_id,
            institution_name=None,
            content=text,
            rating=0,
            is_secret=is_secret,
            created_at=self._now(),
            complaint_id=record.complaint.complaint_id,
        )
        record.thread.append(entry)
        record.complaint = replace(record.complaint, updated_at=entry.created_at)
        return entry

    def _change_status(self, record: _Record, status_code: int, note: str | None) -> None:
        now, name = self._now(), NATIONAL_STATUS_NAMES[status_code]
        record.status_log.append(StatusLogEntry(status_code, name, note, now))
        record.complaint = replace(record.complaint, status_code=status_code, status_name=name, updated_at=now)


def _refused_as_item(rule: Callable[..., None], *args: object, **kwargs: object) -> None:
    """Apply one of the simulator's rules; its refusal is what the client makes of the answer: ``ItemRejectedError``."""
    try:
        rule(*args, **kwargs)
    except rules.SimulatorError as refused:
        raise ItemRejectedError(refused.message, status=refused.status) from None
