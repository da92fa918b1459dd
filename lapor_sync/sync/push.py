"""Push: drain the outbox to the national platform, exactly once per row.

CONTRACT §6: the platform does not deduplicate, so a row is claimed (``sending``, committed)
before its call, and the claim is re-checked right before every request for it; the job lease is
only an optimisation, the claim is what keeps two pushers from sending one row
(:mod:`lapor_sync.sync.claims`). A row taken over from ``sending``, one whose last failure was
ambiguous, and one whose answer is not the follow-up we sent, is read back and re-posted only
when its reference token is not there. Rows of one case leave in the order they were written.
Permanent refusals and rows out of attempts become dead letters with their reason; any other
failure of one row, a bug included, is a failed attempt of that row, and the rest go on. Nothing
that came from the national side is ever pushed back: only rows written by staff actions are in
the outbox. While a row is delivered, what it sends (and a confidential complaint's title and
content) is withheld from every event, error, log line and escaping exception, should the server
quote it back (``lapor_sync.runtime.redaction``, :mod:`lapor_sync.sync.scrub`).

Each row makes the national call (follow-up, status change or reject request) that the mapping's
``action_map`` declared for its action when staff acted, stored in its payload (a row written before
rows stored their call: the call its payload's keys were written for), and a read-back looks for
that call's effect. Per row, two transactions: its claim, committed before the call (the delivery
protocol), and its outcome (the row settled, its follow-up linked, a completion that cannot be
delivered undone, its sync event), committed together.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, select

from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.clock import Clock
from lapor_sync.domain.errors import (
    AmbiguousWriteError,
    ItemRejectedError,
    MalformedRecordError,
    NationalPlatformError,
    RunStoppingError,
    TransientError,
)
from lapor_sync.domain.outbox import WAITING, OutboxState
from lapor_sync.domain.ports import NationalPlatform
from lapor_sync.domain.reference import find_reference, strip_reference
from lapor_sync.domain.routing import CityMapping, NationalCall, NationalCallKind
from lapor_sync.domain.status import CaseState
from lapor_sync.runtime.redaction import redact, withholding
from lapor_sync.storage.database import Database
from lapor_sync.storage.holders import holder_name
from lapor_sync.storage.models import Case, OutboxItem, ThreadEntry
from lapor_sync.sync.claims import Claim, ClaimLost, Claims
from lapor_sync.sync.journal import Level, RunJournal
from lapor_sync.sync.scrub import scrubbed


@dataclass(frozen=True)
class PushOptions:
    """Tuning of the push.

    Attributes:
        max_attempts: failed attempts before a row becomes a dead letter.
        base_backoff: wait after the first failure; doubles per attempt, with jitter.
        max_backoff: cap of that wait.
        batch_size: rows taken per query.
        claim_seconds: life of a claim on one row without a re-check, seconds (``lease_seconds``).
        max_retry_after: the longest server-given wait (``Retry-After``) a row is put back for; a
            longer one (or one no date can hold) is cut to this.
    """

    max_attempts: int = 8
    base_backoff: timedelta = timedelta(seconds=30)
    max_backoff: timedelta = timedelta(hours=1)
    batch_size: int = 200
    claim_seconds: float = 120.0
    max_retry_after: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class _Delivery:
    """How a row reached LAPOR!, in words for its sync event.

    ``national_id``: the follow-up's id on LAPOR!, to link the row's thread entry to (``None`` for
    the other calls).
    """

    how: str
    national_id: int | None = None


class Pusher:
    """Runs the push half of a sync cycle.

    Args:
        db: the city's database (holds the outbox).
        platform: the national platform port.
        mapping: the city's rules: which institutions are the city's own, and what a national
            status code means.
        options: see :class:`PushOptions`.
        rng: jitter source (seeded in tests).
        claimer: this process's holder name, written on the rows it claims (default:
            :func:`~lapor_sync.storage.holders.holder_name` of ``"push"``).
    """

    def __init__(
        self,
        db: Database,
        platform: NationalPlatform,
        mapping: CityMapping,
        options: PushOptions,
        rng: random.Random | None = None,
        *,
        claimer: str | None = None,
    ) -> None:
        self.db = db
        self.platform = platform
        self.mapping = mapping
        self.options = options
        self.rng = rng or random.Random()
        self.claims = Claims(db, claimer or holder_name("push"), options.claim_seconds)

    def run(self, journal: RunJournal) -> None:
        """Deliver every due row that no other pusher holds.

        Raises:
            RunStoppingError: 401/403, after putting the row back (its text withheld).
            ClaimLost: another pusher took over the row in hand; nothing more was sent.
            RunInterrupted, LeaseLost: from the journal's checkpoint between rows.
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
                if self._waits(item, journal.clock) or not self._deliver_claimed(journal, item):
                    blocked.add(item.case_id)  # keep this case's later rows behind this one

    def _waiting(self, after_id: int) -> list[OutboxItem]:
        """Read the next batch of pending or sending rows after ``after_id``, due or not.

        Rows not due are read too: a row still waiting out its backoff holds back the later rows of its case.
        """
        with self.db.session() as session:
            return list(
                session.exec(
                    select(OutboxItem)
                    .where(
                        OutboxItem.institution_id == self.mapping.institution.id,
                        col(OutboxItem.state).in_(WAITING),
                        OutboxItem.id > after_id,
                    )
                    .order_by(OutboxItem.id)
                    .limit(self.options.batch_size)
                )
            )

    def _waits(self, item: OutboxItem, clock: Clock) -> bool:
        """Whether ``item`` sits this run out: waiting out its backoff, or held by another pusher's live claim."""
        if item.state == OutboxState.PENDING:
            return item.next_attempt_at > clock.now()  # nothing to withhold yet
        return self.claims.held_elsewhere(item)

    def _deliver_claimed(self, journal: RunJournal, item: OutboxItem) -> bool:
        """Claim ``item`` and deliver it with its texts withheld; return whether it left the queue.

        The claim (``sending``) is committed on its own, before any request for the row: that is the
        delivery protocol, not a transaction to merge. Once the claim is durable, a crash at any
        later point leaves a ``sending`` row, which the next pusher reads back before posting
        (CONTRACT §6); a claim committed with the outcome instead would leave a ``pending`` row
        after a crash mid-request, posted again though LAPOR! may have it.
        """
        sources = self._echo_sources(item)
        claim = self.claims.take(item, journal.clock.now())
        if claim is None:
            return False  # another pusher claimed it since it was read (or it changed): leave it to them
        try:
            with withholding(*sources):
                try:
                    return self._deliver(journal, item, claim)
                except BaseException as exc:
                    # Printed later, outside this block (a traceback, the worker's crash line): cut its texts now.
                    clean = scrubbed(exc)
                    if clean is exc:
                        raise
                raise clean  # outside the handler, so the uncleanable original is not its context
        finally:
            self.claims.done(claim)

    def _echo_sources(self, item: OutboxItem) -> tuple[str | None, ...]:
        """Return the texts a server must not be quoted on while ``item`` is delivered.

        What it sends, and a confidential complaint's title and content.
        """
        payload = item.payload
        sent = (strip_reference(payload.get("content") or ""), payload.get("note"), payload.get("reason"))
        with self.db.session() as session:
            case = session.get(Case, item.case_id)
        return (*sent, case.title, case.content) if case is not None and case.is_secret else sent

    def _deliver(self, journal: RunJournal, item: OutboxItem, claim: Claim) -> bool:
        """Try one claimed row; return whether it left the queue (delivered or dead)."""
        try:
            delivery = self._send(journal.clock, item, claim)
        except ClaimLost:
            raise  # the row is another pusher's now: write nothing to it
        except RunStoppingError:
            self._release(item, claim)
            raise
        except ItemRejectedError as exc:
            self._dead(journal, item, claim, f"refused by LAPOR!: {exc}")
            return True
        except AmbiguousWriteError as exc:
            return self._failed(journal, item, claim, exc, ambiguous=True)
        except TransientError as exc:
            return self._failed(journal, item, claim, exc, ambiguous=False)
        except MalformedRecordError as exc:
            # The read-back could not be read: this row waits and is read back again; other cases go on.
            return self._failed(
                journal, item, claim, TransientError(f"read-back unreadable: {exc.reason}"), ambiguous=True
            )
        except Exception as exc:  # noqa: BLE001 - a surprise in one row (it may have been sent) must not stop the rest
            return self._failed(journal, item, claim, exc, ambiguous=True)
        except BaseException:
            self._release(item, claim)
            raise
        self._delivered(journal, item, claim, delivery)
        return True

    def _send(self, clock: Clock, item: OutboxItem, claim: Claim) -> _Delivery:
        """Read back if needed, then make the row's declared call; return how it was delivered.

        Raises the platform's errors, and :class:`ClaimLost` before any request once the claim is gone.
        """
        # Stored when staff acted, not looked up now: a mapping reloaded while the row waits (or between
        # its request and a read-back after a crash) changes neither what it sends nor what a read-back
        # looks for. A stored call that is not valid raises ValidationError: a failed attempt of this row.
        call = NationalCall.from_payload(item.payload)
        # needs_readback is kept until delivered: a read-back that fails must be tried again, never skipped.
        if item.needs_readback and (
            found := self._read_back(clock, item, claim, call, "found on LAPOR! by read-back; not posted again")
        ):
            return found
        self.claims.recheck(claim, clock.now())
        try:
            return self._call(clock, item, claim, call)
        except ItemRejectedError as exc:
            # A 422 can mean the platform made the change itself meanwhile (a complaint being completed
            # auto-closed, CONTRACT §3): then the goal is reached and nothing is dead.
            if found := self._applied_despite_refusal(
                clock, item, claim, call, f"already in effect on LAPOR! ({exc.detail})"
            ):
                return found
            raise

    def _call(self, clock: Clock, item: OutboxItem, claim: Claim, call: NationalCall) -> _Delivery:
        """Make the row's declared call with what its payload sends (CONTRACT §5)."""
        payload = item.payload
        if call.call is NationalCallKind.FOLLOWUP:
            return self._post_followup(clock, item, claim, call)
        if call.call is NationalCallKind.STATUS:
            self.platform.set_status(item.complaint_id, status_code=call.status_code, note=payload["note"])
        else:
            self.platform.request_reject(
                item.complaint_id,
                not_authority=call.not_authority,
                target_institution_id=payload["target_institution_id"],
                reason=payload["reason"],
            )
        return _Delivery("delivered")

    def _post_followup(self, clock: Clock, item: OutboxItem, claim: Claim, call: NationalCall) -> _Delivery:
        """Post the row's follow-up; an answer that is not that follow-up is read back at once.

        Raises:
            AmbiguousWriteError: the answer was another follow-up, and read-back did not find ours
                (or failed): the next try reads back first.
        """
        payload = item.payload
        posted = self.platform.post_followup(
            item.complaint_id,
            institution_id=payload["institution_id"],
            content=payload["content"],
            is_secret=payload["is_secret"],
        )
        if find_reference(posted.content) == item.idempotency_key and posted.complaint_id in (None, item.complaint_id):
            return _Delivery("delivered", posted.national_id)
        # The answer is not what we posted (another follow-up, another complaint): an ambiguous write.
        # Read back at once, before anything else, and link only the copy that carries our token,
        # or a pull would store the national copy beside ours (CONTRACT §6).
        how = "delivered; LAPOR! answered with another follow-up, ours was found by read-back"
        try:
            found = self._read_back(clock, item, claim, call, how)
        except (TransientError, ItemRejectedError) as exc:
            # Ours may be stored whatever the read-back met: the next try must read back first too.
            raise AmbiguousWriteError(
                f"LAPOR! answered the follow-up with another one, and read-back failed: {exc}"
            ) from None
        if found:
            return found
        raise AmbiguousWriteError("LAPOR! answered the follow-up with another one, and read-back did not find ours yet")

    def _read_back(
        self, clock: Clock, item: OutboxItem, claim: Claim, call: NationalCall, how: str
    ) -> _Delivery | None:
        """Re-check the claim, then read the national side back: is the row's declared call in effect? (CONTRACT §6).

        A follow-up is found by the row's reference token; a status change by the complaint having
        the declared code; a reject request by its outcome: the complaint forwarded out of the city
        (``not_authority``), or archived (a code the mapping's ``status_map`` maps to ``archived``:
        validation of the mapping refuses a return without one, so the read-back can always find
        it). A request not approved yet is not found and is sent again. That the second request
        replaces the first is not a CONTRACT rule: it is the platform's behaviour as lapor-sync
        assumes it and the simulator models it (README, "What the contract assumes").

        Returns:
            The delivery, said as ``how``, when the effect is there; else ``None``.
        """
        self.claims.recheck(claim, clock.now())
        if call.call is NationalCallKind.FOLLOWUP:
            return next(
                (
                    _Delivery(how, entry.national_id)
                    for entry in self.platform.list_followups(item.complaint_id)
                    if find_reference(entry.content) == item.idempotency_key
                ),
                None,
            )
        complaint = self.platform.fetch_complaint(item.complaint_id).complaint
        if call.call is NationalCallKind.STATUS:
            found = complaint.status_code == call.status_code
        elif call.not_authority:
            found = not self.mapping.is_city_institution(complaint.disposition_id)
        else:
            found = self.mapping.case_state_for(complaint.status_code) is CaseState.ARCHIVED
        return _Delivery(how) if found else None

    def _applied_despite_refusal(
        self, clock: Clock, item: OutboxItem, claim: Claim, call: NationalCall, how: str
    ) -> _Delivery | None:
        """Read back after a refusal; one that cannot be read back counts as not in effect."""
        try:
            return self._read_back(clock, item, claim, call, how)
        except (ItemRejectedError, MalformedRecordError):
            return None

    def _link_thread_entry(self, session: Session, item: OutboxItem, national_id: int | None) -> None:
        """Give the row's thread entry the id of its copy on LAPOR!, so a pull never stores that copy beside it."""
        if item.thread_entry_id is None or national_id is None:
            return
        entry = session.get(ThreadEntry, item.thread_entry_id)
        if entry is not None and entry.national_id is None:
            entry.national_id = national_id
            session.add(entry)

    @contextmanager
    def _outcome(self, claim: Claim, item: OutboxItem, **values: object) -> Iterator[Session]:
        """One row's outcome as one transaction: the row settled under its claim, and what the caller adds.

        Raises:
            ClaimLost: another pusher took the row over; nothing of the outcome is written.
        """
        with self.db.session() as session:
            self.claims.settle(session, claim, item, **values)
            yield session
            session.commit()

    def _release(self, item: OutboxItem, claim: Claim) -> None:
        """Put a row in hand back for the next run (read back first: its call may have gone out)."""
        try:
            with self._outcome(claim, item, state=OutboxState.PENDING, needs_readback=True):
                pass  # nothing happened to tell: the run stops and says why
        except ClaimLost:
            pass  # another pusher holds it already

    def _event(
        self, session: Session, journal: RunJournal, item: OutboxItem, kind: str, message: str, level: Level
    ) -> None:
        journal.event(session, kind, message, level=level, complaint_id=item.complaint_id, tracking_id=item.tracking_id)

    def _delivered(self, journal: RunJournal, item: OutboxItem, claim: Claim, delivery: _Delivery) -> None:
        """Settle a delivered row, link its thread entry and record the event, in one transaction."""
        with self._outcome(
            claim,
            item,
            state=OutboxState.DELIVERED,
            needs_readback=False,
            delivered_at=journal.clock.now(),
            attempts=item.attempts + 1,
            last_error=None,
        ) as session:
            self._link_thread_entry(session, item, delivery.national_id)
            self._event(
                session,
                journal,
                item,
                "outbox.delivered",
                f"Outbox #{item.id} ({item.kind}) for complaint #{item.tracking_id}: {delivery.how}.",
                Level.INFO,
            )
        journal.counts.pushed += 1

    def _dead(
        self, journal: RunJournal, item: OutboxItem, claim: Claim, reason: str, *, needs_readback: bool | None = None
    ) -> None:
        """Make a row a dead letter with its reason and undo a completion it carried, in one transaction."""
        reason = redact(reason)
        readback = item.needs_readback if needs_readback is None else needs_readback
        with self._outcome(
            claim, item, state=OutboxState.DEAD, attempts=item.attempts + 1, last_error=reason, needs_readback=readback
        ) as session:
            self._event(
                session,
                journal,
                item,
                "outbox.dead_letter",
                f"Outbox #{item.id} ({item.kind}) for complaint #{item.tracking_id} dead-lettered: {reason}",
                Level.ERROR,
            )
            if item.kind == AgencyAction.COMPLETE.value:
                self._reopen(session, journal, item)
        journal.counts.dead_lettered += 1

    def _reopen(self, session: Session, journal: RunJournal, item: OutboxItem) -> None:
        """Put a case completed here back to what LAPOR! says, once its completion cannot be delivered.

        Without this the city's records would show a case closed that is open nationally, and no pull
        would ever correct it (closed cases are not rechecked).
        """
        case = session.get(Case, item.case_id)
        if case is None or case.state != CaseState.COMPLETED.value:
            return
        national = self.mapping.case_state_for(case.national_status_code)
        if national is not None and not national.is_open:
            return
        case.state, case.closed_at = (national or CaseState.IN_PROGRESS).value, None
        session.add(case)
        journal.event(
            session,
            "case.reopened",
            f"Case of complaint #{item.tracking_id} is {case.state} again: its completion could not "
            f"be delivered to LAPOR! (outbox #{item.id}), where it is {case.national_status_name}.",
            level=Level.WARNING,
            complaint_id=item.complaint_id,
            tracking_id=item.tracking_id,
            agency_code=case.agency_code,
        )

    def _failed(self, journal: RunJournal, item: OutboxItem, claim: Claim, exc: Exception, *, ambiguous: bool) -> bool:
        """Count a failed attempt: back to ``pending`` after a backoff, or dead once out of attempts."""
        attempts = item.attempts + 1
        readback = ambiguous or item.needs_readback
        error = redact(_described(exc))
        if attempts >= self.options.max_attempts:
            self._dead(
                journal, item, claim, f"gave up after {attempts} attempts; last error: {error}", needs_readback=readback
            )
            return True
        wait = min(self.options.max_backoff, self.options.base_backoff * (2 ** (attempts - 1)))
        wait = wait * (0.5 + self.rng.random() / 2)
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            wait = max(wait, self._server_wait(exc.retry_after))
        fate = "may have arrived: will read back first" if readback else "not delivered"
        with self._outcome(
            claim,
            item,
            state=OutboxState.PENDING,
            attempts=attempts,
            last_error=error,
            needs_readback=readback,
            next_attempt_at=journal.clock.now() + wait,
        ) as session:
            self._event(
                session,
                journal,
                item,
                "outbox.retry",
                f"Outbox #{item.id} ({item.kind}) for complaint #{item.tracking_id} failed "
                f"(attempt {attempts}, {fate}): {error}; next try in {int(wait.total_seconds())} s.",
                Level.WARNING,
            )
        journal.counts.failed += 1
        return False

    def _server_wait(self, retry_after: float) -> timedelta:
        """A server's ``Retry-After`` (seconds) as a wait, cut to ``max_retry_after`` (a huge one overflows dates)."""
        cap = self.options.max_retry_after
        if not math.isfinite(retry_after) or retry_after >= cap.total_seconds():
            return cap
        return timedelta(seconds=max(retry_after, 0.0))


def _described(exc: Exception) -> str:
    """An error of a row's delivery in words: the platform's as it says, any other named by its type."""
    if isinstance(exc, NationalPlatformError):
        return str(exc)
    try:
        said = str(exc)
    except Exception:  # noqa: BLE001 - a bug's broken __str__ must not stop the rest of the outbox
        said = "its message could not be read"
    return f"unexpected {type(exc).__name__} while delivering ({said}); it may have reached LAPOR!"
