"""Claims on outbox rows: what keeps two pushers from sending one row, whatever the job lease says.

The ``push`` lease keeps a second pusher away most of the time, but it can be lost without its
holder knowing in time: a clock stepped forward makes a SQLite lease look expired, a PostgreSQL
advisory lock vanishes with its connection (``idle_session_timeout``, a pooler in transaction
mode), a paused process wakes up after its lease was taken. Two pushers then run at once, and
without claims each would post the same follow-up (CONTRACT §5: the platform does not
deduplicate). So every row is claimed on its own:

* **Take**: one conditional UPDATE moves a row to ``sending``, raises its ``fence`` by one and
  writes ``claimed_by`` and ``claimed_until``. It matches only while ``fence`` is the value the
  pusher read and the row is ``pending`` and due, or ``sending`` under a claim that may be taken:
  of all pushers that read the row, exactly one UPDATE matches. Due ``pending`` rows may be
  claimed several at once (:meth:`Claims.take_due`): the same condition, row by row, in one UPDATE.
* **Re-check**: right before each request for the row (the POST, the read-back), the holder
  extends its claim with one UPDATE conditional on its fence; no match means another pusher
  took the row, and the holder stops without sending (:class:`ClaimLost`).
* **Settle**: the outcome (delivered, back to pending with a backoff, dead) is written under
  the same condition, and clears the claim, in the pusher's transaction that writes the rest of
  the outcome (its sync event, the follow-up's link): no match, and none of it is written.
  Several rows' outcomes are settled in one executemany (:meth:`Claims.settle_all`); one row
  not matched makes the whole transaction roll back, and its rows are then settled one by one.

A claim may be taken over when its holder is surely gone, or when it expired and its holder's
liveness cannot be known (see :mod:`lapor_sync.storage.holders`):

* held by a process of this host that still runs: never (a stepped clock, a paused process);
  by this very process only when no delivery in it holds that claim any more (a leftover: its
  outcome could not be written), and once it expired (a claim just taken by another thread of
  this process is not yet marked in flight);
* held by a process of this host that has ended: at once (SIGKILL, power loss);
* held elsewhere (another host), or by a name without incarnation: once ``claimed_until`` has
  passed, by the database's clock on PostgreSQL (:mod:`lapor_sync.storage.db_clock`).

A row taken over from ``sending`` is read back before anything is posted (CONTRACT §6).

Limit: of a holder on *another* host (or pid namespace) only expiry can tell. One that pauses for
longer than the claim's life exactly between its re-check and its request reaching the server,
or the clock expiry is measured by (the database server's; on SQLite, the host's) stepping
forward by more than that while its request is under way, lets it post after a taker's
read-back; the claim narrows that window from a whole run to one request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

from sqlalchemy import ColumnElement, Connection, Engine, Update, bindparam, case, or_, tuple_, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.domain.outbox import OutboxState
from lapor_sync.storage.database import Database
from lapor_sync.storage.db_clock import has_clock, later_sql, now_sql
from lapor_sync.storage.holders import Liveness, is_this_process, liveness
from lapor_sync.storage.models import OutboxItem
from lapor_sync.storage.types import UTCDateTime

_in_flight: set[tuple[int, int]] = set()
"""(row id, fence) of the claims a delivery in this process works under now."""
_in_flight_lock = threading.Lock()


class ClaimLost(LaporSyncError):
    """Another pusher took over an outbox row this pusher had claimed: it stops before sending more.

    Ends the run ``failed`` with this reason; the taker reads LAPOR! back before any post.
    """

    def __init__(self, item_id: int) -> None:
        super().__init__(
            f"claim on outbox row #{item_id} lost: another pusher took the row over; "
            "this push stopped without sending it"
        )
        self.item_id = item_id


@dataclass(frozen=True)
class Claim:
    """A row this pusher holds: its id and the fence its claim raised it to."""

    item_id: int
    fence: int


class _Takeover(Enum):
    NOW = "now"
    AFTER_EXPIRY = "after expiry"
    NEVER = "never"


class Claims:
    """Takes, re-checks and settles claims on outbox rows for one pusher.

    Args:
        db: the city's database (holds the outbox).
        claimer: this process's holder name (:func:`~lapor_sync.storage.holders.holder_name`).
        seconds: the life of a claim without a re-check, seconds (``Settings.lease_seconds``).
    """

    def __init__(self, db: Database, claimer: str, seconds: float) -> None:
        self._db, self.claimer, self._seconds = db, claimer, seconds
        self._extend = _extension(db.engine, seconds)
        self._take_due = _due_claim(db.engine, seconds)
        self._settle: dict[tuple[str, ...], Update] = {}

    def held_elsewhere(self, item: OutboxItem) -> bool:
        """Tell whether ``item`` (as read) is ``sending`` under a claim no one may take from its holder now."""
        return item.state == OutboxState.SENDING and self._takeover(item) is _Takeover.NEVER

    def take(self, item: OutboxItem, now: datetime) -> Claim | None:
        """Claim ``item`` as read, in a transaction of its own; on success update ``item`` and return the claim.

        The claim is committed before any request for the row is made, and alone: that is the
        delivery protocol. A crash after it, the request sent or not, leaves the row ``sending``, and
        the next pusher reads LAPOR! back before posting it again (CONTRACT §6); the row's outcome
        is written later, under this claim (:meth:`settle_all`).

        Args:
            item: the row as read (its ``fence`` and ``state`` are the condition of the update).
            now: aware UTC; decides whether a ``pending`` row is due, and stands for the database's
                clock on SQLite.

        Returns:
            The claim; ``None`` when the row changed since it was read (another pusher claimed it,
            an admin cancelled it) or is held by a claim that may not be taken. ``needs_readback``
            is set in the same statement when the row was ``sending``.
        """
        table = OutboxItem.__table__  # type: ignore[attr-defined]
        where = [table.c.id == item.id, table.c.fence == item.fence]
        if item.state == OutboxState.PENDING:
            where += [table.c.state == OutboxState.PENDING, table.c.next_attempt_at <= now]
        else:
            takeover = self._takeover(item)
            if takeover is _Takeover.NEVER:
                return None
            where += [table.c.state == OutboxState.SENDING]
            if takeover is _Takeover.AFTER_EXPIRY:
                where.append(
                    or_(table.c.claimed_until.is_(None), table.c.claimed_until <= now_sql(self._db.engine, now))
                )
        statement = (
            update(table)
            .where(*where)
            .values(
                state=OutboxState.SENDING,
                fence=table.c.fence + 1,
                claimed_by=self.claimer,
                claimed_until=later_sql(self._db.engine, now, self._seconds),
                needs_readback=case((table.c.state == OutboxState.SENDING, True), else_=table.c.needs_readback),
            )
            .returning(table.c.needs_readback, table.c.claimed_until)
        )
        with self._db.engine.begin() as conn:
            stored = conn.execute(statement).first()
        if stored is None:
            return None
        item.state, item.fence, item.claimed_by = OutboxState.SENDING, item.fence + 1, self.claimer
        item.needs_readback, item.claimed_until = stored.needs_readback, stored.claimed_until
        return self._in_flight(Claim(item.id, item.fence))  # type: ignore[arg-type]

    def take_due(self, items: list[OutboxItem], now: datetime) -> list[Claim]:
        """Claim the ``pending`` rows of ``items`` that are due, in one statement committed on its own.

        The batch form of :meth:`take` for ``pending`` rows (a ``sending`` row is taken alone, by
        :meth:`take`): one UPDATE whose condition is each row's ``fence`` as read, ``pending`` and
        due, so a row another pusher claimed meanwhile, or an admin cancelled, is not matched.
        RETURNING says which rows it claimed (SQLite >= 3.35 and PostgreSQL). Claimed rows in
        ``items`` are updated to match.

        Args:
            items: ``pending`` rows as read.
            now: aware UTC.

        Returns:
            The claims taken, in the order of ``items``; a row not claimed has none.
        """
        if not items:
            return []
        claimed = [(item.id, item.fence) for item in items]
        values = self._with_until({"claimed": claimed, "now": now, "claimer": self.claimer}, now)
        with self._db.engine.begin() as conn:
            stored = {row.id: row.claimed_until for row in conn.execute(self._take_due, values)}
        claims = []
        for item in items:
            if item.id in stored:
                item.state, item.fence, item.claimed_by = OutboxState.SENDING, item.fence + 1, self.claimer
                item.claimed_until = stored[item.id]
                claims.append(self._in_flight(Claim(item.id, item.fence)))  # type: ignore[arg-type]
        return claims

    @contextmanager
    def rechecks(self) -> Iterator[Callable[[Claim, datetime], None]]:
        """Hold one connection for many re-checks, each committed alone; yield the re-check on it.

        The push's hot path: one re-check per request, so a pool checkout per re-check (and its
        ping, on PostgreSQL) would cost more than the statement. Use it from one thread only. A
        re-check that fails leaves no transaction open on the held connection.

        A held connection is not pinged, so it may be found dead (its backend killed, an
        ``idle_session_timeout``, a restarted server): the re-check is then made once more, on a
        new connection, rather than fail a row that was not sent. Making it twice is harmless: it
        only extends the claim, under the same condition.

        Raises (from the yielded callable): :class:`ClaimLost`; the database's error when the
        statement fails otherwise, or on the new connection too.
        """
        with self._db.engine.connect() as conn:

            def recheck(claim: Claim, now: datetime) -> None:
                values = self._with_until({"claim_id": claim.item_id, "claim_fence": claim.fence}, now)
                try:
                    extended = _committed(conn, self._extend, values)
                except DBAPIError as exc:
                    if not exc.connection_invalidated:
                        raise
                    extended = _committed(conn, self._extend, values)  # the connection reconnects on this use
                if extended != 1:
                    raise ClaimLost(claim.item_id)

            yield recheck

    def settle_all(self, session: Session, outcomes: list[tuple[Claim, OutboxItem, dict[str, object]]]) -> None:
        """Write several rows' outcomes at once, each under its claim, in the caller's transaction.

        One executemany of an UPDATE that matches a row only while its claim holds it (and
        clears the claim); every outcome gives values for the same columns. Its row count says whether every claim still
        held; the items are updated only then.

        Raises:
            ClaimLost: some row was taken over meanwhile (the first of the batch is named); the
                caller rolls the transaction back and settles the rows one by one to learn which.
        """
        if not outcomes:
            return
        names = tuple(outcomes[0][2])
        if (statement := self._settle.get(names)) is None:
            statement = self._settle[names] = _settlement(names)
        rows = [
            {"claim_id": claim.item_id, "claim_fence": claim.fence} | {f"new_{n}": values[n] for n in names}
            for claim, _, values in outcomes
        ]
        if session.connection().execute(statement, rows).rowcount != len(rows):
            raise ClaimLost(outcomes[0][0].item_id)
        for _, item, values in outcomes:
            for name, value in {**values, "claimed_by": None, "claimed_until": None}.items():
                setattr(item, name, value)

    def done(self, claim: Claim) -> None:
        """Note that no delivery in this process works under ``claim`` any more (settled or lost)."""
        with _in_flight_lock:
            _in_flight.discard((claim.item_id, claim.fence))

    def _with_until(self, values: dict[str, object], now: datetime) -> dict[str, object]:
        """``values`` with ``until``, a claim's new expiry from ``now``, where the statement takes it from us (SQLite, :func:`_until`)."""
        if not has_clock(self._db.engine):
            values["until"] = now + timedelta(seconds=self._seconds)
        return values

    @staticmethod
    def _in_flight(claim: Claim) -> Claim:
        """Note that a delivery in this process works under ``claim`` from now on (see :meth:`_takeover`)."""
        with _in_flight_lock:
            _in_flight.add((claim.item_id, claim.fence))
        return claim

    def _takeover(self, item: OutboxItem) -> _Takeover:
        """When a ``sending`` row as read may be taken from its holder."""
        state = liveness(item.claimed_by)
        if state is Liveness.GONE:
            return _Takeover.NOW
        if state is Liveness.ALIVE:
            if not is_this_process(item.claimed_by):
                return _Takeover.NEVER
            with _in_flight_lock:
                working = (item.id, item.fence) in _in_flight
            # A claim of this process that no delivery holds is a leftover (its outcome could not be written).
            return _Takeover.NEVER if working else _Takeover.AFTER_EXPIRY
        return _Takeover.AFTER_EXPIRY


def _committed(conn: Connection, statement: Update, values: dict[str, object]) -> int:
    """Run ``statement`` with ``values`` on ``conn`` in a transaction of its own; return its row count.

    Rolled back on any error (a ``KeyboardInterrupt`` too), so no transaction is left open on
    ``conn``: an open one would hold SQLite's write lock against the push's other connections.
    """
    try:
        count = conn.execute(statement, values).rowcount
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return count


def _extension(engine: Engine, seconds: float) -> Update:
    """The UPDATE that extends a claim while it holds its row, built once per :class:`Claims` (the push's hot path).

    Bind parameters: those of :func:`_under_claim`, and on SQLite ``until`` (:func:`_until`).
    """
    return _under_claim().values(claimed_until=_until(engine, seconds))


def _under_claim() -> Update:
    """An UPDATE of the outbox row ``claim_id`` that matches only while the claim with fence ``claim_fence`` holds it.

    Bind parameters: ``claim_id`` and ``claim_fence`` (the claim's condition, as :meth:`Claims.take`
    or :meth:`Claims.take_due` raised it).
    """
    table = OutboxItem.__table__  # type: ignore[attr-defined]
    return update(table).where(
        table.c.id == bindparam("claim_id"),
        table.c.fence == bindparam("claim_fence"),
        table.c.state == OutboxState.SENDING,
    )


def _due_claim(engine: Engine, seconds: float) -> Update:
    """The UPDATE of :meth:`Claims.take_due`, built once per :class:`Claims` (building one per chunk showed in profiles).

    Bind parameters: ``claimed``, the rows' ``(id, fence)`` pairs as read (an expanding IN);
    ``now`` (aware UTC), before which a row must be due; ``claimer``; on SQLite ``until`` (:func:`_until`).
    Returns each claimed row's ``id`` and ``claimed_until``.
    """
    table = OutboxItem.__table__  # type: ignore[attr-defined]
    return (
        update(table)
        .where(
            tuple_(table.c.id, table.c.fence).in_(bindparam("claimed", expanding=True)),
            table.c.state == OutboxState.PENDING,
            table.c.next_attempt_at <= bindparam("now", type_=UTCDateTime),
        )
        .values(
            state=OutboxState.SENDING,
            fence=table.c.fence + 1,
            claimed_by=bindparam("claimer"),
            claimed_until=_until(engine, seconds),
        )
        .returning(table.c.id, table.c.claimed_until)
    )


def _settlement(names: tuple[str, ...]) -> Update:
    """The UPDATE of :meth:`Claims.settle_all` writing the columns ``names``, kept per set of names.

    Bind parameters: those of :func:`_under_claim` and ``new_<name>`` for each column written; the
    claim is cleared.
    """
    values = {name: bindparam(f"new_{name}") for name in names}
    return _under_claim().values(values | {"claimed_by": None, "claimed_until": None})


def _until(engine: Engine, seconds: float) -> ColumnElement[datetime]:
    """A claim's new ``claimed_until``: ``seconds`` after "now".

    On PostgreSQL the server's ``clock_timestamp()`` in the statement, whatever the host's clock
    says (:mod:`lapor_sync.storage.db_clock`); on SQLite the bind parameter ``until`` (aware UTC),
    which the caller computes from its clock.
    """
    if has_clock(engine):
        return later_sql(engine, datetime.now(UTC), seconds)
    return bindparam("until", type_=UTCDateTime)
