"""Retention: sync events and outbox attempts older than the configured age are deleted; sync runs are kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import InstrumentedAttribute

from lapor_sync.storage.database import Database
from lapor_sync.storage.models import OutboxAttempt, SyncEvent

BATCH = 1000
"""Rows deleted per transaction: short write transactions keep SQLite writers from waiting long."""


def prune_events(db: Database, older_than: datetime) -> int:
    """Delete every sync event recorded before ``older_than``, in batches; sync runs stay.

    Events of every institution in the database are pruned (the age limit is the deployment's).

    Args:
        db: the city's database.
        older_than: the cut-off instant (aware; events ``at`` before it go).

    Returns:
        How many events were deleted.
    """
    return _prune(db, SyncEvent.id, SyncEvent.at, older_than)  # type: ignore[arg-type]


def prune_attempts(db: Database, older_than: datetime) -> int:
    """Delete every outbox attempt made before ``older_than``, in batches, as :func:`prune_events` does events.

    The outbox rows stay, with their state, attempt count and last error.

    Returns:
        How many attempts were deleted.
    """
    return _prune(db, OutboxAttempt.id, OutboxAttempt.at, older_than)  # type: ignore[arg-type]


def _prune(
    db: Database, key: InstrumentedAttribute[int], at: InstrumentedAttribute[datetime], older_than: datetime
) -> int:
    """Delete the rows of ``key``'s table whose ``at`` is before ``older_than``, ``BATCH`` a transaction."""
    deleted = 0
    while True:
        with db.session() as session:
            ids = list(session.execute(select(key).where(at < older_than).order_by(key).limit(BATCH)).scalars())
            if not ids:
                return deleted
            session.execute(delete(key.class_).where(key.in_(ids)))
            session.commit()
        deleted += len(ids)
