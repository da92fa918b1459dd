"""The inbox cursor: a high-water mark of national ``updated_at`` over committed data only.

CONTRACT §6: the mark is stored in UTC and compared as an aware datetime; a failed run never
advances it. One row per institution, so several institutions can share a database. Beside the
mark, ``walked_at``: when the last inbox walk that proved itself began, so that the next pull can
tell whether the overlap window before the mark is settled (:mod:`lapor_sync.sync.watermark`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from lapor_sync.storage.models import Cursor


@dataclass(frozen=True)
class InboxCursor:
    """The committed cursor of one inbox.

    Attributes:
        position: the mark (aware UTC).
        walked_at: when the last proven walk began (aware UTC); ``None`` when not known.
    """

    position: datetime
    walked_at: datetime | None


def cursor_name(institution_id: int) -> str:
    """Return the cursor row's name for the inbox of ``institution_id``."""
    return f"inbox:{institution_id}"


def read_cursor(session: Session, institution_id: int) -> datetime | None:
    """Return the committed mark (aware UTC), or ``None`` before the first successful pull."""
    cursor = read_inbox_cursor(session, institution_id)
    return cursor.position if cursor else None


def read_inbox_cursor(session: Session, institution_id: int) -> InboxCursor | None:
    """Return the committed mark and when its last proven walk began, or ``None`` before the first successful pull."""
    row = session.get(Cursor, cursor_name(institution_id))
    return InboxCursor(row.position, row.walked_at) if row else None


def advance_cursor(
    session: Session, institution_id: int, position: datetime, now: datetime, *, walked_at: datetime | None = None
) -> bool:
    """Move the mark forward to ``position``; never backwards. Returns whether it moved.

    ``walked_at`` (when this pull's walk proved itself) is stored with a position at least the
    stored one, never with an older one: it speaks only of the rows up to the position it came with.
    The caller commits, and calls this only after every item up to ``position`` is stored.
    """
    row = session.get(Cursor, cursor_name(institution_id))
    if row is None:
        session.add(Cursor(name=cursor_name(institution_id), position=position, updated_at=now, walked_at=walked_at))
        return True
    if position < row.position:
        return False
    moved = position > row.position
    if walked_at is not None and (row.walked_at is None or walked_at > row.walked_at):
        row.walked_at = walked_at
    elif not moved:
        return False
    if moved:
        row.position, row.updated_at = position, now
    session.add(row)
    return moved
