"""Pull: walk the national inbox, fetch what changed, and store it in the city's records.

The walk follows CONTRACT §6: start from the committed mark minus an overlap window (inclusive),
dedupe by complaint id and ``updated_at``, repeat the walk until a pass sees nothing new (page
drift), and advance the mark only after the whole pull succeeded. Open cases whose complaint has
not been seen for a while are read by detail, so that a complaint forwarded away, archived or
auto-closed on the national side is noticed even though it left the inbox (CONTRACT §5).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from lapor_sync.domain.complaint import ComplaintSnapshot, InboxItem, MalformedRecord
from lapor_sync.domain.errors import ItemRejectedError, MalformedRecordError, RunStoppingError
from lapor_sync.domain.fingerprint import snapshot_fingerprint
from lapor_sync.domain.personal_data import mask_personal_data
from lapor_sync.domain.ports import CityRecords, NationalPlatform, Received, ReceiveOutcome
from lapor_sync.domain.routing import CityMapping
from lapor_sync.domain.status import CaseState
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import PURGED_TEXT, Binding, Case, SetAsideRecord
from lapor_sync.sync.cursor import advance_cursor, read_cursor
from lapor_sync.sync.journal import Level, RunJournal
from lapor_sync.sync.receive import describe_receipt


@dataclass(frozen=True)
class PullOptions:
    """Tuning of one pull.

    Attributes:
        overlap: how far before the committed mark each walk starts (clock skew, second precision).
        initial_since: where the very first walk starts (aware).
        max_passes: walks per pull; an inbox still changing after them keeps the cursor where it was.
        recheck_after: how long an open case may go unseen before its detail is read again.
    """

    overlap: timedelta = timedelta(minutes=5)
    initial_since: datetime | None = None
    max_passes: int = 5
    recheck_after: timedelta = timedelta(hours=1)


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

        Raises the platform's errors, and ``RunInterrupted``/``LeaseLost`` from the journal's
        checkpoint between items; on any of them the cursor stays where it was.
        """
        with self.db.session() as session:
            mark = read_cursor(session, self.institution_id) or self.options.initial_since
        if mark is None:
            raise RunStoppingError("no cursor yet and no initial_since configured")
        handled: dict[int, datetime] = {}
        high = mark
        unsettled: list[datetime] = []
        quiet = False
        for _ in range(self.options.max_passes):
            new_in_pass = 0
            for entry in self.platform.walk_inbox(mark - self.options.overlap):
                journal.checkpoint()
                if isinstance(entry, MalformedRecord):
                    self._set_aside(journal, entry)
                    continue
                if (
                    handled.get(entry.complaint_id, datetime.min.replace(tzinfo=entry.updated_at.tzinfo))
                    >= entry.updated_at
                ):
                    continue
                new_in_pass += 1
                handled[entry.complaint_id] = entry.updated_at
                binding = self._pull_one(journal, entry)
                if binding is not None and not self._settled(binding):
                    unsettled.append(binding.national_updated_at)
                high = max(high, entry.updated_at)
            if new_in_pass == 0:
                quiet = True
                break
        if not quiet:
            # Every row read is stored, but the last walk may have skipped one that moved under it
            # (CONTRACT §6, page drift): the mark stays, so the next run walks the same rows again.
            journal.standalone_event(
                "pull.inbox_busy",
                f"The inbox kept changing during {self.options.max_passes} walks: what was read "
                "is stored; the cursor stays where it was so the next pull walks these rows again.",
                level=Level.WARNING,
            )
            high = mark
        if reconcile:
            self._recheck_open_cases(journal, set(handled))
        # The mark stays at the oldest row whose last second may still hide a change, so the next
        # walk (from the mark minus the overlap) reads it again.
        # Nor does one row stamped far ahead of our clock (a wrong server clock, a bad record) carry the
        # mark past rows that are still to come: the mark goes at most one overlap window past now.
        high = min([high, *unsettled, journal.clock.now() + self.options.overlap])
        with self.db.session() as session:
            if advance_cursor(session, self.institution_id, high, journal.clock.now()):
                session.commit()

    def _pull_one(self, journal: RunJournal, item: InboxItem) -> Binding | None:
        """Store one inbox row if it may have changed; return its binding (``None``: set aside)."""
        with self.db.session() as session:
            binding = self._binding(session, item.complaint_id)
        if binding is not None and not self._may_have_changed(binding, item):
            journal.counts.unchanged += 1
            return binding
        return self._fetch_and_store(journal, item.complaint_id, seen_in_inbox=True)

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
        """Whether the last read came after the second of ``national_updated_at`` had surely ended.

        "Surely": one second, plus the overlap window for the clock skew between LAPOR! and us.
        """
        margin = self.options.overlap + timedelta(seconds=1)
        return binding.last_checked_at - binding.national_updated_at >= margin

    def reconcile(self, journal: RunJournal) -> None:
        """Read by detail every open case not seen in the inbox for ``recheck_after`` (CONTRACT §6).

        A complaint forwarded away, archived or auto-closed on the national side leaves the inbox;
        only its detail tells. Set-aside records are tried again too. The cursor is not touched.
        """
        self._recheck_open_cases(journal, set())

    def _recheck_open_cases(self, journal: RunJournal, seen: set[int]) -> None:
        now = journal.clock.now()
        with self.db.session() as session:
            due = [
                case.complaint_id
                for case in self.city_records(session).open_cases_unseen_since(now - self.options.recheck_after)
            ]
            # A set-aside record is tried again on every recheck: the platform may have repaired it.
            set_aside = session.exec(
                select(SetAsideRecord.complaint_id).where(
                    SetAsideRecord.institution_id == self.institution_id,
                    SetAsideRecord.resolved_at == None,  # noqa: E711
                    SetAsideRecord.last_seen_at < now - self.options.recheck_after,
                )
            ).all()
        for complaint_id in dict.fromkeys([*due, *(c for c in set_aside if c is not None)]):
            if complaint_id not in seen:
                journal.checkpoint()
                self._fetch_and_store(journal, complaint_id, seen_in_inbox=complaint_id in set_aside)

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
        return self._fetch_and_store(
            journal, complaint_id, seen_in_inbox=seen_in_inbox, force=True, set_aside_refusal=known
        )

    def _fetch_and_store(
        self,
        journal: RunJournal,
        complaint_id: int,
        *,
        seen_in_inbox: bool,
        force: bool = False,
        set_aside_refusal: bool = True,
    ) -> Binding | None:
        """Read one complaint and store it; return its binding, or ``None`` when it was set aside."""
        try:
            snapshot = self.platform.fetch_complaint(complaint_id)
        except MalformedRecordError as exc:
            self._set_aside(journal, MalformedRecord(exc.complaint_id or complaint_id, exc.reason, exc.raw))
            return None
        except ItemRejectedError as exc:
            if not set_aside_refusal:
                raise
            reason = f"the platform refused the detail call: {exc}"
            self._set_aside(journal, MalformedRecord(complaint_id, reason, None))
            return None
        journal.counts.fetched += 1
        try:
            return self._store(journal, snapshot, seen_in_inbox=seen_in_inbox, force=force)
        except IntegrityError:
            # Another worker stored the same complaint between our read and our insert; the
            # unique binding index refused the duplicate. Store again as an update.
            return self._store(journal, snapshot, seen_in_inbox=seen_in_inbox, force=force)

    def _store(
        self, journal: RunJournal, snapshot: ComplaintSnapshot, *, seen_in_inbox: bool, force: bool = False
    ) -> Binding | None:
        """Create or update the case and its binding in one transaction; ``None``: not the city's.

        ``force`` (resync) routes an unchanged complaint again instead of taking the shortcut.
        """
        complaint = snapshot.complaint
        now = journal.clock.now()
        fingerprint = snapshot_fingerprint(snapshot)
        with self.db.session() as session:
            binding = self._binding(session, complaint.complaint_id)
            if binding is not None and binding.content_hash == fingerprint and not force:
                # Record only what moves the sync forward (a newer mark, a recheck, a read that settles
                # a same-second doubt, a set-aside record now read in full); a repeated read of
                # settled data writes nothing.
                settles = not self._settled(binding)
                resolved = self._resolve_set_aside(session, complaint.complaint_id, now)
                if complaint.updated_at > binding.national_updated_at or not seen_in_inbox or settles or resolved:
                    binding.national_updated_at = max(binding.national_updated_at, complaint.updated_at)
                    binding.last_checked_at = now
                    session.add(binding)
                    session.commit()
                journal.counts.unchanged += 1
                return binding
            records = self.city_records(session)
            # The inbox lists only complaints dispositioned to the city's tree (CONTRACT §5): one seen
            # there is the city's even when its sub-unit is missing from the mapping (it goes to triage).
            in_city = seen_in_inbox or self.mapping.is_city_institution(complaint.disposition_id)
            if in_city:
                routing = self.mapping.route(complaint.disposition_id, complaint.category_id, complaint.category_name)
                agency_code, rule = routing.agency_code, routing.rule
                state = self.mapping.case_state_for(complaint.status_code)
            elif binding is None:
                return None  # never ours and no longer ours: nothing to keep
            else:
                routing = None
                existing = records.get_case(case_id=binding.case_id)
                agency_code, rule = existing.agency_code, existing.routing_rule
                state = CaseState.FORWARDED
            received = records.receive(snapshot, agency_code=agency_code, routing_rule=rule, state=state)
            if binding is not None and binding.content_hash == fingerprint and _changes_nothing(received):
                # Forced, and the current mapping decides what the case already says.
                binding.last_checked_at = now
                session.add(binding)
                self._resolve_set_aside(session, complaint.complaint_id, now)
                session.commit()
                journal.counts.unchanged += 1
                return binding
            if binding is None:
                binding = Binding(
                    institution_id=self.institution_id,
                    complaint_id=complaint.complaint_id,
                    tracking_id=complaint.tracking_id,
                    case_id=received.case_id,
                    national_updated_at=complaint.updated_at,
                    content_hash=fingerprint,
                    last_checked_at=now,
                )
            binding.national_updated_at = max(binding.national_updated_at, complaint.updated_at)
            binding.content_hash, binding.last_checked_at = fingerprint, now
            if seen_in_inbox:
                binding.last_seen_in_inbox_at = now
            session.add(binding)
            events = list(describe_receipt(snapshot, received, routing, state))
            if in_city and not self.mapping.is_city_institution(complaint.disposition_id):
                events.append(
                    (
                        "mapping.unknown_institution",
                        Level.WARNING,
                        f"Complaint #{complaint.tracking_id} is dispositioned to institution "
                        f"{complaint.disposition_id}, a sub-unit the mapping file does not know: "
                        "add it to the mapping's agencies.",
                    )
                )
            for kind, level, message in events:
                journal.event(
                    session,
                    kind,
                    message,
                    level=level,
                    complaint_id=complaint.complaint_id,
                    tracking_id=complaint.tracking_id,
                    agency_code=received.agency_code,
                )
            self._resolve_set_aside(session, complaint.complaint_id, now)
            session.commit()
        if received.outcome is ReceiveOutcome.CREATED:
            journal.counts.created += 1
        else:
            journal.counts.updated += 1
        return binding

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
        return session.exec(
            select(Binding).where(Binding.institution_id == self.institution_id, Binding.complaint_id == complaint_id)
        ).first()

    def _set_aside(self, journal: RunJournal, record: MalformedRecord) -> None:
        now = journal.clock.now()
        raw = json.dumps(record.raw, ensure_ascii=False, default=str)
        reason = mask_personal_data(record.reason)  # a reason may quote a server's message
        with self.db.session() as session:
            if (
                session.exec(
                    select(Case.id).where(
                        Case.institution_id == self.institution_id,
                        Case.complaint_id == record.complaint_id,
                        col(Case.purged_at).is_not(None),
                    )
                ).first()
                is not None
            ):
                raw = json.dumps(PURGED_TEXT)  # its case was purged (lapor_sync.sync.admin.purge): it stays purged
            existing = session.exec(
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
                session.add(existing)
                session.commit()
                return
            session.add(
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
                session,
                "complaint.set_aside",
                f"Complaint {record.complaint_id or '(id unreadable)'} set aside: {reason}",
                level=Level.WARNING,
                complaint_id=record.complaint_id,
            )
            session.commit()
        journal.counts.set_aside += 1


def _changes_nothing(received: Received) -> bool:
    """Whether storing an unchanged snapshot again left the case as it was (same agency and state)."""
    return (
        received.outcome is ReceiveOutcome.UPDATED
        and received.previous_agency_code is None
        and received.previous_state == received.state
        and not received.new_thread_entries
        and not received.confirmed_own_entries
    )
