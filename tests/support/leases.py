"""Losing a job lease behind its holder's back, as PostgreSQL's ``idle_session_timeout`` or a restarted pooler would."""

from __future__ import annotations

from sqlalchemy import Connection, text

from lapor_sync.storage.lease_handles import advisory_key, lock_sessions


def end_lock_sessions(conn: Connection, institution_id: int, job: str) -> list[bool]:
    """End the PostgreSQL sessions holding the advisory lock of ``job``'s lease; whether each was ended."""
    sessions = lock_sessions(conn, advisory_key(conn, institution_id, job))
    return [conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one() for pid in sessions]
