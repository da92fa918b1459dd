"""Outbox rows and their attempts as data, for ``--json`` and the console's API (listed by :mod:`lapor_sync.queries.outbox`)."""

from __future__ import annotations

from typing import Any

from lapor_sync.storage.models import OutboxAttempt, OutboxItem


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
