"""Which database errors are faults of the database itself, and a probe that it can be written.

A fault of the database (unreachable, read-only, full, locked past the busy timeout, no free
connection) is something an operator must fix and the worker must report, once per change of
state, as one line naming ``LAPOR_SYNC_DATABASE_URL``. Any other database error (a wrong
statement, a broken constraint) is a bug, reported as such. Neither wording ever holds the URL,
its password or a row's values.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError, InternalError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from lapor_sync.redaction import redact
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import Cursor


def database_fault(exc: BaseException) -> str | None:
    """Tell whether ``exc`` is a fault of the database itself, and say it in one line without the URL.

    Faults of the database: it cannot be reached or opened, it is read-only, full, locked past the
    busy timeout, or the connection pool is exhausted. Anything else (a statement that is wrong, a
    constraint) is a bug, not a fault of the database: ``None``.

    Returns:
        The driver's first line (e.g. ``attempt to write a readonly database``, ``cannot execute
        INSERT in a read-only transaction``), personal data masked; never the URL or its password
        (SQLAlchemy's own text, which quotes the statement, is not used).
    """
    if isinstance(exc, PoolTimeout):
        return "no free database connection (pool exhausted)"
    if not isinstance(exc, DBAPIError):
        return None
    if exc.statement is not None and not isinstance(exc, OperationalError | InternalError):
        return None
    lines = str(exc.orig).strip().splitlines() if exc.orig is not None else []
    return redact(lines[0]) if lines else type(exc).__name__


def probe_write(db: Database, now: datetime) -> str | None:
    """Try a write the database must accept, and roll it back; return why it failed, or ``None``.

    A read-only database (a SQLite file the worker cannot write, PostgreSQL with
    ``default_transaction_read_only``, a standby) still answers every read, so reads alone would
    call it healthy while every run fails. The probe inserts a cursor row under a name of its own
    (no sequence is used, so it leaves no gap in any id) and rolls it back.

    Raises:
        SQLAlchemyError: a failure that is not a fault of the database (see :func:`database_fault`).
    """
    probe = insert(Cursor).values(name=f"write-probe:{uuid.uuid4().hex[:12]}", position=now, updated_at=now)
    try:
        with db.engine.connect() as connection, connection.begin() as transaction:
            connection.execute(probe)
            transaction.rollback()
    except SQLAlchemyError as exc:
        fault = database_fault(exc)
        if fault is None:
            raise
        return fault
    return None
