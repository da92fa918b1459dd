"""The push's outcomes: what came of each row's delivery, and how those of several rows are written at once.

A worker classifies how a delivery went (:class:`Outcome`); the push's own thread writes the
outcomes of several rows in one transaction (:class:`Outcomes`): each row settled under its claim
(:meth:`~lapor_sync.sync.claims.Claims.settle_all`), delivered follow-ups linked to their national
copies, a completion that cannot be delivered undone, one sync event and one attempt
(``outbox_attempt``: time, outcome, HTTP status, masked error) per row, all inserted with one
statement each. Should one row's claim have been lost meanwhile, the transaction is
rolled back and each row is written alone: the others are kept, the lost one is left to its taker.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, update
from sqlmodel import Session

from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.errors import NationalPlatformError, QuotaExceededError, TransientError
from lapor_sync.domain.outbox import AttemptOutcome, OutboxState
from lapor_sync.domain.routing import CityMapping
from lapor_sync.domain.status import CaseState
from lapor_sync.runtime.redaction import redact
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import Case, OutboxAttempt, OutboxItem, ThreadEntry
from lapor_sync.sync.claims import Claim, ClaimLost, Claims
from lapor_sync.sync.journal import Level, RunJournal, insert_events

if TYPE_CHECKING:
    from lapor_sync.sync.push import PushOptions


@dataclass(frozen=True)
class Delivery:
    """How a row reached LAPOR!, in words for its sync event.

    ``national_id``: the follow-up's id on LAPOR!, to link the row's thread entry to (``None`` for
    the other calls).
    """

    how: str
    national_id: int | None = None


_SETTLED = ("state", "attempts", "last_error", "needs_readback", "delivered_at", "next_attempt_at")
"""The columns every outcome writes (an executemany needs the same ones in each row)."""


class Kind(Enum):
    """How a row's delivery went."""

    DELIVERED = "delivered"
    DEAD = "dead"
    FAILED = "failed"
    RELEASE = "release"
    """Put back ``pending`` untried this run: the run stops (or the row was never started)."""
    LOST = "lost"
    """Another pusher took the row over: nothing is written to it."""


@dataclass
class Outcome:
    """What came of one claimed row, to be recorded by the owner with others.

    ``error`` is already redacted (under the row's withholding); ``status``: the HTTP status of the
    answer that failed it (``None``: no answer, or none failed it); ``ambiguous``: the call may have
    reached LAPOR! (read back first next time); ``stops``: the error that ends the run once the
    rows in hand are recorded.
    """

    item: OutboxItem
    claim: Claim
    kind: Kind
    delivery: Delivery | None = None
    error: str | None = None
    status: int | None = None
    ambiguous: bool = False
    retry_after: float | None = None
    stops: BaseException | None = None

    @classmethod
    def failed(cls, item: OutboxItem, claim: Claim, exc: Exception, *, ambiguous: bool) -> Outcome:
        """A failed attempt, its error in words (a server-given wait kept)."""
        retry_after = exc.retry_after if isinstance(exc, TransientError) else None
        error = redact(_described(exc))
        return cls(
            item, claim, Kind.FAILED, error=error, status=_status_of(exc), ambiguous=ambiguous, retry_after=retry_after
        )


@dataclass(frozen=True)
class _Fate:
    values: dict[str, object]
    event: tuple[str, str, Level] | None = None
    counter: str | None = None
    reopen: bool = False
    attempt: AttemptOutcome | None = None


class Outcomes:
    """Writes the outcomes of delivered, failed, dead and released rows, several in one transaction.

    Args:
        db: the city's database.
        mapping: the city's rules (what a national status code means, for a completion undone).
        claims: the pusher's claims, under which each row is settled.
        options: the push's tuning (attempts, backoff, the cap of a server-given wait).
        rng: jitter source of the backoff.
    """

    def __init__(
        self, db: Database, mapping: CityMapping, claims: Claims, options: PushOptions, rng: random.Random
    ) -> None:
        self.db, self.mapping, self.claims, self.options, self.rng = db, mapping, claims, options, rng

    def record(self, journal: RunJournal, outcomes: list[Outcome]) -> BaseException | None:
        """Write the outcomes of several rows in one transaction; return the first error that stops the run.

        Each row is settled under its claim (:meth:`Claims.settle_all`) with what belongs to its
        outcome: its follow-up linked, its sync event, a completion that cannot be delivered undone.
        Should one claim have been lost, the transaction is rolled back and each row is written
        alone, so the others are kept and the lost one is left to its taker (:class:`ClaimLost`).
        """
        try:
            self._write_or_each(journal, [outcome for outcome in outcomes if outcome.kind is not Kind.LOST])
        finally:
            for outcome in outcomes:
                self.claims.done(outcome.claim)
        return next((outcome.stops for outcome in outcomes if outcome.stops is not None), None)

    def _write_or_each(self, journal: RunJournal, outcomes: list[Outcome]) -> None:
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

    def _write(self, journal: RunJournal, outcomes: list[Outcome]) -> None:
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
            _insert_attempts(session, journal, outcomes, fates)
            events: list[dict[str, Any]] = []
            for outcome, fate in zip(outcomes, fates, strict=True):
                if fate.event is not None:
                    kind, message, level = fate.event
                    self._event(events, journal, outcome.item, kind, message, level)
                if fate.reopen:
                    self._reopen(session, journal, outcome.item, events)
            insert_events(session.connection(), events)
            session.commit()
        for fate in fates:
            if fate.counter is not None:
                setattr(journal.counts, fate.counter, getattr(journal.counts, fate.counter) + 1)

    def _fate(self, journal: RunJournal, outcome: Outcome) -> _Fate:
        """What ``outcome`` writes: the row's new values (all of :data:`_SETTLED`), its event, its counter."""
        item = outcome.item
        values: dict[str, object] = {name: getattr(item, name) for name in _SETTLED}
        attempts = item.attempts + 1
        readback = outcome.ambiguous or item.needs_readback
        label = f"Outbox #{item.id} ({item.kind}) for complaint #{item.tracking_id}"
        if outcome.kind is Kind.RELEASE:  # no event: the run stops and says why
            return _Fate(
                values | {"state": OutboxState.PENDING, "needs_readback": readback}, attempt=_released(outcome)
            )
        if outcome.kind is Kind.DELIVERED:
            assert outcome.delivery is not None
            values |= {"state": OutboxState.DELIVERED, "needs_readback": False, "attempts": attempts}
            values |= {"delivered_at": journal.clock.now(), "last_error": None}
            event = ("outbox.delivered", f"{label}: {outcome.delivery.how}.", Level.INFO)
            return _Fate(values, event, "pushed", attempt=AttemptOutcome.DELIVERED)
        reason = outcome.error or ""
        if outcome.kind is Kind.FAILED and attempts < self.options.max_attempts:
            wait = self._backoff(attempts, outcome.retry_after)
            fate = "may have arrived: will read back first" if readback else "not delivered"
            values |= {"state": OutboxState.PENDING, "attempts": attempts, "last_error": reason}
            values |= {"needs_readback": readback, "next_attempt_at": journal.clock.now() + wait}
            message = (
                f"{label} failed (attempt {attempts}, {fate}): {reason}; next try in {int(wait.total_seconds())} s."
            )
            tried = AttemptOutcome.AMBIGUOUS if outcome.ambiguous else AttemptOutcome.FAILED
            return _Fate(values, ("outbox.retry", message, Level.WARNING), "failed", attempt=tried)
        if outcome.kind is Kind.FAILED:
            reason = f"gave up after {attempts} attempts; last error: {reason}"
        values |= {"state": OutboxState.DEAD, "attempts": attempts, "last_error": reason, "needs_readback": readback}
        event = ("outbox.dead_letter", f"{label} dead-lettered: {reason}", Level.ERROR)
        reopen = item.kind == AgencyAction.COMPLETE.value
        return _Fate(values, event, "dead_lettered", reopen=reopen, attempt=AttemptOutcome.DEAD_LETTERED)

    def _backoff(self, attempts: int, retry_after: float | None) -> timedelta:
        """The wait before the next try: doubling per attempt, jittered, capped; at least a server-given wait."""
        wait = min(self.options.max_backoff, self.options.base_backoff * (2 ** (attempts - 1)))
        wait = wait * (0.5 + self.rng.random() / 2)
        if retry_after is not None:
            wait = max(wait, self._server_wait(retry_after))
        return wait

    def _link_thread_entries(self, session: Session, outcomes: list[Outcome]) -> None:
        """Give delivered rows' thread entries the ids of their copies on LAPOR!, so a pull never stores a copy beside one.

        One executemany for all; an entry already linked (a pull linked it) is left as it is.
        """
        links = [
            {"entry_id": o.item.thread_entry_id, "national": o.delivery.national_id}
            for o in outcomes
            if o.kind is Kind.DELIVERED
            and o.delivery is not None
            and o.delivery.national_id is not None
            and o.item.thread_entry_id is not None
        ]
        if links:
            session.connection().execute(_LINK, links)

    def _event(
        self, events: list[dict[str, Any]], journal: RunJournal, item: OutboxItem, kind: str, message: str, level: Level
    ) -> None:
        journal.event_into(
            events, kind, message, level=level, complaint_id=item.complaint_id, tracking_id=item.tracking_id
        )

    def _reopen(self, session: Session, journal: RunJournal, item: OutboxItem, events: list[dict[str, Any]]) -> None:
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
        journal.event_into(
            events,
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


_THREAD = ThreadEntry.__table__  # type: ignore[attr-defined]
_LINK = (
    update(_THREAD)
    .where(_THREAD.c.id == bindparam("entry_id"), _THREAD.c.national_id.is_(None))
    .values(national_id=bindparam("national"))
)
"""Link a thread entry (``entry_id``) not linked yet to its national copy (``national``); built once."""


_ATTEMPT = OutboxAttempt.__table__  # type: ignore[attr-defined]


def _insert_attempts(session: Session, journal: RunJournal, outcomes: list[Outcome], fates: list[_Fate]) -> None:
    """Insert one ``outbox_attempt`` row per outcome that was an attempt, with one executemany (none if none).

    The time is when the outcome is recorded (as ``delivered_at``), a moment after its answer came.
    """
    now = journal.clock.now()
    rows = [
        {
            "outbox_id": o.item.id,
            "at": now,
            "outcome": fate.attempt.value,
            "http_status": _status(o),
            "error": _error(o),
        }
        for o, fate in zip(outcomes, fates, strict=True)
        if fate.attempt is not None
    ]
    if rows:
        session.connection().execute(insert(_ATTEMPT), rows)


def _released(outcome: Outcome) -> AttemptOutcome | None:
    """A row put back untried by a stop is no attempt; one that met the error stopping the run is."""
    if outcome.stops is None:
        return None
    return AttemptOutcome.THROTTLED if isinstance(outcome.stops, QuotaExceededError) else AttemptOutcome.STOPPED


def _status(outcome: Outcome) -> int | None:
    return outcome.status if outcome.stops is None else _status_of(outcome.stops)


def _error(outcome: Outcome) -> str | None:
    """The attempt's error in words, masked as events are (a stopping error was scrubbed of withheld texts)."""
    if outcome.error is not None or outcome.stops is None:
        return outcome.error
    return redact(str(outcome.stops)) or type(outcome.stops).__name__


def _status_of(exc: BaseException) -> int | None:
    """The HTTP status of the answer behind ``exc`` (a platform error's), or ``None``: no answer, or not a platform error."""
    return exc.status if isinstance(exc, NationalPlatformError) else None


def _described(exc: Exception) -> str:
    """An error of a row's delivery in words: the platform's as it says, any other named by its type."""
    if isinstance(exc, NationalPlatformError):
        return str(exc)
    try:
        said = str(exc)
    except Exception:  # noqa: BLE001 - a bug's broken __str__ must not stop the rest of the outbox
        said = "its message could not be read"
    return f"unexpected {type(exc).__name__} while delivering ({said}); it may have reached LAPOR!"
