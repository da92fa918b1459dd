"""Retention: sync events older than the configured age are deleted; sync runs are kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, select

from lapor_sync.storage.database import Database
from lapor_sync.storage.models import SyncEvent

BATCH = 1000
"""Events deleted per transaction: short write transactions keep SQLite writers from waiting long."""


def prune_events(db: Database, older_than: datetime) -> int:
    """Delete every sync event recorded before ``older_than``, in batches; sync runs stay.

    Events of every institution in the database are pruned (the age limit is the deployment's).

    Args:
        db: the city's database.
        older_than: the cut-off instant (aware; events ``at`` before it go).

    Returns:
        How many events were deleted.
    """
    deleted = 0
    while True:
        with db.session() as session:
            ids = list(
                session.exec(
                    select(SyncEvent.id).where(SyncEvent.at < older_than).order_by(col(SyncEvent.id)).limit(BATCH)
                )
            )
            if not ids:
                return deleted
            session.exec(delete(SyncEvent).where(col(SyncEvent.id).in_(ids)))  # type: ignore[call-overload]
            session.commit()
        deleted += len(ids)
