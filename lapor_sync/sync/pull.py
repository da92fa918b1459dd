"""Pull: walk the national inbox, fetch what changed, and store it in the city's records.

The walk follows CONTRACT §6 (:class:`~lapor_sync.sync.watermark.InboxWatermark`): start from the
committed mark minus an overlap window (inclusive; just after the mark once that window is
settled), dedupe by complaint id and ``updated_at``, repeat the walk until one proves that nothing
was skipped (page drift), and advance the mark only after the whole pull succeeded. Open cases whose
complaint has not been seen for a while are read by detail, so that a complaint forwarded away,
archived or auto-closed on the national side is noticed even though it left the inbox (CONTRACT §5);
most urgent first and within a request budget (:mod:`lapor_sync.sync.recheck`).

Each complaint is stored in one unit of work (:class:`UnitOfWork`): its case, binding, sync events
and set-aside records commit together or not at all, and the counters of what was stored count only
once they did. ``fetched`` counts a read of LAPOR! as it happens: the read took place whether or
not its store commits.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from lapor_sync.domain.complaint import Complaint, ComplaintSnapshot, InboxItem, MalformedRecord
from lapor_sync.domain.errors import ConfigurationError, ItemRejectedError, MalformedRecordError
from lapor_sync.domain.fingerprint import snapshot_fingerprint
from lapor_sync.domain.personal_data import mask_personal_data
from lapor_sync.domain.ports import CityRecords, NationalPlatform, Received, ReceiveOutcome
from lapor_sync.domain.routing import CityMapping, Routing
from lapor_sync.domain.sla import SlaPolicy
from lapor_sync.domain.status import CaseState
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import PURGED_TEXT, Binding, Case, SetAsideRecord
from lapor_sync.sync.cursor import InboxCursor, advance_cursor, read_inbox_cursor
from lapor_sync.sync.journal import Level, RunJournal
from lapor_sync.sync.receive import record_receipt
from lapor_sync.sync.recheck import (
    RecheckBudget,
    RecheckLimits,
    budget_name,
    due_rechecks,
    record_spent,
    spent_on,
    wib_day,
)
from lapor_sync.sync.unit_of_work import UnitOfWork
from lapor_sync.sync.watermark import InboxWatermark, is_settled


@dataclass(frozen=True)
class PullOptions:
    """Tuning of one pull.

    Attributes:
        overlap: how far before the committed mark each walk starts (clock skew, second precision).
        initial_since: where the very first walk starts (aware).
        max_passes: walks per pull; an inbox still changing after them keeps the cursor where it was.
        recheck_after: how long an open case may go unseen before its detail is read again.
        recheck_limits: the requests rechecks may make per cycle and per WIB day (settings
            ``recheck_requests_per_cycle``, ``recheck_requests_per_day``).
        sla: the service levels that order the rechecks (most urgent first); ``None``: longest unseen first.
    """

    overlap: timedelta = timedelta(minutes=5)
    initial_since: datetime | None = None
    max_passes: int = 5
    recheck_after: timedelta = timedelta(hours=1)
    recheck_limits: RecheckLimits = RecheckLimits(per_cycle=60, per_day=1440)
    sla: SlaPolicy | None = None


@dataclass(frozen=True)
class _Route:
    """Where a complaint's case goes.

    Attributes:
        agency_code: the agency that handles it.
        rule: the routing rule recorded on the case.
        state: the case state its national status maps to (``None``: keep the current one).
        routing: the mapping's decision, or ``None`` for a complaint no longer the city's (kept with
            its agency, marked forwarded).
    """

    agency_code: str
    rule: str
    state: CaseState | None
    routing: Routing | None


class Puller:
    """Runs the pull half of a sync cycle.

    Args:
        db: the city's database.
        platform: the national platform port.
        mapping: the city's routing rules.
        city_records: builds the city-records port on a session (the unit of work's).
        options: see :class:`PullOptions`.
    """

    def __init__(
        self,
        db: Database,
        platform: NationalPlatform,
        mapping: CityMapping,
        city_records: Callable[[Session], CityRecords],
        options: PullOptions,
    ) -> None:
        self.db = db
        self.platform = platform
        self.mapping = mapping
        self.city_records = city_records
        self.options = options
        self.institution_id = mapping.institution.id

    def run(self, journal: RunJournal, *, reconcile: bool = True) -> None:
        """Pull once, then (``reconcile``) recheck open cases not seen lately, see :meth:`reconcile`.

        Walks the inbox until a walk proves that nothing was skipped, stores every row new to this
        pull, sets malformed rows aside, and moves the cursor to the watermark's position with the
        date of its proven walk (CONTRACT §6). On any error below the cursor stays where it was.

        Raises:
            ConfigurationError: there is no cursor yet and ``initial_since`` is not set.
            NationalPlatformError: the platform's errors that stop a run.
            RunInterrupted: a stop was requested (the journal's checkpoint between items).
            LeaseLost: the pull lease was lost (the same checkpoint).
        """
        cursor = self._mark(journal)
        watermark = InboxWatermark(
            cursor.position,
            overlap=self.options.overlap,
            max_passes=self.options.max_passes,
            walked_at=cursor.walked_at,
        )
        for _ in watermark.passes(journal.clock.now):
            for entry in self.platform.walk_inbox(watermark.start, watermark.report):
                journal.checkpoint()
                if isinstance(entry, MalformedRecord):
                    with self._unit_of_work(journal) as unit:
                        self._set_aside(unit, journal, entry)
                elif watermark.seen(entry):
                    binding = self._pull_one(journal, entry)
                    if binding is not None:
                        watermark.stored(binding.national_updated_at, checked_at=binding.last_checked_at)
        if watermark.busy:
            # Every row read is stored, but the last walk may have skipped one that moved under it
            # (CONTRACT §6, page drift): the mark stays, so the next run walks the same rows again.
            journal.standalone_event(
                "pull.inbox_busy",
                f"The inbox kept changing during {self.options.max_passes} walks: what was read "
                "is stored; the cursor stays where it was so the next pull walks these rows again.",
                level=Level.WARNING,
            )
        if reconcile:
            self._recheck_open_cases(journal, watermark.seen_complaints)
        position = watermark.position(journal.clock.now())
        if watermark.changes_cursor(position):
            self._advance_cursor(journal, position, walked_at=watermark.walked_at)

    def _mark(self, journal: RunJournal) -> InboxCursor:
        """Return the committed cursor, or ``initial_since`` (never walked) before the first successful pull."""
        with self._unit_of_work(journal) as unit:
            cursor = read_inbox_cursor(unit.session, self.institution_id)
        if cursor is not None:
            return cursor
        if self.options.initial_since is None:
            raise ConfigurationError("no cursor yet and no initial_since configured")
        return InboxCursor(self.options.initial_since, None)

    def _advance_cursor(self, journal: RunJournal, position: datetime, *, walked_at: datetime | None) -> None:
        """Move the cursor forward to ``position``, now that every row the pull read is stored; date its proven walk."""
        with self._unit_of_work(journal) as unit:
            advance_cursor(unit.session, self.institution_id, position, journal.clock.now(), walked_at=walked_at)

    @contextmanager
    def _unit_of_work(self, journal: RunJournal) -> Iterator[UnitOfWork]:
        """Open a unit of work; it commits once, on the way out (an exception rolls it back)."""
        with self.db.session() as session:
            unit = UnitOfWork(session, journal)
            yield unit
            unit.commit()

    def _pull_one(self, journal: RunJournal, item: InboxItem) -> Binding | None:
        """Store one inbox row if it may have changed; return its binding (``None``: set aside or not the city's)."""
        with self._unit_of_work(journal) as unit:
            binding = self._binding(unit.session, item.complaint_id)
            if binding is not None and not self._may_have_changed(binding, item):
                unit.count("unchanged")
                return binding
            # End the read: no transaction stays open while LAPOR! answers (a Retry-After may take minutes).
            unit.rollback()
            return self._fetch_and_store(unit, journal, item.complaint_id, seen_in_inbox=True)

    def _may_have_changed(self, binding: Binding, item: InboxItem) -> bool:
        """Whether an inbox row may hold a change not yet stored.

        A newer ``updated_at`` surely does. An equal one may too until :meth:`_settled`: timestamps
        have second precision (CONTRACT §2), so a change made after our last read but within the
        same second is invisible in ``updated_at``, however long ago that second is.
        """
        if item.updated_at != binding.national_updated_at:
            return item.updated_at > binding.national_updated_at
        return not self._settled(binding)

    def _settled(self, binding: Binding) -> bool:
        """Whether the binding's last read came after its ``national_updated_at`` second had surely ended."""
        return is_settled(binding.national_updated_at, binding.last_checked_at, self.options.overlap)

    def reconcile(self, journal: RunJournal) -> None:
        """Read by detail the open cases not seen for ``recheck_after``, under the recheck budget (CONTRACT §6).

        A complaint forwarded away, archived or auto-closed on the national side leaves the inbox;
        only its detail tells. Set-aside records are tried again too. The cursor is not touched.
        """
        self._recheck_open_cases(journal, frozenset())

    def _recheck_open_cases(self, journal: RunJournal, seen: frozenset[int]) -> None:
        """Read the open cases and set-aside records due for a recheck, except those in ``seen``, most urgent first.

        Stops when the cycle's or the day's budget is spent (:mod:`lapor_sync.sync.recheck`); the
        requests made are stored for the day, and an event ``pull.rechecked`` says how many were
        read and how many are still due.
        """
        now = journal.clock.now()
        name, day = budget_name(self.institution_id), wib_day(now)
        with self._unit_of_work(journal) as unit:
            due = due_rechecks(
                unit.session,
                self.institution_id,
                self.options.sla,
                due_since=now - self.options.recheck_after,
                now=now,
                overlap=self.options.overlap,
            )
            due = [candidate for candidate in due if candidate.complaint_id not in seen]
            if not due:
                return
            budget = RecheckBudget(self.options.recheck_limits, spent_today=spent_on(unit.session, name, day))
        rechecked = 0
        try:
            for candidate in due:
                if not budget.allows():
                    break
                journal.checkpoint()
                with self._unit_of_work(journal) as unit:
                    self._fetch_and_store(
                        unit,
                        journal,
                        candidate.complaint_id,
                        seen_in_inbox=candidate.set_aside,
                        unchanged_since=candidate.unchanged_since,
                        budget=budget,
                    )
                rechecked += 1
        finally:
            with self._unit_of_work(journal) as unit:
                record_spent(unit.session, name, day, budget.spent_today, journal.clock.now())
                journal.event(
                    unit.session,
                    "pull.rechecked",
                    f"Rechecked {rechecked} of {len(due)} complaints due ({budget.spent} requests; "
                    f"{budget.spent_today} of {self.options.recheck_limits.per_day} today); "
                    f"{len(due) - rechecked} still due.",
                )

    def reread(self, journal: RunJournal, complaint_id: int, *, seen_in_inbox: bool, known: bool) -> Binding | None:
        """Read one complaint by detail and store it under the current mapping (``lapor-sync resync``).

        Unlike a pull, an unchanged complaint is routed again, so a corrected mapping moves its case
        (event ``complaint.moved``); one the mapping decides the same way stays unchanged, no event.
        ``seen_in_inbox``: treat it as an inbox row (set-aside records, as :meth:`reconcile` does).
        ``known``: the city has a case or set-aside record of it; only then is a refusal set aside.
        Returns the binding, or ``None`` (set aside, or not the city's).

        Raises:
            ItemRejectedError: LAPOR! refused the detail call (e.g. 404) for a complaint not ``known``.
        """
        with self._unit_of_work(journal) as unit:
            return self._fetch_and_store(
                unit, journal, complaint_id, seen_in_inbox=seen_in_inbox, force=True, set_aside_refusal=known
            )

    def _fetch_and_store(
        self,
        unit: UnitOfWork,
        journal: RunJournal,
        complaint_id: int,
        *,
        seen_in_inbox: bool,
        force: bool = False,
        set_aside_refusal: bool = True,
        unchanged_since: datetime | None = None,
        budget: RecheckBudget | None = None,
    ) -> Binding | None:
        """Read one complaint and store it in ``unit``; return its binding (``None``: set aside or not the city's).

        ``unchanged_since`` and ``budget``: see :meth:`_fetch`.
        """
        snapshot = self._fetch(
            unit,
            journal,
            complaint_id,
            set_aside_refusal=set_aside_refusal,
            unchanged_since=unchanged_since,
            budget=budget,
        )
        if snapshot is None:
            return None
        try:
            binding = self._store(unit, journal, snapshot, seen_in_inbox=seen_in_inbox, force=force)
            unit.session.flush()  # a duplicate is refused here, while it can still be stored again
            return binding
        except IntegrityError:
            # Another worker stored the same complaint between our read and our insert; the
            # unique binding index refused the duplicate. Store again as an update, in a fresh unit.
            unit.rollback()
        with self._unit_of_work(journal) as again:
            return self._store(again, journal, snapshot, seen_in_inbox=seen_in_inbox, force=force)

    def _fetch(
        self,
        unit: UnitOfWork,
        journal: RunJournal,
        complaint_id: int,
        *,
        set_aside_refusal: bool,
        unchanged_since: datetime | None = None,
        budget: RecheckBudget | None = None,
    ) -> ComplaintSnapshot | None:
        """Read one complaint by detail; ``None``: it was malformed or refused, and is set aside in ``unit``.

        ``unchanged_since``: the stored, settled ``updated_at`` of a complaint with a binding; a
        detail showing it again skips the follow-ups (the snapshot's ``thread`` is ``None``: the
        store takes the unchanged path). ``budget``: the recheck budget its requests count against.

        Raises:
            ItemRejectedError: LAPOR! refused the detail call and ``set_aside_refusal`` is false.
        """
        requests = 1  # a read that fails has made its detail request at least
        try:
            snapshot = self.platform.fetch_complaint(complaint_id, unchanged_since=unchanged_since)
            requests = snapshot.requests
        except MalformedRecordError as exc:
            self._set_aside(unit, journal, MalformedRecord(exc.complaint_id or complaint_id, exc.reason, exc.raw))
            return None
        except ItemRejectedError as exc:
            if not set_aside_refusal:
                raise
            reason = f"the platform refused the detail call: {exc}"
            self._set_aside(unit, journal, MalformedRecord(complaint_id, reason, None))
            return None
        finally:
            if budget is not None:
                budget.spend(requests)
        journal.counts.fetched += 1  # the read happened, whether or not its store commits
        return snapshot

    def _store(
        self, unit: UnitOfWork, journal: RunJournal, snapshot: ComplaintSnapshot, *, seen_in_inbox: bool, force: bool
    ) -> Binding | None:
        """Create or update the case and its binding in ``unit``; ``None``: not the city's.

        ``force`` (resync) routes an unchanged complaint again instead of taking the shortcut.
        """
        complaint, now = snapshot.complaint, journal.clock.now()
        binding = self._binding(unit.session, complaint.complaint_id)
        if snapshot.thread is None and binding is not None:  # the detail showed nothing new (see _fetch)
            return self._unchanged(unit, binding, complaint, now, seen_in_inbox=seen_in_inbox)
        fingerprint = snapshot_fingerprint(snapshot)
        if binding is not None and binding.content_hash == fingerprint and not force:
            return self._unchanged(unit, binding, complaint, now, seen_in_inbox=seen_in_inbox)
        records = self.city_records(unit.session)
        route = self._route(records, complaint, binding, seen_in_inbox=seen_in_inbox)
        if route is None:
            return None  # never ours and no longer ours: nothing to keep
        received = records.receive(snapshot, agency_code=route.agency_code, routing_rule=route.rule, state=route.state)
        if binding is not None and binding.content_hash == fingerprint and _changes_nothing(received):
            return self._confirmed(unit, binding, complaint.complaint_id, now)
        binding = self._bind(
            unit.session,
            complaint,
            binding,
            case_id=received.case_id,
            fingerprint=fingerprint,
            now=now,
            seen_in_inbox=seen_in_inbox,
        )
        self._record_events(unit.session, journal, snapshot, received, route)
        self._resolve_set_aside(unit.session, complaint.complaint_id, now)
        unit.count("created" if received.outcome is ReceiveOutcome.CREATED else "updated")
        return binding

    def _unchanged(
        self, unit: UnitOfWork, binding: Binding, complaint: Complaint, now: datetime, *, seen_in_inbox: bool
    ) -> Binding:
        """Take the shortcut for a read of what is stored: write only what moves the sync forward."""
        # What moves it forward: a newer mark, a recheck, a read that settles a same-second doubt, a
        # set-aside record now read in full. A repeated read of settled data writes nothing.
        settles = not self._settled(binding)
        resolved = self._resolve_set_aside(unit.session, complaint.complaint_id, now)
        if complaint.updated_at > binding.national_updated_at or not seen_in_inbox or settles or resolved:
            binding.national_updated_at = max(binding.national_updated_at, complaint.updated_at)
            binding.last_checked_at = now
            unit.session.add(binding)
        unit.count("unchanged")
        return binding

    def _route(
        self, records: CityRecords, complaint: Complaint, binding: Binding | None, *, seen_in_inbox: bool
    ) -> _Route | None:
        """Decide the case's agency, rule and state; ``None``: the complaint is not the city's and never was."""
        # The inbox lists only complaints dispositioned to the city's tree (CONTRACT §5): one seen
        # there is the city's even when its sub-unit is missing from the mapping (it goes to triage).
        if seen_in_inbox or self.mapping.is_city_institution(complaint.disposition_id):
            routing = self.mapping.route(complaint.disposition_id, complaint.category_id, complaint.category_name)
            state = self.mapping.case_state_for(complaint.status_code)
            return _Route(routing.agency_code, routing.rule, state, routing)
        if binding is None:
            return None
        existing = records.get_case(case_id=binding.case_id)
        return _Route(existing.agency_code, existing.routing_rule, CaseState.FORWARDED, None)

    def _confirmed(self, unit: UnitOfWork, binding: Binding, complaint_id: int, now: datetime) -> Binding:
        """Record a forced read the current mapping decides as the case already says: checked, unchanged."""
        binding.last_checked_at = now
        unit.session.add(binding)
        self._resolve_set_aside(unit.session, complaint_id, now)
        unit.count("unchanged")
        return binding

    def _bind(
        self,
        session: Session,
        complaint: Complaint,
        binding: Binding | None,
        *,
        case_id: int,
        fingerprint: str,
        now: datetime,
        seen_in_inbox: bool,
    ) -> Binding:
        """Create or move forward the binding of complaint and case: mark, fingerprint, when read."""
        if binding is None:
            binding = Binding(
                institution_id=self.institution_id,
                complaint_id=complaint.complaint_id,
                tracking_id=complaint.tracking_id,
                case_id=case_id,
                national_updated_at=complaint.updated_at,
                content_hash=fingerprint,
                last_checked_at=now,
            )
        binding.national_updated_at = max(binding.national_updated_at, complaint.updated_at)
        binding.content_hash, binding.last_checked_at = fingerprint, now
        if seen_in_inbox:
            binding.last_seen_in_inbox_at = now
        session.add(binding)
        return binding

    def _record_events(
        self, session: Session, journal: RunJournal, snapshot: ComplaintSnapshot, received: Received, route: _Route
    ) -> None:
        """Add the sync events of this receipt to ``session``, committed with the change they tell."""
        complaint = snapshot.complaint
        # Seen in the inbox but dispositioned to a sub-unit the mapping lacks (see _route).
        unknown_sub_unit = route.routing is not None and not self.mapping.is_city_institution(complaint.disposition_id)
        record_receipt(
            session, journal, snapshot, received, route.routing, route.state, unknown_sub_unit=unknown_sub_unit
        )

    def _resolve_set_aside(self, session: Session, complaint_id: int, now: datetime) -> bool:
        """Close the set-aside records of a complaint now stored in full; return whether there were any."""
        records = session.exec(
            select(SetAsideRecord).where(
                SetAsideRecord.institution_id == self.institution_id,
                SetAsideRecord.complaint_id == complaint_id,
                SetAsideRecord.resolved_at == None,
            )
        ).all()  # noqa: E711  (SQL IS NULL)
        for record in records:
            record.resolved_at = now
            session.add(record)
        return bool(records)

    def _binding(self, session: Session, complaint_id: int) -> Binding | None:
        """Return the binding of ``complaint_id`` to its case, or ``None`` for a complaint never stored."""
        return session.exec(
            select(Binding).where(Binding.institution_id == self.institution_id, Binding.complaint_id == complaint_id)
        ).first()

    def _set_aside(self, unit: UnitOfWork, journal: RunJournal, record: MalformedRecord) -> None:
        """Keep a record that cannot be stored, with its reason, in ``unit``; one already kept is marked seen again."""
        now = journal.clock.now()
        raw = json.dumps(record.raw, ensure_ascii=False, default=str)
        reason = mask_personal_data(record.reason)  # a reason may quote a server's message
        if self._purged(unit.session, record.complaint_id):
            raw = json.dumps(PURGED_TEXT)  # its case was purged (lapor_sync.sync.admin.purge): it stays purged
        existing = unit.session.exec(
            select(SetAsideRecord).where(
                SetAsideRecord.institution_id == self.institution_id,
                SetAsideRecord.complaint_id == record.complaint_id,
                SetAsideRecord.reason == reason,
                SetAsideRecord.raw == raw,
                SetAsideRecord.resolved_at == None,
            )
        ).first()  # noqa: E711  (SQL IS NULL)
        if existing is not None:
            existing.last_seen_at = now  # paces the next retry (see _recheck_open_cases)
            unit.session.add(existing)
            return
        unit.session.add(
            SetAsideRecord(
                institution_id=self.institution_id,
                run_id=journal.run_id,
                complaint_id=record.complaint_id,
                reason=reason,
                raw=raw,
                first_seen_at=now,
                last_seen_at=now,
            )
        )
        journal.event(
            unit.session,
            "complaint.set_aside",
            f"Complaint {record.complaint_id or '(id unreadable)'} set aside: {reason}",
            level=Level.WARNING,
            complaint_id=record.complaint_id,
        )
        unit.count("set_aside")

    def _purged(self, session: Session, complaint_id: int | None) -> bool:
        """Whether the city's case of ``complaint_id`` was purged."""
        purged = select(Case.id).where(
            Case.institution_id == self.institution_id,
            Case.complaint_id == complaint_id,
            col(Case.purged_at).is_not(None),
        )
        return session.exec(purged).first() is not None


def _changes_nothing(received: Received) -> bool:
    """Whether storing an unchanged snapshot again left the case as it was (same agency and state)."""
    return (
        received.outcome is ReceiveOutcome.UPDATED
        and received.previous_agency_code is None
        and received.previous_state == received.state
        and not received.new_thread_entries
        and not received.confirmed_own_entries
    )
