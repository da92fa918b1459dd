"""Outbox rows by state, kind and complaint: what is still owed to LAPOR! and what died.

``lapor-sync outbox`` reads them oldest first (the order a push serves them), the console newest first.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from lapor_sync.domain.outbox import OutboxState
from lapor_sync.queries.page import DEFAULT_LIMIT, Page, newest_first, oldest_first
from lapor_sync.storage.models import OutboxItem


def search_outbox(
    session: Session,
    institution_id: int,
    *,
    state: OutboxState | None = None,
    undelivered: bool = False,
    kind: str | None = None,
    tracking_id: str | None = None,
    before_id: int | None = None,
    after_id: int | None = None,
    oldest: bool = False,
    limit: int = DEFAULT_LIMIT,
) -> Page[OutboxItem]:
    """One page of an institution's outbox rows, newest first by id (or oldest first).

    Indexes: (institution_id, state, id), (institution_id, kind, id), tracking_id.

    Args:
        session: a session on the city's database.
        institution_id: the national institution whose rows are listed.
        state: only rows in this state (``dead``: the dead letters, with ``last_error``).
        undelivered: without ``state``, every row but the delivered ones (what is owed, or gave up).
        kind: only rows of this kind (``followup``, ``complete``, ...).
        tracking_id: only rows of this complaint (a leading ``#`` is ignored).
        before_id: newest first: only rows older than this id (the previous page's ``next_before``).
        after_id: oldest first: only rows newer than this id (the previous page's ``next_after``).
        oldest: oldest first, the order a push serves the queue in.
        limit: rows per page (at most 200).

    Returns:
        The page of outbox rows (with their payloads: the caller shows none of a follow-up's text).
    """
    query = select(OutboxItem).where(OutboxItem.institution_id == institution_id)
    if state is not None:
        query = query.where(OutboxItem.state == state.value)
    elif undelivered:
        query = query.where(OutboxItem.state != OutboxState.DELIVERED.value)
    if kind:
        query = query.where(OutboxItem.kind == kind.strip().lower())
    if tracking_id:
        query = query.where(OutboxItem.tracking_id == tracking_id.strip().lstrip("#"))
    if oldest:
        return oldest_first(session, query, col(OutboxItem.id), after_id=after_id, limit=limit, row_id=lambda r: r.id)
    return newest_first(session, query, col(OutboxItem.id), before_id=before_id, limit=limit, row_id=lambda r: r.id)
