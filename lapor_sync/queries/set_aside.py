"""Records set aside because they could not be read, newest first, with or without the resolved ones."""

from __future__ import annotations

from sqlmodel import Session, col, select

from lapor_sync.queries.page import DEFAULT_LIMIT, Page, newest_first
from lapor_sync.storage.models import SetAsideRecord


def search_set_aside(
    session: Session,
    institution_id: int,
    *,
    include_resolved: bool = False,
    complaint_id: int | None = None,
    before_id: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[SetAsideRecord]:
    """One page of an institution's set-aside records, newest first by id.

    Index: (institution_id, id); ``complaint_id`` has its own.

    Args:
        session: a session on the city's database.
        institution_id: the national institution whose records are listed.
        include_resolved: also the records already resolved (their complaint was stored since).
        complaint_id: only this complaint's records.
        before_id: only records older than this id (the previous page's ``next_before``).
        limit: records per page (at most 200).

    Returns:
        The page of records (``raw`` holds the payload with the reporter's identity already removed).
    """
    query = select(SetAsideRecord).where(SetAsideRecord.institution_id == institution_id)
    if not include_resolved:
        query = query.where(col(SetAsideRecord.resolved_at).is_(None))
    if complaint_id is not None:
        query = query.where(SetAsideRecord.complaint_id == complaint_id)
    return newest_first(session, query, col(SetAsideRecord.id), before_id=before_id, limit=limit, row_id=lambda r: r.id)
