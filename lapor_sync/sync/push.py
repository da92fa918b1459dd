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
cannot be delivered undone, sync events, attempts) are written for several rows in one transaction
(:mod:`lapor_sync.sync.push_outcomes`), about 1.2 statements per row in all. A crash between a
request and its recorded outcome leaves the row ``sending``, as before: taken over once its claim
may be (at once when its process has ended), read back, and not posted again when our reference
token is there (CONTRACT §6). Batching only means that several rows may be left so (up to two
chunks, :data:`_SMALLEST_CHUNK`), each read back on its own.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import bindparam
from sqlmodel import col, select

from lapor_sync.domain.clock import Clock
from lapor_sync.domain.errors import (
    AmbiguousWriteError,
    ItemRejectedError,
    MalformedRecordError,
    QuotaExceededError,
    RunStoppingError,
    TransientError,
)
from lapor_sync.domain.outbox import WAITING, OutboxState
from lapor_sync.domain.ports import CheckedRequests, NationalPlatform
from lapor_sync.domain.reference import find_reference, strip_reference
from lapor_sync.domain.routing import CityMapping, NationalCall, NationalCallKind
from lapor_sync.domain.status import CaseState
from lapor_sync.runtime.redaction import redact, withholding
from lapor_sync.storage.database import Database
from lapor_sync.storage.holders import holder_name
from lapor_sync.storage.models import Case, OutboxItem
from lapor_sync.sync.claims import Claim, ClaimLost, Claims
from lapor_sync.sync.journal import RunJournal
from lapor_sync.sync.push_outcomes import Delivery, Kind, Outcome, Outcomes
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
        self.outcomes = Outcomes(db, mapping, self.claims, options, self.rng)

    def run(self, journal: RunJournal) -> None:
        """Deliver every due row that no other pusher holds, rows of different complaints at once.

        Rows are read a batch at a time, in the order they were written, and pushed by a
        :class:`_Flow`: up to ``concurrency`` deliveries overlap, each case's rows one after the other.

        Raises:
            RunStoppingError: 401/403, after putting the row back (its text withheld).
            QuotaExceededError: the gateway's quota refused a row again after its wait; the row is
                put back untried.
            ClaimLost: another pusher took over a row in hand; nothing more was sent.
            RunInterrupted, LeaseLost: from the journal's checkpoint between rows.
        """
        blocked: set[int] = set()  # cases whose rows sit this run out: an earlier row of theirs did not leave
        last_id = 0
        pool = DeliveryPool[int, Outcome](self.options.concurrency, self.options.claim_seconds)
        with self.claims.rechecks() as recheck, pool:
            while rows := self._waiting(last_id):
                last_id = rows[-1].id
                _Flow(self, journal, pool, recheck, blocked).push(rows)

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

    def sits_out(self, item: OutboxItem, clock: Clock) -> bool:
        """Whether ``item`` sits this run out: waiting out its backoff, or held by another pusher's live claim."""
        if item.state == OutboxState.PENDING:
            return item.next_attempt_at > clock.now()  # nothing to withhold yet
        return self.claims.held_elsewhere(item)

    def claim(self, items: list[OutboxItem], now: datetime) -> list[Claim]:
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

    def echo_sources(self, items: list[OutboxItem]) -> dict[int, tuple[str | None, ...]]:
        """Return, per row id, the texts a server must not be quoted on while the row is delivered.

        What it sends, and a confidential complaint's title and content (one query for all ``items``).
        """
        secret: dict[int, tuple[str, str]] = {}
        if items:
            with self.db.engine.connect() as conn:
                found = conn.execute(_SECRET_TEXTS, {"case_ids": list({item.case_id for item in items})})
                secret = {case_id: (title, content) for case_id, title, content in found}
        sources = {}
        for item in items:
            payload = item.payload
            sent = (strip_reference(payload.get("content") or ""), payload.get("note"), payload.get("reason"))
            sources[item.id] = (*sent, *secret.get(item.case_id, ()))
        return sources

    def attempt(self, clock: Clock, item: OutboxItem, hand: _Hand, sources: tuple[str | None, ...]) -> Outcome:
        """On a worker: deliver one claimed row with its texts withheld; say what came of it.

        Nothing escapes: an error that stops the run comes back in the outcome, cut of its texts
        here (it is printed later, outside this block: a traceback, the worker's crash line).
        """
        checked = self.platform if isinstance(self.platform, CheckedRequests) else None
        if checked is not None:  # it re-checks the claim itself, after any wait for the quota
            checked.check_before_requests(hand.recheck)
        with withholding(*sources):
            try:
                return self._attempt_withheld(clock, item, replace(hand, checked_by_platform=checked is not None))
            except BaseException as exc:  # noqa: BLE001 - the owner re-raises it once the others are recorded
                return Outcome(item, hand.claim, Kind.RELEASE, ambiguous=True, stops=scrubbed(exc))
            finally:
                if checked is not None:  # this worker thread's next row brings its own
                    checked.check_before_requests(None)

    def _attempt_withheld(self, clock: Clock, item: OutboxItem, hand: _Hand) -> Outcome:
        """Try one claimed row; classify how it went (CONTRACT §5, §6)."""
        claim = hand.claim
        try:
            delivery = self._send(clock, item, hand)
        except ClaimLost as exc:
            return Outcome(item, claim, Kind.LOST, stops=exc)  # the row is another pusher's now: write nothing
        except RunStoppingError as exc:
            return Outcome(item, claim, Kind.RELEASE, ambiguous=True, stops=scrubbed(exc))
        except ItemRejectedError as exc:
            # A classified refusal names its layer ("LAPOR! refused: ..."); a bare one is LAPOR's.
            said = str(exc) if exc.layer is not None else f"refused by LAPOR!: {exc}"
            return Outcome(item, claim, Kind.DEAD, error=redact(said), status=exc.status)
        except QuotaExceededError as exc:
            # Throttled again after the quota wait (not applied): the run stops, the row waits untried.
            return Outcome(item, claim, Kind.RELEASE, stops=scrubbed(exc))
        except AmbiguousWriteError as exc:
            return Outcome.failed(item, claim, exc, ambiguous=True)
        except TransientError as exc:
            return Outcome.failed(item, claim, exc, ambiguous=False)
        except MalformedRecordError as exc:
            # The read-back could not be read: this row waits and is read back again; other cases go on.
            unreadable = TransientError(f"read-back unreadable: {exc.reason}")
            return Outcome.failed(item, claim, unreadable, ambiguous=True)
        except Exception as exc:  # noqa: BLE001 - a surprise in one row (it may have been sent) must not stop the rest
            return Outcome.failed(item, claim, exc, ambiguous=True)
        return Outcome(item, claim, Kind.DELIVERED, delivery=delivery)

    def _send(self, clock: Clock, item: OutboxItem, hand: _Hand) -> Delivery:
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
        hand.before_request()
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

    def _call(self, clock: Clock, item: OutboxItem, hand: _Hand, call: NationalCall) -> Delivery:
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
        return Delivery("delivered")

    def _post_followup(self, clock: Clock, item: OutboxItem, hand: _Hand, call: NationalCall) -> Delivery:
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
            return Delivery("delivered", posted.national_id)
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

    def _read_back(self, clock: Clock, item: OutboxItem, hand: _Hand, call: NationalCall, how: str) -> Delivery | None:
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
        hand.before_request()
        if call.call is NationalCallKind.FOLLOWUP:
            return next(
                (
                    Delivery(how, entry.national_id)
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
        return Delivery(how) if found else None

    def _applied_despite_refusal(
        self, clock: Clock, item: OutboxItem, hand: _Hand, call: NationalCall, how: str
    ) -> Delivery | None:
        """Read back after a refusal; one that cannot be read back counts as not in effect."""
        try:
            return self._read_back(clock, item, hand, call, how)
        except (ItemRejectedError, MalformedRecordError):
            return None


@dataclass(frozen=True)
class _Hand:
    """A row in a worker's hands: its claim, and how to re-check it (on the owning thread) right before a request.

    ``checked_by_platform``: the platform client runs ``recheck`` itself right before each request
    it sends, after its wait for the request quota (``CheckedRequests``), which may outlast the claim.
    """

    claim: Claim
    recheck: Callable[[], None]
    checked_by_platform: bool = False

    def before_request(self) -> None:
        """Re-check the claim before calling the platform, unless the platform re-checks it before sending."""
        if not self.checked_by_platform:
            self.recheck()


class _Flow:
    """Pushes one batch of rows: claims them a few at a time, delivers them on the pool, records outcomes in bulk.

    Of each case only one row is in hand at a time (claimed, in flight or not yet recorded): its
    next row is claimed once the one before is recorded as left the queue, so a case's rows leave
    in the order they were written. Every database statement runs on this (the owning) thread.
    The stop signal and the lease are checked before each row starts; a row that did not leave
    the queue, or sat this run out, keeps its case's later rows behind it (``blocked``).
    """

    def __init__(
        self,
        pusher: Pusher,
        journal: RunJournal,
        pool: DeliveryPool[int, Outcome],
        recheck: Callable[[Claim, datetime], None],
        blocked: set[int],
    ):
        self.pusher, self.journal, self.pool, self.recheck, self.blocked = pusher, journal, pool, recheck, blocked
        self.chunk = max(2 * pool.size, _SMALLEST_CHUNK)
        self.waiting: list[OutboxItem] = []
        self.in_hand: set[int] = set()
        self.ready: list[tuple[OutboxItem, Claim, tuple[str | None, ...]]] = []
        self.ended: list[Outcome] = []
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
        self.ended += [done.result() for _, done in self.pool.finished()]
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
            elif self.pusher.sits_out(item, self.journal.clock):
                self.blocked.add(item.case_id)
            else:
                chosen.append(item)
            seen.add(item.case_id)
        self.waiting = left
        claims = {c.item_id: c for c in self.pusher.claim(chosen, self.journal.clock.now())}
        held = [item for item in chosen if item.id in claims]
        self.blocked.update(item.case_id for item in chosen if item.id not in claims)  # another pusher has it
        sources = self.pusher.echo_sources(held)
        self.ready = [(item, claims[item.id], sources[item.id]) for item in held]
        self.in_hand.update(item.case_id for item in held)

    def _start(self, item: OutboxItem, claim: Claim, sources: tuple[str | None, ...]) -> None:
        pusher, clock = self.pusher, self.journal.clock
        hand = _Hand(claim, lambda: self.pool.on_owner(lambda: self.recheck(claim, clock.now())))
        self.pool.start(item.id, lambda: pusher.attempt(clock, item, hand, sources))

    def _record(self) -> None:
        """Record the ended deliveries; note which cases are free again and which are held back."""
        ended, self.ended = self.ended, []
        stops = self.pusher.outcomes.record(self.journal, ended)
        self.stops = self.stops or stops
        for outcome in ended:
            self.in_hand.discard(outcome.item.case_id)
            if outcome.item.state != OutboxState.DELIVERED and outcome.item.state != OutboxState.DEAD:
                self.blocked.add(outcome.item.case_id)  # keep this case's later rows behind this one

    def _release_ready(self) -> None:
        """Put back the rows claimed but not started (read back first only if they were to be)."""
        ready, self.ready = self.ready, []
        self.ended += [Outcome(item, claim, Kind.RELEASE) for item, claim, _ in ready]

    def _wind_down(self) -> None:
        """After an error on this thread: put back what did not start, let what runs end, record all (bounded)."""
        self._release_ready()
        try:
            for _ in range(self.pool.size):
                self.ended += [done.result() for _, done in self.pool.finished()]
        finally:
            self._record()


_SECRET_TEXTS = select(Case.id, Case.title, Case.content).where(
    col(Case.id).in_(bindparam("case_ids", expanding=True)), col(Case.is_secret).is_(True)
)
"""The title and content of the confidential cases among ``case_ids``; built once (it runs once per chunk)."""

_SMALLEST_CHUNK = 32
"""Rows claimed (and outcomes recorded) together at least: with one re-check per row, about
1 + 6/32 statements per row (claim, confidential texts, settle, links, attempts, events: once per chunk).

Most of a chunk's cost is per statement (building, executing, committing), not per row, so a
larger chunk cuts the push's own CPU per row (at 8 rows a chunk: 1 + 6/8 statements). The price
is paid only after a crash: the rows claimed and not yet recorded (about this many waiting to
start, and as many ended and not yet written) are left ``sending``, and each is read back (one
GET) before it is posted again."""
