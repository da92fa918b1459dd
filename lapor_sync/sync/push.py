"""Push: drain the outbox to the national platform, exactly once per row.

CONTRACT §6: the platform does not deduplicate, so a row is marked ``sending`` (committed) before
its call; a row found ``sending`` later, or one whose last failure was ambiguous, is read back
first and re-posted only when its reference token is not there. Rows of one case leave in the
order they were written. Permanent refusals and rows out of attempts become dead letters with
their reason. Nothing that came from the national side is ever pushed back: only rows written
by staff actions are in the outbox. While a row is delivered, what it sends (and a confidential
complaint's title and content) is withheld from every event, error and log line, should the
server quote it back (``lapor_sync.redaction``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, select

from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.errors import (
    AmbiguousWriteError,
    ItemRejectedError,
    MalformedRecordError,
    RunStoppingError,
    TransientError,
)
from lapor_sync.domain.ports import NationalPlatform
from lapor_sync.domain.reference import find_reference, strip_reference
from lapor_sync.domain.routing import CityMapping
from lapor_sync.domain.status import CaseState, NationalStatus
from lapor_sync.redaction import redact, withholding
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import Case, OutboxItem, ThreadEntry
from lapor_sync.sync.journal import Level, RunJournal


@dataclass(frozen=True)
class PushOptions:
    """Tuning of the push.

    Attributes:
        max_attempts: failed attempts before a row becomes a dead letter.
        base_backoff: wait after the first failure; doubles per attempt, with jitter.
        max_backoff: cap of that wait.
        batch_size: rows taken per query.
    """

    max_attempts: int = 8
    base_backoff: timedelta = timedelta(seconds=30)
    max_backoff: timedelta = timedelta(hours=1)
    batch_size: int = 200


class Pusher:
    """Runs the push half of a sync cycle.

    Args:
        db: the city's database (holds the outbox).
        platform: the national platform port.
        mapping: the city's rules (which institutions are the city's own).
        options: see :class:`PushOptions`.
        rng: jitter source (seeded in tests).
    """

    def __init__(self, db: Database, platform: NationalPlatform, mapping: CityMapping,
                 options: PushOptions, rng: random.Random | None = None) -> None:
        self.db = db
        self.platform = platform
        self.mapping = mapping
        self.options = options
        self.rng = rng or random.Random()

    def run(self, journal: RunJournal) -> None:
        """Deliver every due row. Raises ``RunStoppingError`` (401/403) after putting the row back.

        Also raises ``RunInterrupted``/``LeaseLost`` from the journal's checkpoint between rows.
        """
        blocked: set[int] = set()
        last_id = 0
        while True:
            rows = self._waiting(last_id)
            if not rows:
                return
            for item in rows:
                journal.checkpoint()  # a stop request or a lost lease ends the run between rows
                last_id = item.id
                if item.case_id in blocked:
                    continue
                if item.next_attempt_at > journal.clock.now():  # waiting out its backoff: nothing to withhold yet
                    blocked.add(item.case_id)  # keep this case's later rows behind it
                    continue
                with withholding(*self._echo_sources(item)):
                    try:
                        delivered = self._deliver(journal, item)
                    except RunStoppingError as exc:  # its text is written after this block: redact it now
                        raise RunStoppingError(redact(exc.detail), status=exc.status) from None
                if not delivered:
                    blocked.add(item.case_id)  # keep this case's later rows behind the failed one

    def _waiting(self, after_id: int) -> list[OutboxItem]:
        """The next batch of pending or sending rows after ``after_id``, due or not: a row still waiting
        out its backoff holds back the later rows of its case."""
        with self.db.session() as session:
            return list(session.exec(
                select(OutboxItem).where(OutboxItem.institution_id == self.mapping.institution.id,
                                         col(OutboxItem.state).in_(["pending", "sending"]),
                                         OutboxItem.id > after_id)
                .order_by(OutboxItem.id).limit(self.options.batch_size)))

    def _echo_sources(self, item: OutboxItem) -> tuple[str | None, ...]:
        """The texts a server must not be quoted on while ``item`` is delivered: what it sends, and a
        confidential complaint's title and content."""
        payload = item.payload
        sent = (strip_reference(payload.get("content") or ""), payload.get("note"), payload.get("reason"))
        with self.db.session() as session:
            case = session.get(Case, item.case_id)
        return (*sent, case.title, case.content) if case is not None and case.is_secret else sent

    def _deliver(self, journal: RunJournal, item: OutboxItem) -> bool:
        """Try one due row; return whether it left the queue (delivered or dead)."""
        readback = item.needs_readback or item.state == "sending"
        # Kept until delivered: a read-back that fails must be tried again, never skipped.
        self._mark(item, state="sending", needs_readback=readback)
        try:
            if readback and self._already_applied(item):
                self._delivered(journal, item, "found on LAPOR! by read-back; not posted again")
                return True
            self._call(item)
        except AmbiguousWriteError as exc:
            return self._failed(journal, item, exc, ambiguous=True)
        except TransientError as exc:
            return self._failed(journal, item, exc, ambiguous=False)
        except MalformedRecordError as exc:
            # The read-back could not be read: this row waits and is read back again; other cases go on.
            return self._failed(journal, item, TransientError(f"read-back unreadable: {exc.reason}"), ambiguous=True)
        except ItemRejectedError as exc:
            if self._applied_despite_refusal(item):
                self._delivered(journal, item, f"already in effect on LAPOR! ({exc.detail})")
                return True
            self._dead(journal, item, f"refused by LAPOR!: {exc}")
            return True
        except BaseException:
            self._mark(item, state="pending", needs_readback=True)
            raise
        self._delivered(journal, item, "delivered")
        return True

    def _call(self, item: OutboxItem) -> None:
        payload = item.payload
        kind = AgencyAction(item.kind)
        if kind is AgencyAction.FOLLOWUP:
            posted = self.platform.post_followup(item.complaint_id, institution_id=payload["institution_id"],
                                                 content=payload["content"], is_secret=payload["is_secret"])
            self._link_thread_entry(item, posted.national_id)
        elif kind is AgencyAction.COMPLETE:
            self.platform.set_status(item.complaint_id, status_code=payload["status_code"], note=payload["note"])
        else:
            self.platform.request_reject(item.complaint_id, not_authority=payload["not_authority"],
                                         target_institution_id=payload["target_institution_id"],
                                         reason=payload["reason"])

    def _already_applied(self, item: OutboxItem) -> bool:
        """Read the national side back: is this row's effect already there? (CONTRACT §6)."""
        kind = AgencyAction(item.kind)
        if kind is AgencyAction.FOLLOWUP:
            for entry in self.platform.list_followups(item.complaint_id):
                if find_reference(entry.content) == item.idempotency_key:
                    self._link_thread_entry(item, entry.national_id)
                    return True
            return False
        complaint = self.platform.fetch_complaint(item.complaint_id).complaint
        if kind is AgencyAction.COMPLETE:
            return complaint.status_code == item.payload["status_code"]
        if kind is AgencyAction.RETURN:
            return complaint.status_code == NationalStatus.ARCHIVED
        return not self.mapping.is_city_institution(complaint.disposition_id)

    def _applied_despite_refusal(self, item: OutboxItem) -> bool:
        # A 422 on "complete" can mean the platform closed the complaint itself meanwhile
        # (auto-close, CONTRACT §3): then the goal is reached and nothing is dead.
        try:
            return self._already_applied(item)
        except (ItemRejectedError, MalformedRecordError):
            return False

    def _link_thread_entry(self, item: OutboxItem, national_id: int) -> None:
        if item.thread_entry_id is None:
            return
        with self.db.session() as session:
            entry = session.get(ThreadEntry, item.thread_entry_id)
            if entry is not None and entry.national_id is None:
                entry.national_id = national_id
                session.add(entry)
                session.commit()

    def _mark(self, item: OutboxItem, **changes: object) -> None:
        with self.db.session() as session:
            row = session.get(OutboxItem, item.id)
            assert row is not None
            for name, value in changes.items():
                setattr(row, name, value)
                setattr(item, name, value)
            session.add(row)
            session.commit()

    def _event(self, journal: RunJournal, item: OutboxItem, kind: str, message: str, level: Level) -> None:
        journal.standalone_event(kind, message, level=level, complaint_id=item.complaint_id,
                                 tracking_id=item.tracking_id)

    def _delivered(self, journal: RunJournal, item: OutboxItem, how: str) -> None:
        self._mark(item, state="delivered", needs_readback=False, delivered_at=journal.clock.now(),
                   attempts=item.attempts + 1, last_error=None)
        journal.counts.pushed += 1
        self._event(journal, item, "outbox.delivered",
                    f"Outbox #{item.id} ({item.kind}) for complaint #{item.tracking_id}: {how}.", Level.INFO)

    def _dead(self, journal: RunJournal, item: OutboxItem, reason: str) -> None:
        reason = redact(reason)
        self._mark(item, state="dead", attempts=item.attempts + 1, last_error=reason)
        journal.counts.dead_lettered += 1
        self._event(journal, item, "outbox.dead_letter",
                    f"Outbox #{item.id} ({item.kind}) for complaint #{item.tracking_id} dead-lettered: {reason}",
                    Level.ERROR)
        if item.kind == AgencyAction.COMPLETE.value:
            self._reopen(journal, item)

    def _reopen(self, journal: RunJournal, item: OutboxItem) -> None:
        """Put a case completed here back to what LAPOR! says, once its completion cannot be delivered.

        Without this the city's records would show a case closed that is open nationally, and no pull
        would ever correct it (closed cases are not rechecked).
        """
        with self.db.session() as session:
            case = session.get(Case, item.case_id)
            if case is None or case.state != CaseState.COMPLETED.value:
                return
            national = self.mapping.case_state_for(case.national_status_code)
            if national is not None and not national.is_open:
                return
            case.state, case.closed_at = (national or CaseState.IN_PROGRESS).value, None
            session.add(case)
            journal.event(session, "case.reopened",
                          f"Case of complaint #{item.tracking_id} is {case.state} again: its completion could not "
                          f"be delivered to LAPOR! (outbox #{item.id}), where it is {case.national_status_name}.",
                          level=Level.WARNING, complaint_id=item.complaint_id, tracking_id=item.tracking_id,
                          agency_code=case.agency_code)
            session.commit()

    def _failed(self, journal: RunJournal, item: OutboxItem, exc: TransientError, *, ambiguous: bool) -> bool:
        attempts = item.attempts + 1
        readback = ambiguous or item.needs_readback
        if attempts >= self.options.max_attempts:
            self._mark(item, needs_readback=readback)
            self._dead(journal, item, f"gave up after {attempts} attempts; last error: {exc}")
            return True
        wait = min(self.options.max_backoff, self.options.base_backoff * (2 ** (attempts - 1)))
        wait = wait * (0.5 + self.rng.random() / 2)
        if exc.retry_after is not None:
            wait = max(wait, timedelta(seconds=exc.retry_after))
        error = redact(str(exc))
        self._mark(item, state="pending", attempts=attempts, last_error=error, needs_readback=readback,
                   next_attempt_at=journal.clock.now() + wait)
        journal.counts.failed += 1
        fate = "may have arrived: will read back first" if readback else "not delivered"
        self._event(journal, item, "outbox.retry",
                    f"Outbox #{item.id} ({item.kind}) for complaint #{item.tracking_id} failed "
                    f"(attempt {attempts}, {fate}): {error}; next try in {int(wait.total_seconds())} s.", Level.WARNING)
        return False
