"""The outbox as admins read it: rows waiting for LAPOR!, dead letters, and each row's attempts, as data."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from lapor_sync.domain.outbox import OutboxState
from lapor_sync.storage.models import OutboxAttempt, OutboxItem


def list_outbox(
    session: Session,
    institution_id: int,
    *,
    state: OutboxState | None = None,
    limit: int = 100,
    after_id: int | None = None,
) -> list[OutboxItem]:
    """Return outbox rows oldest first: those in ``state``, or every row not yet delivered.

    Args:
        session: a session on the city's database.
        institution_id: whose outbox.
        state: only this state; ``None`` for every state but ``delivered``.
        limit: at most this many rows.
        after_id: keyset pagination: only rows with a greater id (the last id of the previous page).

    Returns:
        The rows, by id.
    """
    query = select(OutboxItem).where(OutboxItem.institution_id == institution_id)
    query = query.where(OutboxItem.state == state.value if state else OutboxItem.state != OutboxState.DELIVERED.value)
    if after_id is not None:
        query = query.where(col(OutboxItem.id) > after_id)
    return list(session.exec(query.order_by(col(OutboxItem.id)).limit(limit)))


def outbox_row(item: OutboxItem) -> dict[str, Any]:
    """One outbox row as data, without its payload (follow-up text may be confidential); instants aware UTC.

    A ``sending`` row names the pusher that claimed it and until when the claim holds unrenewed.
    """
    return {
        "id": item.id,
        "case_id": item.case_id,
        "complaint_id": item.complaint_id,
        "tracking_id": item.tracking_id,
        "kind": item.kind,
        "state": item.state,
        "attempts": item.attempts,
        "needs_readback": item.needs_readback,
        "next_attempt_at": item.next_attempt_at,
        "last_error": item.last_error,
        "created_at": item.created_at,
        "delivered_at": item.delivered_at,
        "claimed_by": item.claimed_by,
        "claimed_until": item.claimed_until,
    }


def attempt_row(attempt: OutboxAttempt) -> dict[str, Any]:
    """One delivery attempt as data (``at`` aware UTC; the error stored masked)."""
    return {"at": attempt.at, "outcome": attempt.outcome, "http_status": attempt.http_status, "error": attempt.error}
