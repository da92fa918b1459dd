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
that call's effect.

Rows of different complaints are delivered at once (``push_concurrency`` worker threads,
:mod:`lapor_sync.sync.push_pool`); every database statement stays on the thread that runs the
push. The protocol keeps its separate commits, batched: a few rows are claimed in one statement,
committed before any of their calls; each claim is re-checked, alone, right before each request
for its row; outcomes (each row settled under its claim, follow-ups linked, completions that
cannot be delivered undone, sync events) are written for several rows in one transaction, about
1.6 statements per row in all. A crash between a request and its recorded outcome leaves the row
``sending``, as before: taken over once its claim may be (at once when its process has ended),
read back, and not posted again when our reference token is there (CONTRACT §6). Batching only
means that several rows may be left so, each read back on its own.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import bindparam, insert, update
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
from lapor_sync.storage.models import Case, OutboxItem, SyncEvent, ThreadEntry
from lapor_sync.sync.claims import Claim, ClaimLost, Claims
from lapor_sync.sync.journal import Level, RunJournal
from lapor_sync.sync.push_pool import DeliveryPool
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
        concurrency: deliveries of different complaints in flight at once (``push_concurrency``).
    """

    max_attempts: int = 8
    base_backoff: timedelta = timedelta(seconds=30)
    max_backoff: timedelta = timedelta(hours=1)
    batch_size: int = 200
    claim_seconds: float = 120.0
    max_retry_after: timedelta = timedelta(hours=1)
    concurrency: int = 4


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
        """Deliver every due row that no other pusher holds, rows of different complaints at once.

        Rows are read a batch at a time, in the order they were written, and pushed by a
        :class:`_Flow`: up to ``concurrency`` deliveries overlap, each case's rows one after the other.

        Raises:
            RunStoppingError: 401/403, after putting the row back (its text withheld).
            ClaimLost: another pusher took over a row in hand; nothing more was sent.
            RunInterrupted, LeaseLost: from the journal's checkpoint between rows.
        """
        blocked: set[int] = set()  # cases whose rows sit this run out: an earlier row of theirs did not leave
        last_id = 0
        with DeliveryPool[int, _Outcome](self.options.concurrency, self.options.claim_seconds) as pool:
            while rows := self._waiting(last_id):
                last_id = rows[-1].id
                _Flow(self, journal, pool, blocked).push(rows)

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

    def _claim(self, items: list[OutboxItem], now: datetime) -> list[Claim]:
        """Claim ``items`` (due, as read), each committed before any request for it; return the claims taken.

        Pending rows are claimed together in one statement, a ``sending`` row (a takeover) alone. The
        claims are committed before the calls, and on their own: that is the delivery protocol, not a
        transaction to merge. Once a claim is durable, a crash at any later point leaves a ``sending``
        row, which the next pusher reads back before posting (CONTRACT §6); a claim committed with the
        outcome instead would leave a ``pending`` row after a crash mid-request, posted again though
        LAPOR! may have it.
        """
        sending = [item for item in items if item.state == OutboxState.SENDING]  # before take_due changes states
        taken = self.claims.take_due([item for item in items if item.state == OutboxState.PENDING], now)
        return taken + [claim for item in sending if (claim := self.claims.take(item, now)) is not None]

    def _echo_sources(self, items: list[OutboxItem]) -> dict[int, tuple[str | None, ...]]:
        """Return, per row id, the texts a server must not be quoted on while the row is delivered.

        What it sends, and a confidential complaint's title and content (one query for all ``items``).
        """
        secret: dict[int, tuple[str, str]] = {}
        if items:
            with self.db.session() as session:
                query = select(Case.id, Case.title, Case.content).where(
                    col(Case.id).in_({item.case_id for item in items}), col(Case.is_secret).is_(True)
                )
                secret = {case_id: (title, content) for case_id, title, content in session.exec(query)}
        sources = {}
        for item in items:
            payload = item.payload
            sent = (strip_reference(payload.get("content") or ""), payload.get("note"), payload.get("reason"))
            sources[item.id] = (*sent, *secret.get(item.case_id, ()))
        return sources

    def _attempt(self, clock: Clock, item: OutboxItem, hand: _Hand, sources: tuple[str | None, ...]) -> _Outcome:
        """On a worker: deliver one claimed row with its texts withheld; say what came of it.

        Nothing escapes: an error that stops the run comes back in the outcome, cut of its texts
        here (it is printed later, outside this block: a traceback, the worker's crash line).
        """
        with withholding(*sources):
            try:
                return self._attempt_withheld(clock, item, hand)
            except BaseException as exc:  # noqa: BLE001 - the owner re-raises it once the others are recorded
                return _Outcome(item, hand.claim, _Kind.RELEASE, ambiguous=True, stops=scrubbed(exc))

    def _attempt_withheld(self, clock: Clock, item: OutboxItem, hand: _Hand) -> _Outcome:
        """Try one claimed row; classify how it went (CONTRACT §5, §6)."""
        claim = hand.claim
        try:
            delivery = self._send(clock, item, hand)
        except ClaimLost as exc:
            return _Outcome(item, claim, _Kind.LOST, stops=exc)  # the row is another pusher's now: write nothing
        except RunStoppingError as exc:
            return _Outcome(item, claim, _Kind.RELEASE, ambiguous=True, stops=scrubbed(exc))
        except ItemRejectedError as exc:
            return _Outcome(item, claim, _Kind.DEAD, error=redact(f"refused by LAPOR!: {exc}"))
        except AmbiguousWriteError as exc:
            return _Outcome.failed(item, claim, exc, ambiguous=True)
        except TransientError as exc:
            return _Outcome.failed(item, claim, exc, ambiguous=False)
        except MalformedRecordError as exc:
            # The read-back could not be read: this row waits and is read back again; other cases go on.
            unreadable = TransientError(f"read-back unreadable: {exc.reason}")
            return _Outcome.failed(item, claim, unreadable, ambiguous=True)
        except Exception as exc:  # noqa: BLE001 - a surprise in one row (it may have been sent) must not stop the rest
            return _Outcome.failed(item, claim, exc, ambiguous=True)
        return _Outcome(item, claim, _Kind.DELIVERED, delivery=delivery)

    def _send(self, clock: Clock, item: OutboxItem, hand: _Hand) -> _Delivery:
        """Read back if needed, then make the row's declared call; return how it was delivered.

        Raises the platform's errors, and :class:`ClaimLost` before any request once the claim is gone.
        """
        # Stored when staff acted, not looked up now: a mapping reloaded while the row waits (or between
        # its request and a read-back after a crash) changes neither what it sends nor what a read-back
        # looks for. A stored call that is not valid raises ValidationError: a failed attempt of this row.
        call = NationalCall.from_payload(item.payload)
        # needs_readback is kept until delivered: a read-back that fails must be tried again, never skipped.
        if item.needs_readback and (
            found := self._read_back(clock, item, hand, call, "found on LAPOR! by read-back; not posted again")
        ):
            return found
        hand.recheck()
        try:
            return self._call(clock, item, hand, call)
        except ItemRejectedError as exc:
            # A 422 can mean the platform made the change itself meanwhile (a complaint being completed
            # auto-closed, CONTRACT §3): then the goal is reached and nothing is dead.
            if found := self._applied_despite_refusal(
                clock, item, hand, call, f"already in effect on LAPOR! ({exc.detail})"
            ):
                return found
            raise

    def _call(self, clock: Clock, item: OutboxItem, hand: _Hand, call: NationalCall) -> _Delivery:
        """Make the row's declared call with what its payload sends (CONTRACT §5)."""
        payload = item.payload
        if call.call is NationalCallKind.FOLLOWUP:
            return self._post_followup(clock, item, hand, call)
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

    def _post_followup(self, clock: Clock, item: OutboxItem, hand: _Hand, call: NationalCall) -> _Delivery:
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
            found = self._read_back(clock, item, hand, call, how)
        except (TransientError, ItemRejectedError) as exc:
            # Ours may be stored whatever the read-back met: the next try must read back first too.
            raise AmbiguousWriteError(
                f"LAPOR! answered the follow-up with another one, and read-back failed: {exc}"
            ) from None
        if found:
            return found
        raise AmbiguousWriteError("LAPOR! answered the follow-up with another one, and read-back did not find ours yet")

    def _read_back(self, clock: Clock, item: OutboxItem, hand: _Hand, call: NationalCall, how: str) -> _Delivery | None:
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
        hand.recheck()
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
        self, clock: Clock, item: OutboxItem, hand: _Hand, call: NationalCall, how: str
    ) -> _Delivery | None:
        """Read back after a refusal; one that cannot be read back counts as not in effect."""
        try:
            return self._read_back(clock, item, hand, call, how)
        except (ItemRejectedError, MalformedRecordError):
            return None

    def _record(self, journal: RunJournal, outcomes: list[_Outcome]) -> BaseException | None:
        """Write the outcomes of several rows in one transaction; return the first error that stops the run.

        Each row is settled under its claim (:meth:`Claims.settle_all`) with what belongs to its
        outcome: its follow-up linked, its sync event, a completion that cannot be delivered undone.
        Should one claim have been lost, the transaction is rolled back and each row is written
        alone, so the others are kept and the lost one is left to its taker (:class:`ClaimLost`).
        """
        try:
            self._write_or_each(journal, [outcome for outcome in outcomes if outcome.kind is not _Kind.LOST])
        finally:
            for outcome in outcomes:
                self.claims.done(outcome.claim)
        return next((outcome.stops for outcome in outcomes if outcome.stops is not None), None)

    def _write_or_each(self, journal: RunJournal, outcomes: list[_Outcome]) -> None:
        """Write ``outcomes`` together; should a claim be lost, each alone, the lost one noted as what stops the run."""
        try:
            self._write(journal, outcomes)
            return
        except ClaimLost as lost:
            if len(outcomes) == 1:
                outcomes[0].stops = outcomes[0].stops or lost
                return
        for outcome in outcomes:
            self._write_or_each(journal, [outcome])

    def _write(self, journal: RunJournal, outcomes: list[_Outcome]) -> None:
        """Settle ``outcomes`` and write what they bring, in one transaction; then count them.

        Raises:
            ClaimLost: some row was taken over meanwhile; nothing was written.
        """
        if not outcomes:
            return
        fates = [self._fate(journal, outcome) for outcome in outcomes]
        with self.db.session() as session:
            self.claims.settle_all(
                session, [(o.claim, o.item, fate.values) for o, fate in zip(outcomes, fates, strict=True)]
            )
            self._link_thread_entries(session, outcomes)
            for outcome, fate in zip(outcomes, fates, strict=True):
                if fate.event is not None:
                    kind, message, level = fate.event
                    self._event(session, journal, outcome.item, kind, message, level)
                if fate.reopen:
                    self._reopen(session, journal, outcome.item)
            _insert_events_at_once(session)
            session.commit()
        for fate in fates:
            if fate.counter is not None:
                setattr(journal.counts, fate.counter, getattr(journal.counts, fate.counter) + 1)

    def _fate(self, journal: RunJournal, outcome: _Outcome) -> _Fate:
        """What ``outcome`` writes: the row's new values (all of :data:`_SETTLED`), its event, its counter."""
        item = outcome.item
        values: dict[str, object] = {name: getattr(item, name) for name in _SETTLED}
        attempts = item.attempts + 1
        readback = outcome.ambiguous or item.needs_readback
        label = f"Outbox #{item.id} ({item.kind}) for complaint #{item.tracking_id}"
        if outcome.kind is _Kind.RELEASE:  # nothing happened to tell: the run stops and says why
            return _Fate(values | {"state": OutboxState.PENDING, "needs_readback": readback})
        if outcome.kind is _Kind.DELIVERED:
            assert outcome.delivery is not None
            values |= {"state": OutboxState.DELIVERED, "needs_readback": False, "attempts": attempts}
            values |= {"delivered_at": journal.clock.now(), "last_error": None}
            event = ("outbox.delivered", f"{label}: {outcome.delivery.how}.", Level.INFO)
            return _Fate(values, event, "pushed")
        reason = outcome.error or ""
        if outcome.kind is _Kind.FAILED and attempts < self.options.max_attempts:
            wait = self._backoff(attempts, outcome.retry_after)
            fate = "may have arrived: will read back first" if readback else "not delivered"
            values |= {"state": OutboxState.PENDING, "attempts": attempts, "last_error": reason}
            values |= {"needs_readback": readback, "next_attempt_at": journal.clock.now() + wait}
            message = (
                f"{label} failed (attempt {attempts}, {fate}): {reason}; next try in {int(wait.total_seconds())} s."
            )
            return _Fate(values, ("outbox.retry", message, Level.WARNING), "failed")
        if outcome.kind is _Kind.FAILED:
            reason = f"gave up after {attempts} attempts; last error: {reason}"
        values |= {"state": OutboxState.DEAD, "attempts": attempts, "last_error": reason, "needs_readback": readback}
        event = ("outbox.dead_letter", f"{label} dead-lettered: {reason}", Level.ERROR)
        return _Fate(values, event, "dead_lettered", reopen=item.kind == AgencyAction.COMPLETE.value)

    def _backoff(self, attempts: int, retry_after: float | None) -> timedelta:
        """The wait before the next try: doubling per attempt, jittered, capped; at least a server-given wait."""
        wait = min(self.options.max_backoff, self.options.base_backoff * (2 ** (attempts - 1)))
        wait = wait * (0.5 + self.rng.random() / 2)
        if retry_after is not None:
            wait = max(wait, self._server_wait(retry_after))
        return wait

    def _link_thread_entries(self, session: Session, outcomes: list[_Outcome]) -> None:
        """Give delivered rows' thread entries the ids of their copies on LAPOR!, so a pull never stores a copy beside one.

        One executemany for all; an entry already linked (a pull linked it) is left as it is.
        """
        links = [
            {"entry_id": o.item.thread_entry_id, "national": o.delivery.national_id}
            for o in outcomes
            if o.kind is _Kind.DELIVERED
            and o.delivery is not None
            and o.delivery.national_id is not None
            and o.item.thread_entry_id is not None
        ]
        if links:
            table = ThreadEntry.__table__  # type: ignore[attr-defined]
            statement = (
                update(table)
                .where(table.c.id == bindparam("entry_id"), table.c.national_id.is_(None))
                .values(national_id=bindparam("national"))
            )
            session.connection().execute(statement, links)

    def _event(
        self, session: Session, journal: RunJournal, item: OutboxItem, kind: str, message: str, level: Level
    ) -> None:
        journal.event(session, kind, message, level=level, complaint_id=item.complaint_id, tracking_id=item.tracking_id)

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

    def _server_wait(self, retry_after: float) -> timedelta:
        """A server's ``Retry-After`` (seconds) as a wait, cut to ``max_retry_after`` (a huge one overflows dates)."""
        cap = self.options.max_retry_after
        if not math.isfinite(retry_after) or retry_after >= cap.total_seconds():
            return cap
        return timedelta(seconds=max(retry_after, 0.0))


_SETTLED = ("state", "attempts", "last_error", "needs_readback", "delivered_at", "next_attempt_at")
"""The columns every outcome writes (an executemany needs the same ones in each row)."""


class _Kind(Enum):
    DELIVERED = "delivered"
    DEAD = "dead"
    FAILED = "failed"
    RELEASE = "release"
    """Put back ``pending`` untried this run: the run stops (or the row was never started)."""
    LOST = "lost"
    """Another pusher took the row over: nothing is written to it."""


@dataclass
class _Outcome:
    """What came of one claimed row, to be recorded by the owner with others.

    ``error`` is already redacted (under the row's withholding); ``ambiguous``: the call may have
    reached LAPOR! (read back first next time); ``stops``: the error that ends the run once the
    rows in hand are recorded.
    """

    item: OutboxItem
    claim: Claim
    kind: _Kind
    delivery: _Delivery | None = None
    error: str | None = None
    ambiguous: bool = False
    retry_after: float | None = None
    stops: BaseException | None = None

    @classmethod
    def failed(cls, item: OutboxItem, claim: Claim, exc: Exception, *, ambiguous: bool) -> _Outcome:
        """A failed attempt, its error in words (a server-given wait kept)."""
        retry_after = exc.retry_after if isinstance(exc, TransientError) else None
        return cls(
            item, claim, _Kind.FAILED, error=redact(_described(exc)), ambiguous=ambiguous, retry_after=retry_after
        )


@dataclass(frozen=True)
class _Fate:
    values: dict[str, object]
    event: tuple[str, str, Level] | None = None
    counter: str | None = None
    reopen: bool = False


@dataclass(frozen=True)
class _Hand:
    """A row in a worker's hands: its claim, and how to re-check it (on the owning thread) right before a request."""

    claim: Claim
    recheck: Callable[[], None]


class _Flow:
    """Pushes one batch of rows: claims them a few at a time, delivers them on the pool, records outcomes in bulk.

    Of each case only one row is in hand at a time (claimed, in flight or not yet recorded): its
    next row is claimed once the one before is recorded as left the queue, so a case's rows leave
    in the order they were written. Every database statement runs on this (the owning) thread.
    The stop signal and the lease are checked before each row starts; a row that did not leave
    the queue, or sat this run out, keeps its case's later rows behind it (``blocked``).
    """

    def __init__(self, pusher: Pusher, journal: RunJournal, pool: DeliveryPool[int, _Outcome], blocked: set[int]):
        self.pusher, self.journal, self.pool, self.blocked = pusher, journal, pool, blocked
        self.chunk = max(2 * pool.size, _SMALLEST_CHUNK)
        self.waiting: list[OutboxItem] = []
        self.in_hand: set[int] = set()
        self.ready: list[tuple[OutboxItem, Claim, tuple[str | None, ...]]] = []
        self.ended: list[_Outcome] = []
        self.stops: BaseException | None = None

    def push(self, rows: list[OutboxItem]) -> None:
        """Push ``rows`` (in the order written) until each has left, failed, or sits this run out.

        Raises:
            what stopped the run (see :meth:`Pusher.run`), once every row in hand is recorded.
        """
        self.waiting = list(rows)
        try:
            for _ in range(3 * len(rows) + 3):  # a round claims, sets aside or sees the end of at least one row
                if not self._round():
                    break
            else:
                raise RuntimeError("the push of a batch of outbox rows did not finish within its rounds")
        except BaseException:
            self._wind_down()
            raise
        if self.stops is not None:
            raise self.stops

    def _round(self) -> bool:
        """Claim and start what may start, wait for a delivery to end, record; return whether work is left."""
        if self.stops is None:
            if not self.ready:
                self._claim_next()
            while self.ready and self.pool.free:
                self.journal.checkpoint()  # a stop request or a lost lease ends the run between rows
                self._start(*self.ready.pop(0))
        self.ended += [future.result() for _, future in self.pool.finished()]
        if len(self.ended) >= self.chunk or not self.pool.running:
            self._record()
        if self.stops is not None:  # a row said the run stops: start nothing more, put back what waits
            self._release_ready()
            self._record()
            return bool(self.pool.running)
        return bool(self.waiting or self.ready or self.pool.running)

    def _claim_next(self) -> None:
        """Claim the next rows that may go: the first waiting row of each case not in hand, due and not held elsewhere."""
        chosen, seen, left = [], set(), []
        for item in self.waiting:
            if item.case_id in self.blocked:
                continue  # dropped: its case sits this run out
            if item.case_id in self.in_hand or item.case_id in seen or len(chosen) >= self.chunk:
                left.append(item)
            elif self.pusher._waits(item, self.journal.clock):  # noqa: SLF001 - the flow is the pusher's own
                self.blocked.add(item.case_id)
            else:
                chosen.append(item)
            seen.add(item.case_id)
        self.waiting = left
        claims = {c.item_id: c for c in self.pusher._claim(chosen, self.journal.clock.now())}  # noqa: SLF001
        held = [item for item in chosen if item.id in claims]
        self.blocked.update(item.case_id for item in chosen if item.id not in claims)  # another pusher has it
        sources = self.pusher._echo_sources(held)  # noqa: SLF001
        self.ready = [(item, claims[item.id], sources[item.id]) for item in held]
        self.in_hand.update(item.case_id for item in held)

    def _start(self, item: OutboxItem, claim: Claim, sources: tuple[str | None, ...]) -> None:
        pusher, clock = self.pusher, self.journal.clock
        hand = _Hand(claim, lambda: self.pool.on_owner(lambda: pusher.claims.recheck(claim, clock.now())))
        self.pool.start(item.id, lambda: pusher._attempt(clock, item, hand, sources))  # noqa: SLF001

    def _record(self) -> None:
        """Record the ended deliveries; note which cases are free again and which are held back."""
        ended, self.ended = self.ended, []
        stops = self.pusher._record(self.journal, ended)  # noqa: SLF001
        self.stops = self.stops or stops
        for outcome in ended:
            self.in_hand.discard(outcome.item.case_id)
            if outcome.item.state != OutboxState.DELIVERED and outcome.item.state != OutboxState.DEAD:
                self.blocked.add(outcome.item.case_id)  # keep this case's later rows behind this one

    def _release_ready(self) -> None:
        """Put back the rows claimed but not started (read back first only if they were to be)."""
        ready, self.ready = self.ready, []
        self.ended += [_Outcome(item, claim, _Kind.RELEASE) for item, claim, _ in ready]

    def _wind_down(self) -> None:
        """After an error on this thread: put back what did not start, let what runs end, record all (bounded)."""
        self._release_ready()
        try:
            for _ in range(self.pool.size):
                self.ended += [future.result() for _, future in self.pool.finished()]
        finally:
            self._record()


_SMALLEST_CHUNK = 8
"""Rows claimed (and outcomes recorded) together at least: with one re-check per row, about
1 + 5/8 statements per row (claim, confidential texts, settle, links, events: once per chunk)."""


def _insert_events_at_once(session: Session) -> None:
    """Insert the sync events added to ``session`` with one executemany, in the order they were added.

    The ORM would insert them one by one, to read each new id back (SQLite cannot say which id
    went to which row of one multi-row INSERT); nothing here reads those ids.
    """
    added = [obj for obj in session.new if isinstance(obj, SyncEvent)]  # insertion order (an ordered dict)
    if not added:
        return
    table = SyncEvent.__table__  # type: ignore[attr-defined]
    rows = [
        {column.name: getattr(event, column.name) for column in table.columns if column.name != "id"} for event in added
    ]
    for event in added:
        session.expunge(event)
    session.connection().execute(insert(table), rows)


def _described(exc: Exception) -> str:
    """An error of a row's delivery in words: the platform's as it says, any other named by its type."""
    if isinstance(exc, NationalPlatformError):
        return str(exc)
    try:
        said = str(exc)
    except Exception:  # noqa: BLE001 - a bug's broken __str__ must not stop the rest of the outbox
        said = "its message could not be read"
    return f"unexpected {type(exc).__name__} while delivering ({said}); it may have reached LAPOR!"
