"""The set-aside records as admins read them: records from LAPOR! that could not be read, with the reason for each."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, select

from lapor_sync.storage.models import SetAsideRecord


def list_set_aside(
    session: Session,
    institution_id: int,
    *,
    include_resolved: bool = False,
    show_raw: bool = False,
    limit: int = 100,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """Return set-aside records, newest first.

    Args:
        session: a session on the city's database.
        institution_id: whose records.
        include_resolved: also the records resolved since (their complaint was stored).
        show_raw: add ``raw``, the payload as received, parsed (the reporter's name, e-mail and
            phone were removed before it was kept; a purged case's record holds a marker string).
        limit: at most this many.
        before_id: keyset pagination: only records with a smaller id (the last id of the previous page).

    Returns:
        ``id``, ``complaint_id``, ``reason``, ``first_seen_at``, ``last_seen_at``, ``resolved_at``
        (aware UTC), ``run_id`` and, with ``show_raw``, ``raw``.
    """
    query = select(SetAsideRecord).where(SetAsideRecord.institution_id == institution_id)
    if not include_resolved:
        query = query.where(col(SetAsideRecord.resolved_at).is_(None))
    if before_id is not None:
        query = query.where(col(SetAsideRecord.id) < before_id)
    records = session.exec(query.order_by(col(SetAsideRecord.id).desc()).limit(limit))
    return [
        {
            "id": r.id,
            "complaint_id": r.complaint_id,
            "reason": r.reason,
            "first_seen_at": r.first_seen_at,
            "last_seen_at": r.last_seen_at,
            "resolved_at": r.resolved_at,
            "run_id": r.run_id,
            **({"raw": json.loads(r.raw)} if show_raw else {}),
        }
        for r in records
    ]
