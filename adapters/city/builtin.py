"""The built-in city records: cases, threads and staff actions kept in lapor-sync's own database.

This adapter implements :class:`lapor_sync.domain.ports.CityRecords` on a SQLModel session. It
never commits: the caller's unit of work does, so the case change, its outbox row and its sync
event land together or not at all. Texts are stored as received, made valid (NUL characters and
lone surrogates removed, :mod:`lapor_sync.domain.text`) with their length as received: a
complaint's texts arrive valid from the national adapter, staff texts are made valid here.

A purged case (``Case.purged_at``, see :mod:`lapor_sync.sync.admin.purge`) stays purged while it is
closed: receiving its complaint again (a pull after a change, a ``resync``) updates status,
disposition and the other non-personal fields, and stores new thread entries with
:data:`~lapor_sync.storage.models.PURGED_TEXT`, never the reporter, title, content or place. If
LAPOR! reopens the complaint, agency staff need its words again: they are stored once more from
LAPOR! and ``purged_at`` is cleared (``Received.purge_lifted``); thread entries purged before stay
purged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, update
from sqlmodel import Session, col, select

from lapor_sync.domain.actions import ActionRefused, AgencyAction, check_action, merge_state
from lapor_sync.domain.clock import Clock
from lapor_sync.domain.complaint import AuthorType, Complaint, ComplaintSnapshot
from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.domain.outbox import WAITING, OutboxState
from lapor_sync.domain.ports import Receipt, Received, ReceiveOutcome
from lapor_sync.domain.reference import find_reference, new_reference, tag_content
from lapor_sync.domain.routing import CityMapping, NationalCall, NationalCallKind
from lapor_sync.domain.status import CaseState, NationalStatus
from lapor_sync.domain.text import ReceivedText, receive_text
from lapor_sync.storage.models import PURGED_TEXT, Case, OutboxItem, ThreadEntry


class CaseNotFound(LaporSyncError):
    """No case matches the given case id, complaint id or tracking id."""


def _received_length(text: str, received_length: int | None) -> int:
    """The length a text had as received (``None`` from the source: it was valid, so ``len(text)``)."""
    return len(text) if received_length is None else received_length


def _dispositioned_at(snapshot: ComplaintSnapshot) -> datetime:
    """When the complaint was verified and dispositioned: its first Terverifikasi status entry."""
    verified = [e.at for e in snapshot.status_log if e.status_code == NationalStatus.VERIFIED]
    return min(verified) if verified else snapshot.complaint.created_at


def _complaint_columns(complaint: Complaint, *, personal: bool = True) -> dict[str, object]:
    """A case's columns copied from its complaint; ``personal=False`` (a purged case) leaves reporter, texts and place out."""
    columns: dict[str, object] = {
        "tracking_id": complaint.tracking_id,
        "classification_name": complaint.classification_name,
        "category_id": complaint.category_id,
        "category_name": complaint.category_name,
        "national_status_code": complaint.status_code,
        "national_status_name": complaint.status_name,
        "disposition_id": complaint.disposition_id,
        "disposition_name": complaint.disposition_name,
        "is_anonymous": complaint.is_anonymous,
        "is_secret": complaint.is_secret,
        "is_priority": complaint.is_priority,
        "channel_name": complaint.channel_name,
        "date_of_incident": complaint.date_of_incident,
    }
    if not personal:
        return columns
    # An anonymous complaint keeps no reporter identity, whatever was stored before.
    reporter = None if complaint.is_anonymous else complaint.reporter
    return columns | {
        "title": complaint.title,
        "content": complaint.content,
        "content_length": _received_length(complaint.content, complaint.content_length),
        "location_name": complaint.location_name,
        "reporter_name": reporter.name if reporter else None,
        "reporter_email": reporter.email if reporter else None,
        "reporter_phone": reporter.phone if reporter else None,
    }


class _ThreadWrites:
    """The thread entries a page of receipts adds and the own entries it links, written in two statements at most."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.links: list[dict[str, Any]] = []

    def add(self, case_id: int, snapshot: ComplaintSnapshot, stored: Sequence[Row], *, purged: bool) -> tuple[int, int]:
        """Note the new national entries of one case; link returning own ones. Returns (stored, linked).

        Args:
            case_id: the case.
            snapshot: the complaint as read, with its whole thread.
            stored: the case's stored entries (``id``, ``national_id``, ``reference``).
            purged: the case is purged: new entries keep no words (:data:`PURGED_TEXT`).
        """
        known = {e.national_id for e in stored if e.national_id is not None}
        # From the list, not from ``known``: every unlinked agency entry waits to be matched.
        by_reference = {e.reference: e.id for e in stored if e.reference and e.national_id is None}
        added = linked = 0
        for entry in snapshot.thread:
            if entry.national_id in known:
                continue
            reference = find_reference(entry.content) if entry.author_type is AuthorType.INSTITUTION else None
            own = by_reference.get(reference) if reference else None
            if own is not None:
                # Our own follow-up, back from the national side: link it, never store it twice.
                self.links.append({"entry_id": own, "linked_national_id": entry.national_id})
                linked += 1
                continue
            self.entries.append(
                {
                    "case_id": case_id,
                    "origin": "national",
                    "author_type": entry.author_type.value,
                    "national_id": entry.national_id,
                    "institution_id": entry.institution_id,
                    "content": PURGED_TEXT if purged else entry.content,
                    "content_length": 0 if purged else _received_length(entry.content, entry.content_length),
                    "rating": entry.rating,
                    "is_secret": entry.is_secret,
                    "reference": reference,
                    "created_at": entry.created_at,
                }
            )
            added += 1
        return added, linked

    def execute(self, connection: Connection) -> None:
        """Write what was noted, each kind in one statement executed many at once."""
        table = ThreadEntry.__table__
        if self.entries:
            connection.execute(insert(table), self.entries)
        if self.links:
            link = update(table).where(table.c.id == bindparam("entry_id"))
            connection.execute(link.values(national_id=bindparam("linked_national_id")), self.links)


_STATE_AFTER = {AgencyAction.FOLLOWUP: CaseState.IN_PROGRESS, AgencyAction.COMPLETE: CaseState.COMPLETED}
"""The case state a staff action sets. Return and forward are requests a LAPOR! admin approves later:
the case stays as it is until a pull brings the outcome."""

# A staff action's statements, built once (bound per call): building and keying an ORM select for
# every action was a quarter of a demo's staff rounds. The selects run through the session, so that
# what it holds unflushed is flushed first, as before.
_INSERT_ENTRY = insert(ThreadEntry.__table__).returning(ThreadEntry.__table__.c.id)
_HAS_INSTITUTION_FOLLOWUP = (
    select(ThreadEntry.id)
    .where(ThreadEntry.case_id == bindparam("case_id"), ThreadEntry.author_type == AuthorType.INSTITUTION.value)
    .limit(1)
)
_REQUEST_WAITING = (
    select(OutboxItem.id)
    .where(
        OutboxItem.case_id == bindparam("case_id"),
        col(OutboxItem.kind).in_([AgencyAction.RETURN.value, AgencyAction.FORWARD.value]),
        col(OutboxItem.state).in_([*WAITING, OutboxState.DELIVERED]),
    )
    .limit(1)
)


def _sent_with(
    call: NationalCall, key: str, text: str, *, is_secret: bool, target_institution_id: int | None
) -> dict[str, object]:
    """What ``call`` sends besides its own argument, as outbox payload keys.

    A follow-up's ``content`` (``text`` behind the reference token ``key``) and ``is_secret``; a
    status change's ``note``; a reject request's ``reason`` and ``target_institution_id``.
    """
    if call.call is NationalCallKind.FOLLOWUP:
        return {"content": tag_content(key, text), "is_secret": is_secret}
    if call.call is NationalCallKind.STATUS:
        return {"note": text}
    return {"target_institution_id": target_institution_id, "reason": text}


class BuiltinCityRecords:
    """City records in lapor-sync's own tables.

    Args:
        session: the unit of work's session; this class never commits.
        mapping: the city's mapping: rows are scoped to its institution, and its ``action_map``
            decides the national call each staff action queues.
        clock: where "now" comes from (aware UTC).
    """

    def __init__(self, session: Session, *, mapping: CityMapping, clock: Clock) -> None:
        self.session = session
        self.mapping = mapping
        self.institution_id = mapping.institution.id
        self.clock = clock

    # -- receiving dispositions -------------------------------------------------------------

    def receive(
        self, snapshot: ComplaintSnapshot, *, agency_code: str, routing_rule: str, state: CaseState | None
    ) -> Received:
        """Create or update the case for ``snapshot`` (see :meth:`CityRecords.receive`)."""
        [received] = self.receive_many([Receipt(snapshot, agency_code, routing_rule, state)])
        return received

    def receive_many(self, receipts: Sequence[Receipt]) -> list[Received]:
        """Create or update the cases of several complaints (see :meth:`CityRecords.receive_many`).

        A handful of statements for the whole page: the existing cases, their threads and their
        pending status changes are read in one query each and updated through the session; new
        cases, thread entries and links are written by Core statements executed many at once (no
        ORM object per row). The receipts must name distinct complaints.
        """
        ids = [receipt.snapshot.complaint.complaint_id for receipt in receipts]
        existing = {
            case.complaint_id: case
            for case in self.session.exec(
                select(Case).where(Case.institution_id == self.institution_id, col(Case.complaint_id).in_(ids))
            )
        }
        now = self.clock.now()
        created = self._insert_cases([r for r in receipts if r.snapshot.complaint.complaint_id not in existing], now)
        case_ids = [case.id for case in existing.values() if case.id is not None]
        threads, pending = self._threads(case_ids), self._status_pending(case_ids)
        thread = _ThreadWrites()
        results = []
        for receipt in receipts:
            complaint_id = receipt.snapshot.complaint.complaint_id
            case = existing.get(complaint_id)
            if case is None:
                results.append(self._created(receipt, created[complaint_id], thread))
            else:
                results.append(self._update(case, receipt, threads.get(case.id, []), case.id in pending, thread))
        thread.execute(self.session.connection())
        return results

    def _insert_cases(self, receipts: Sequence[Receipt], now: datetime) -> dict[int, int]:
        """Insert the cases of complaints new to the city in one statement, read their ids in one more; return them by complaint id."""
        if not receipts:
            return {}
        table, connection = Case.__table__, self.session.connection()
        rows = [self._new_case(receipt, now) for receipt in receipts]
        # A plain INSERT executed many at once, then the new ids read in one query (the unique key is
        # institution and complaint). Not INSERT ... RETURNING: SQLAlchemy sends that to PostgreSQL as
        # one statement with a placeholder per column and row, which psycopg parses in Python each
        # time (too long for its cache): 30 columns × a page of 100 rows cost more CPU than the page's requests.
        connection.execute(insert(table), rows)
        ids = select(table.c.complaint_id, table.c.id).where(
            table.c.institution_id == self.institution_id,
            table.c.complaint_id.in_([row["complaint_id"] for row in rows]),
        )
        return {complaint_id: case_id for complaint_id, case_id in connection.execute(ids)}

    def _new_case(self, receipt: Receipt, now: datetime) -> dict[str, object]:
        """The columns of a new case: the complaint's, its routing, and its state (``NEW`` when unknown)."""
        complaint, state = receipt.snapshot.complaint, receipt.state or CaseState.NEW
        return {
            "institution_id": self.institution_id,
            "complaint_id": complaint.complaint_id,
            "agency_code": receipt.agency_code,
            "routing_rule": receipt.routing_rule,
            "state": state.value,
            "closed_at": None if state.is_open else now,
            "complaint_created_at": complaint.created_at,
            "dispositioned_at": _dispositioned_at(receipt.snapshot),
            "received_at": now,
            "purged_at": None,
            **_complaint_columns(complaint),
        }

    @staticmethod
    def _created(receipt: Receipt, case_id: int, thread: _ThreadWrites) -> Received:
        """What receiving a complaint new to the city did: its case, and its whole thread stored."""
        new_entries, _ = thread.add(case_id, receipt.snapshot, [], purged=False)
        state = (receipt.state or CaseState.NEW).value
        return Received(
            ReceiveOutcome.CREATED, case_id, receipt.agency_code, state=state, new_thread_entries=new_entries
        )

    def _update(
        self, case: Case, receipt: Receipt, stored: Sequence[Row], status_pending: bool, thread: _ThreadWrites
    ) -> Received:
        """Update an existing case from ``receipt``: complaint fields, agency, state, new thread entries."""
        previous_agency, previous_state, previous_status = case.agency_code, case.state, case.national_status_name
        merged = merge_state(CaseState(case.state), receipt.state, local_change_pending=status_pending)
        purge_lifted = case.purged_at is not None and merged.is_open
        if purge_lifted:
            case.purged_at = None
        for name, value in _complaint_columns(receipt.snapshot.complaint, personal=case.purged_at is None).items():
            setattr(case, name, value)
        if receipt.agency_code != case.agency_code:
            case.agency_code, case.routing_rule = receipt.agency_code, receipt.routing_rule
        self._set_state(case, merged)
        new_entries, confirmed = thread.add(case.id, receipt.snapshot, stored, purged=case.purged_at is not None)
        self.session.add(case)
        return Received(
            ReceiveOutcome.UPDATED,
            case.id,
            case.agency_code,
            previous_agency_code=previous_agency if previous_agency != case.agency_code else None,
            previous_state=previous_state,
            state=case.state,
            previous_status_name=previous_status,
            new_thread_entries=new_entries,
            confirmed_own_entries=confirmed,
            purge_lifted=purge_lifted,
        )

    def _set_state(self, case: Case, state: CaseState) -> None:
        if case.state != state.value:
            case.state = state.value
            case.closed_at = None if state.is_open else self.clock.now()

    def _status_pending(self, case_ids: Sequence[int]) -> set[int]:
        """The cases among ``case_ids`` with a status change of their own still waiting in the outbox."""
        if not case_ids:
            return set()
        kinds = [a.value for a in (AgencyAction.COMPLETE, AgencyAction.RETURN, AgencyAction.FORWARD)]
        query = select(OutboxItem.case_id).where(
            col(OutboxItem.case_id).in_(case_ids), col(OutboxItem.kind).in_(kinds), col(OutboxItem.state).in_(WAITING)
        )
        return set(self.session.exec(query))

    def _threads(self, case_ids: Sequence[int]) -> dict[int, list[Row]]:
        """The stored thread entries of ``case_ids`` (id, case id, national id, reference), by case id."""
        threads: dict[int, list[Row]] = {}
        if not case_ids:
            return threads
        query = select(ThreadEntry.id, ThreadEntry.case_id, ThreadEntry.national_id, ThreadEntry.reference).where(
            col(ThreadEntry.case_id).in_(case_ids)
        )
        for row in self.session.exec(query):
            threads.setdefault(row.case_id, []).append(row)
        return threads

    # -- looking cases up -------------------------------------------------------------------

    def find_by_complaint(self, complaint_id: int) -> Case | None:
        """Return the case of national complaint ``complaint_id``, or ``None``."""
        return self.session.exec(
            select(Case).where(Case.institution_id == self.institution_id, Case.complaint_id == complaint_id)
        ).first()

    def get_case(
        self, *, case_id: int | None = None, complaint_id: int | None = None, tracking_id: str | None = None
    ) -> Case:
        """Return one case by exactly one of its ids; raise :class:`CaseNotFound` otherwise."""
        query = select(Case).where(Case.institution_id == self.institution_id)
        if case_id is not None:
            query = query.where(Case.id == case_id)
        elif complaint_id is not None:
            query = query.where(Case.complaint_id == complaint_id)
        elif tracking_id is not None:
            query = query.where(Case.tracking_id == tracking_id.lstrip("#"))
        else:
            raise CaseNotFound("name a case id, complaint id or tracking id")
        case = self.session.exec(query).first()
        if case is None:
            raise CaseNotFound("no case with that id in the city's records")
        return case

    def thread(self, case_id: int) -> list[ThreadEntry]:
        """Return a case's thread, oldest first."""
        return list(
            self.session.exec(
                select(ThreadEntry)
                .where(ThreadEntry.case_id == case_id)
                .order_by(ThreadEntry.created_at, ThreadEntry.id)
            )
        )

    # -- staff actions ----------------------------------------------------------------------

    def act(
        self,
        case: Case,
        action: AgencyAction,
        *,
        institution_id: int,
        content: str = "",
        is_secret: bool | None = None,
        target_institution_id: int | None = None,
    ) -> OutboxItem:
        """Apply a staff action to ``case`` and queue, in the outbox, the national call that reports it.

        The call is the one the mapping's ``action_map`` declares for ``action``
        (:meth:`~lapor_sync.domain.routing.CityMapping.national_call_for`). The row stores it in its
        payload (:meth:`~lapor_sync.domain.routing.NationalCall.as_payload`) beside what that call
        sends, so the pusher makes, and reads back, the call declared when staff acted, whatever the
        mapping says by then. What the action does to the case does not depend on the call: a
        follow-up is kept in the case's thread and moves it to ``in_progress``, a completion closes
        it, a return or a forward leaves it as it is until LAPOR! says otherwise.

        Args:
            case: the case, from this session.
            action: what staff do.
            institution_id: the national institution the call is made as (the agency's sub-unit).
            content: the follow-up text, or the reason for complete/return/forward; stored and sent
                without NUL characters and lone surrogates (a file or a terminal can carry them).
            is_secret: whether a follow-up is confidential; ``None`` takes the complaint's own
                confidentiality, so a reply on a confidential (rahasia) complaint is never
                published by a forgotten flag.
            target_institution_id: for ``forward``, the institution to forward to.

        Returns:
            The outbox row, flushed (it has an id) but not committed.

        Raises:
            ActionRefused: the case's state or the national rules forbid the action.
        """
        # Only a completion depends on an earlier follow-up (check_action): the query is made for it alone.
        has_followup = action is not AgencyAction.COMPLETE or self._has_institution_followup(case)
        check_action(action, CaseState(case.state), has_institution_followup=has_followup)
        if action in (AgencyAction.RETURN, AgencyAction.FORWARD) and self._request_waiting(case):
            raise ActionRefused("a return or forward request for this case is already waiting for LAPOR!'s admin")
        now = self.clock.now()
        key = new_reference()
        written = receive_text(content)
        is_secret = case.is_secret if is_secret is None else is_secret
        entry_id = None
        if action is AgencyAction.FOLLOWUP:
            entry_id = self._own_followup(case, institution_id, written, is_secret, key, now)
        if state := _STATE_AFTER.get(action):
            self._set_state(case, state)
        call = self.mapping.national_call_for(action)
        item = OutboxItem(
            case_id=case.id,
            institution_id=self.institution_id,
            complaint_id=case.complaint_id,
            tracking_id=case.tracking_id,
            kind=action.value,
            payload={
                **call.as_payload(),
                **_sent_with(call, key, written.text, is_secret=is_secret, target_institution_id=target_institution_id),
                "institution_id": institution_id,
            },
            idempotency_key=key,
            state=OutboxState.PENDING,
            next_attempt_at=now,
            created_at=now,
            thread_entry_id=entry_id,
        )
        self.session.add(case)
        self.session.add(item)
        self.session.flush()
        return item

    def _own_followup(
        self, case: Case, institution_id: int, written: ReceivedText, is_secret: bool, key: str, now: datetime
    ) -> int:
        """Keep a staff follow-up in the case's thread and return its id; its reference token links it to LAPOR!'s copy.

        One Core INSERT ... RETURNING, no ORM object: the outbox row needs only the entry's id, and an
        ORM entry cost a flush of its own before the row's (a demo's staff round posts ~2,000).
        """
        row = {
            "case_id": case.id,
            "origin": "agency",
            "author_type": AuthorType.INSTITUTION.value,
            "national_id": None,
            "institution_id": institution_id,
            "content": written.text,
            "content_length": written.received_length,
            "rating": 0,
            "is_secret": is_secret,
            "reference": key,
            "created_at": now,
        }
        entry_id: int = self.session.connection().execute(_INSERT_ENTRY, row).scalar_one()
        return entry_id

    def _request_waiting(self, case: Case) -> bool:
        found = self.session.exec(_REQUEST_WAITING, params={"case_id": case.id}).first()
        return found is not None

    def _has_institution_followup(self, case: Case) -> bool:
        found = self.session.exec(_HAS_INSTITUTION_FOLLOWUP, params={"case_id": case.id}).first()
        return found is not None
