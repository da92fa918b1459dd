"""The city's cases as a list: filtered by agency and state, most recently dispositioned first, without personal data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from lapor_sync.domain.status import CaseState
from lapor_sync.storage.models import Case


def list_cases(
    session: Session,
    institution_id: int,
    *,
    agency_code: str | None = None,
    state: CaseState | None = None,
    open_only: bool = False,
    limit: int = 50,
    before: tuple[datetime, int] | None = None,
) -> list[Case]:
    """Return cases, most recently dispositioned first (then highest id).

    Args:
        session: a session on the city's database.
        institution_id: whose cases.
        agency_code: only this agency (case and surrounding space ignored).
        state: only cases in this state.
        open_only: only open cases (new, in_progress).
        limit: at most this many.
        before: keyset pagination: only cases after this ``(dispositioned_at, id)`` of the
            previous page's last case, in the list's order.

    Returns:
        The cases; show them with :func:`case_row`, which leaves out what a list must not show.
    """
    query = select(Case).where(Case.institution_id == institution_id)
    if agency_code:
        query = query.where(Case.agency_code == agency_code.strip().upper())
    if state:
        query = query.where(Case.state == state.value)
    if open_only:
        query = query.where(col(Case.state).in_([s.value for s in CaseState if s.is_open]))
    if before is not None:
        at, case_id = before
        query = query.where(
            or_(col(Case.dispositioned_at) < at, and_(col(Case.dispositioned_at) == at, col(Case.id) < case_id))
        )
    return list(session.exec(query.order_by(col(Case.dispositioned_at).desc(), col(Case.id).desc()).limit(limit)))


def case_row(case: Case) -> dict[str, Any]:
    """One case of a list: no reporter, and no title for a confidential (rahasia) complaint."""
    return {
        "id": case.id,
        "complaint_id": case.complaint_id,
        "tracking_id": case.tracking_id,
        "agency_code": case.agency_code,
        "state": case.state,
        "national_status_code": case.national_status_code,
        "national_status_name": case.national_status_name,
        "category_name": case.category_name,
        "dispositioned_at": case.dispositioned_at,
        "is_secret": case.is_secret,
        "title": None if case.is_secret else case.title,
    }
