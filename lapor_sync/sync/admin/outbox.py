"""What an admin does to the outbox by hand: look at a row's attempts; requeue dead letters, cancel a row, each audited.

Both are single conditional UPDATEs (``WHERE state IN (...)``), so a row that changed state meanwhile
is refused instead of overwritten. Neither needs the ``push`` lease: a push only claims a row with
one UPDATE that matches while the row is still ``pending`` (or ``sending``) and unchanged since it
read it (:mod:`lapor_sync.sync.claims`). So when a cancel races a push that has just read the row,
exactly one of the two statements matches: the row is cancelled and never sent, or it is being
sent and the cancel is refused. A requeued dead row becomes ``pending`` in one statement too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.domain.outbox import OutboxState
from lapor_sync.runtime.redaction import redact
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import Case, OutboxAttempt, OutboxItem
from lapor_sync.sync.admin.purge import texts_purged
from lapor_sync.sync.journal import Level, add_event

REQUEUABLE = (OutboxState.DEAD, OutboxState.PENDING)
CANCELLABLE = (OutboxState.PENDING, OutboxState.DEAD)


class OutboxRefused(LaporSyncError):
    """The outbox row does not exist, or its state forbids the request; the message says why."""


def attempts(db: Database, institution_id: int, item_id: int) -> tuple[OutboxItem, list[OutboxAttempt]]:
    """Return outbox row ``item_id`` and its delivery attempts, oldest first.

    Attempts older than the retention age are gone (pruned with the sync events); the row keeps
    its count and last error. Errors are stored masked.

    Raises:
        OutboxRefused: no such row in this institution's outbox.
    """
    with db.session() as session:
        row = _row(session, institution_id, item_id, tuple(OutboxState), "show")
        tries = session.exec(
            select(OutboxAttempt).where(OutboxAttempt.outbox_id == item_id).order_by(col(OutboxAttempt.id))
        ).all()
        return row, list(tries)


def requeue(
    db: Database, now: datetime, institution_id: int, *, item_id: int | None = None, requested_by: str
) -> list[OutboxItem]:
    """Put outbox rows back in the queue, due at once: one row (``item_id``) or every dead row.

    A dead row becomes ``pending`` with its attempts reset to 0; ``needs_readback`` is kept, since a
    dead row may have reached LAPOR! (CONTRACT §6: read back before posting again). A pending row
    is only made due now. Each row gets an ``outbox.requeued`` event naming ``requested_by``. A row
    whose texts a purge removed is never requeued (LAPOR! would get "(dihapus)"): refused by id, left
    dead by ``--dead``; cancel it instead.

    Args:
        db: the city's database.
        now: the current instant (aware UTC).
        institution_id: the institution whose outbox it is.
        item_id: the row; ``None`` takes every dead row.
        requested_by: who asked (the OS user).

    Returns:
        The requeued rows, as stored now (empty when there was no dead row).

    Raises:
        OutboxRefused: ``item_id`` is unknown, or the row is sending, delivered or cancelled, or
            its texts were purged.
    """
    with db.session() as session:
        if item_id is None:
            rows = list(
                session.exec(
                    select(OutboxItem)
                    .where(OutboxItem.institution_id == institution_id, OutboxItem.state == OutboxState.DEAD)
                    .order_by(OutboxItem.id)
                )
            )
        else:
            rows = [_row(session, institution_id, item_id, REQUEUABLE, "requeue")]
            if texts_purged(rows[0]):
                raise OutboxRefused(
                    f"cannot requeue outbox row {item_id}: a purge removed its text (its case "
                    "had been closed for long), so LAPOR! would get '(dihapus)'; cancel it instead"
                )
        done = []
        for row in rows:
            if texts_purged(row):
                continue  # --dead: a purged row stays dead (see above)
            was_dead, last_error = row.state == OutboxState.DEAD, row.last_error
            values = {"state": OutboxState.PENDING, "next_attempt_at": now} | ({"attempts": 0} if was_dead else {})
            if not _update(session, row, REQUEUABLE, values):
                continue  # a push moved it meanwhile
            how = (
                f"dead letter back in the queue (attempts reset; last error was: {last_error})"
                if was_dead
                else "due for its next attempt now"
            )
            readback = " LAPOR! is read back before any new post." if row.needs_readback else ""
            _event(
                session,
                row,
                now,
                "outbox.requeued",
                f"Outbox #{row.id} ({row.kind}) for complaint #{row.tracking_id} requeued by {requested_by}: "
                f"{how}.{readback}",
            )
            done.append(row)
        session.commit()
        return [_reload(session, row) for row in done]


def cancel(
    db: Database, now: datetime, institution_id: int, item_id: int, *, reason: str, requested_by: str
) -> OutboxItem:
    """Cancel a pending or dead outbox row: it will never be sent, even by a push running now (see the module).

    The case keeps what staff did locally; LAPOR! does not learn it. ``last_error`` becomes
    ``reason``, and an ``outbox.cancelled`` event names ``requested_by`` and the reason.

    Raises:
        OutboxRefused: unknown row; or it is sending (claimed by a push: in flight, or its worker
            died and the next push reads it back), delivered (LAPOR! has it) or already cancelled.
    """
    reason = redact(reason.strip())  # typed by hand: a reporter's phone number or e-mail must not be kept
    if not reason:
        raise OutboxRefused("give the reason for cancelling (--reason); it is kept on the row and in the log")
    with db.session() as session:
        row = _row(session, institution_id, item_id, CANCELLABLE, "cancel")
        was = row.state
        if not _update(session, row, CANCELLABLE, {"state": OutboxState.CANCELLED, "last_error": reason}):
            raise OutboxRefused(f"outbox row {item_id} changed state meanwhile; look again with `lapor-sync outbox`")
        _event(
            session,
            row,
            now,
            "outbox.cancelled",
            f"Outbox #{row.id} ({row.kind}) for complaint #{row.tracking_id} cancelled by {requested_by} "
            f"(was {was}): {reason}. It will not be sent to LAPOR!.",
            level=Level.WARNING,
        )
        session.commit()
        return _reload(session, row)


_WHY_NOT = {
    OutboxState.SENDING: "is being sent by {claimed_by} (if that process died, the next push reads LAPOR! back first)",
    OutboxState.DELIVERED: "was delivered: LAPOR! has it",
    OutboxState.CANCELLED: "is cancelled",
    OutboxState.PENDING: "is pending",
    OutboxState.DEAD: "is dead",
}


def _row(session: Session, institution_id: int, item_id: int, allowed: tuple[str, ...], verb: str) -> OutboxItem:
    row = session.get(OutboxItem, item_id)
    if row is None or row.institution_id != institution_id:
        raise OutboxRefused(f"no outbox row {item_id}; see `lapor-sync outbox`")
    if row.state not in allowed:
        why = _WHY_NOT.get(row.state, row.state).format(claimed_by=row.claimed_by or "a push")
        raise OutboxRefused(f"cannot {verb} outbox row {item_id}: it {why}")
    return row


def _update(session: Session, row: OutboxItem, allowed: tuple[str, ...], values: dict[str, object]) -> bool:
    """Apply ``values`` only if the row is still in one of ``allowed`` (the concurrency guard)."""
    result = session.execute(
        update(OutboxItem).where(col(OutboxItem.id) == row.id, col(OutboxItem.state).in_(allowed)).values(**values)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def _reload(session: Session, row: OutboxItem) -> OutboxItem:
    session.refresh(row)
    return row


def _event(
    session: Session, row: OutboxItem, now: datetime, kind: str, message: str, level: Level = Level.INFO
) -> None:
    """An admin's action is no sync run: its event has no run id."""
    agency = session.exec(select(Case.agency_code).where(Case.id == row.case_id)).first()
    add_event(
        session,
        now,
        kind,
        message,
        level=level,
        complaint_id=row.complaint_id,
        tracking_id=row.tracking_id,
        agency_code=agency,
    )


@dataclass(frozen=True)
class BulkOutcome:
    """What became of one row of a bulk requeue or cancel.

    Attributes:
        item_id: the outbox row asked for.
        done: whether it was requeued (cancelled).
        row: the row as stored now, when done.
        refusal: why not, when not done (the :class:`OutboxRefused` message).
    """

    item_id: int
    done: bool
    row: OutboxItem | None = None
    refusal: str | None = None


def requeue_many(
    db: Database, now: datetime, institution_id: int, item_ids: Sequence[int], *, requested_by: str
) -> list[BulkOutcome]:
    """Requeue each of ``item_ids`` as :func:`requeue` does one, each in its own transaction.

    A refused row (unknown, sending, delivered, cancelled, purged) does not stop the others.

    Returns:
        One outcome per id, in the order given (a repeated id is tried once).
    """

    def one(item_id: int) -> OutboxItem:
        rows = requeue(db, now, institution_id, item_id=item_id, requested_by=requested_by)
        if not rows:  # a push claimed it between the read and the update
            raise OutboxRefused(f"outbox row {item_id} changed state meanwhile; look again with `lapor-sync outbox`")
        return rows[0]

    return [_bulk(item_id, one) for item_id in dict.fromkeys(item_ids)]


def cancel_many(
    db: Database, now: datetime, institution_id: int, item_ids: Sequence[int], *, reason: str, requested_by: str
) -> list[BulkOutcome]:
    """Cancel each of ``item_ids`` as :func:`cancel` does one, each in its own transaction, with one reason.

    Returns:
        One outcome per id, in the order given (a repeated id is tried once).

    Raises:
        OutboxRefused: the reason is blank (nothing is cancelled).
    """
    if not reason.strip():
        raise OutboxRefused("give the reason for cancelling (--reason); it is kept on the row and in the log")
    return [
        _bulk(
            item_id,
            lambda i: cancel(db, now, institution_id, i, reason=reason, requested_by=requested_by),
        )
        for item_id in dict.fromkeys(item_ids)
    ]


def _bulk(item_id: int, act: Callable[[int], OutboxItem]) -> BulkOutcome:
    try:
        return BulkOutcome(item_id, True, row=act(item_id))
    except OutboxRefused as exc:
        return BulkOutcome(item_id, False, refusal=str(exc))
