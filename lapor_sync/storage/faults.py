"""Which database errors are faults of the database itself, and a probe that it can be written.

A fault of the database (unreachable, read-only, full, locked past the busy timeout, no free
connection) is something an operator must fix and the worker must report, once per change of
state, as one line naming ``LAPOR_SYNC_DATABASE_URL``. Any other database error (a wrong
statement, a broken constraint) is a bug, reported as such. Neither wording ever holds the URL,
its password or a row's values.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Connection, insert
from sqlalchemy.exc import DBAPIError, InternalError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from lapor_sync.runtime.redaction import redact
from lapor_sync.storage.database import SQLITE_BUSY_TIMEOUT_MS, Database, DiskFullError, SqliteFileError, sqlite_path
from lapor_sync.storage.disk_space import postgres_disk_full, sqlite_folder_full
from lapor_sync.storage.models import Cursor

PROBE_LOCK_WAIT_MS = 1_000
"""How long the write probe waits behind another writer's lock, milliseconds (not the sessions' 30 s)."""
_SQLITE_BUSY = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED: primary result codes
_PG_LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout


def database_fault(exc: BaseException, *, name_the_file: bool = False) -> str | None:
    """Tell whether ``exc`` is a fault of the database itself, and say it in one line without the URL.

    Faults of the database: it cannot be reached or opened, it is read-only, full, locked past the
    busy timeout, or the connection pool is exhausted. A full disk is said as such
    (:mod:`lapor_sync.storage.disk_space`): with the SQLite file's folder and the space left there,
    or as the PostgreSQL server's disk. Anything else (a statement that is wrong, a
    constraint) is a bug, not a fault of the database: ``None``.

    Args:
        exc: the error.
        name_the_file: add the SQLite file and why it cannot be opened or written (a missing folder,
            no permission, a read-only file system: :class:`~lapor_sync.storage.database.SqliteFileError`),
            for the one line a person reads at start; the service log and ``/healthz`` leave paths out.

    Returns:
        The driver's first line (e.g. ``attempt to write a readonly database``, ``cannot execute
        INSERT in a read-only transaction``), personal data masked; never the URL or its password
        (SQLAlchemy's own text, which quotes the statement, is not used).
    """
    if isinstance(exc, PoolTimeout):
        return "no free database connection (pool exhausted)"
    if not isinstance(exc, DBAPIError):
        return None
    if isinstance(exc, DiskFullError):
        return redact(exc.reason)
    if exc.orig is not None and (server_full := postgres_disk_full(exc.orig)) is not None:
        return redact(server_full)
    if exc.statement is not None and not isinstance(exc, OperationalError | InternalError):
        return None
    lines = str(exc.orig).strip().splitlines() if exc.orig is not None else []
    reason = lines[0] if lines else type(exc).__name__
    if name_the_file and isinstance(exc, SqliteFileError):
        reason = f"{reason}: {exc.where}"
    return redact(reason)


def probe_write(db: Database, now: datetime) -> str | None:
    """Try a write the database must accept, and roll it back; return why it failed, or ``None``.

    A read-only database (a SQLite file the worker cannot write, PostgreSQL with
    ``default_transaction_read_only``, a standby) still answers every read, so reads alone would
    call it healthy while every run fails. The probe inserts a cursor row under a name of its own
    (no sequence is used, so it leaves no gap in any id) and rolls it back.

    Behind another writer's lock (a run writing on SQLite, a migration on PostgreSQL) the probe waits
    :data:`PROBE_LOCK_WAIT_MS` at most, and a lock still held then is no fault: someone is writing.
    ``/healthz`` and ``/metrics`` run this probe, and a liveness probe that waited the sessions'
    30 s busy timeout would restart a healthy worker. A run that waits its full timeout in vain
    reports the lock itself (``StorageState``).

    A rolled-back insert writes nothing to the disk, so on SQLite the folder's free space is looked
    at first: under :data:`~lapor_sync.storage.disk_space.FULL_BELOW_BYTES` it is a fault (the disk is full).

    Raises:
        SQLAlchemyError: a failure that is not a fault of the database (see :func:`database_fault`).
    """
    path = sqlite_path(db.engine)
    if path is not None and (full := sqlite_folder_full(path)) is not None:
        return full
    probe = insert(Cursor).values(name=f"write-probe:{uuid.uuid4().hex[:12]}", position=now, updated_at=now)
    try:
        with db.engine.connect() as connection, _short_lock_wait(connection):
            with connection.begin() as transaction:
                if connection.dialect.name == "postgresql":
                    connection.exec_driver_sql(f"SET LOCAL lock_timeout = {int(PROBE_LOCK_WAIT_MS)}")
                connection.execute(probe)
                transaction.rollback()
    except SQLAlchemyError as exc:
        if _lock_held(exc):
            return None
        fault = database_fault(exc)
        if fault is None:
            raise
        return fault
    return None


@contextmanager
def _short_lock_wait(connection: Connection) -> Iterator[None]:
    """On SQLite, let ``connection`` wait :data:`PROBE_LOCK_WAIT_MS` for a lock, and give it back its busy timeout after.

    PostgreSQL's ``SET LOCAL`` ends with the transaction by itself.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.driver_connection  # a PRAGMA through SQLAlchemy would begin its transaction
    raw.execute(f"PRAGMA busy_timeout={int(PROBE_LOCK_WAIT_MS)}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def _lock_held(exc: SQLAlchemyError) -> bool:
    """Whether ``exc`` says another connection held the lock the probe needed (SQLite busy, PostgreSQL lock timeout)."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlite_errorcode", None)
    return (isinstance(code, int) and (code & 0xFF) in _SQLITE_BUSY) or getattr(
        orig, "sqlstate", None
    ) == _PG_LOCK_NOT_AVAILABLE
