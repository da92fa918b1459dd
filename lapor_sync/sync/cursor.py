"""The inbox cursor: a high-water mark of national ``updated_at`` over committed data only.

CONTRACT §6: the mark is stored in UTC and compared as an aware datetime; a failed run never
advances it. One row per institution, so several institutions can share a database.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from lapor_sync.storage.models import Cursor


def cursor_name(institution_id: int) -> str:
    """Return the cursor row's name for the inbox of ``institution_id``."""
    return f"inbox:{institution_id}"


def read_cursor(session: Session, institution_id: int) -> datetime | None:
    """Return the committed mark (aware UTC), or ``None`` before the first successful pull."""
    row = session.get(Cursor, cursor_name(institution_id))
    return row.position if row else None


def advance_cursor(session: Session, institution_id: int, position: datetime, now: datetime) -> bool:
    """Move the mark forward to ``position``; never backwards. Returns whether it moved.

    The caller commits, and calls this only after every item up to ``position`` is stored.
    """
    row = session.get(Cursor, cursor_name(institution_id))
    if row is None:
        session.add(Cursor(name=cursor_name(institution_id), position=position, updated_at=now))
        return True
    if position <= row.position:
        return False
    row.position, row.updated_at = position, now
    session.add(row)
    return True
