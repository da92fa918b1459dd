"""Held job leases: renewing them (also from a background thread) and releasing them.

The taking of a lease, and why there are leases at all, is in :mod:`lapor_sync.storage.lease`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
import weakref
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, delete, func, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement, TextClause

from lapor_sync.domain.clock import Clock
from lapor_sync.domain.errors import LeaseLost
from lapor_sync.domain.timezones import display_wib
from lapor_sync.storage.database import Database
from lapor_sync.storage.db_clock import later_sql, now_sql
from lapor_sync.storage.models import Lease

log = logging.getLogger("lapor_sync.storage.lease")
LEASE = Lease.__table__  # type: ignore[attr-defined]
ROW_TOKEN = "row:"
"""How the token of a lease held by its row begins (an advisory holder's token is plain hex)."""


def new_row_token() -> str:
    """A fresh token for a lease held by its row: :data:`ROW_TOKEN` and 28 hex digits (32 characters)."""
    return ROW_TOKEN + uuid.uuid4().hex[:28]


@dataclass(frozen=True)
class LeaseInfo:
    """A lease as stored: who holds which job of which institution; datetimes aware, UTC."""

    institution_id: int
    job: str
    holder: str
    acquired_at: datetime
    expires_at: datetime
    renewed_at: datetime


def lease_row(institution_id: int, job: str) -> ColumnElement[bool]:
    """The WHERE clause selecting one lease row."""
    return (LEASE.c.institution_id == institution_id) & (LEASE.c.job == job)


_SCHEMAS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()
"""The current schema of each engine's connections, asked once: every connection of an engine has its URL's search path."""


def advisory_key(conn: Connection, institution_id: int, job: str) -> int:
    """Return the signed 64-bit PostgreSQL advisory lock key of a job lease.

    The current schema is hashed in too, so two installations sharing one database in separate
    schemas never block each other.
    """
    schema = _SCHEMAS.get(conn.engine)
    if schema is None:
        schema = _SCHEMAS[conn.engine] = conn.execute(select(func.current_schema())).scalar_one()
    digest = hashlib.blake2b(f"lapor-sync lease/{schema}/{institution_id}/{job}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def split_key(key: int) -> tuple[int, int]:
    """Split a 64-bit advisory key into the ``(classid, objid)`` that ``pg_locks`` shows: high, low 32 bits."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


def _held_by_this_session(key: int) -> TextClause:
    """A condition true when this PostgreSQL session holds the advisory lock ``key`` (see :func:`lock_sessions`)."""
    classid, objid = split_key(key)
    return text(
        "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND classid = :classid AND objid = :objid AND objsubid = 1 AND pid = pg_backend_pid())"
    ).bindparams(classid=classid, objid=objid)


def lock_sessions(conn: Connection, key: int) -> list[int]:
    """Return the process ids of the PostgreSQL sessions holding the advisory lock ``key`` (at most one).

    ``pg_locks`` shows a lock taken with one 64-bit key as ``objsubid`` 1 and the key split by
    :func:`split_key`. A holder renewing its lease looks for its own session here; tests and
    measurements end the sessions found (``pg_terminate_backend``) to lose a lease on purpose.
    """
    classid, objid = split_key(key)
    held = conn.execute(
        text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = :classid AND objid = :objid AND objsubid = 1"
        ),
        {"classid": classid, "objid": objid},
    )
    return list(held.scalars())


class LeaseHandle(ABC):
    """A lease this process holds; got from ``Leases.hold``.

    Attributes:
        job, institution_id, holder: what is held, by whom (``holder_name``: ``"<host>:<pid> <purpose> @<incarnation>"``).
        acquired_at, expires_at: aware UTC; ``expires_at`` moves on each renewal.
    """

    def __init__(self, clock: Clock, ttl: timedelta, info: LeaseInfo, token: str) -> None:
        self.job, self.institution_id, self.holder = info.job, info.institution_id, info.holder
        self.acquired_at, self.expires_at = info.acquired_at, info.expires_at
        self._clock, self._ttl, self._token = clock, ttl, token
        self._guard = threading.Lock()  # the renewer thread and the owner never talk to the database at once
        self._lost: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._released = False
        with _HELD_LOCK:
            _HELD.add(self)

    @property
    def lost(self) -> bool:
        """True once a renewal found the lease lost."""
        return self._lost is not None

    def ensure_held(self) -> None:
        """Raise :class:`LeaseLost` if a renewal (perhaps in the background) found the lease lost."""
        if self._lost is not None:
            raise LeaseLost(self.job, self._lost)

    def renew(self) -> None:
        """Push ``expires_at`` to now + ``lease_seconds`` and note the renewal time.

        Raises:
            LeaseLost: another runner took the lease, or the lock's connection broke.
            sqlalchemy.exc.SQLAlchemyError: SQLite could not be written just now; the lease
                still holds until ``expires_at``.
        """
        with self._guard:
            self.ensure_held()
            try:
                self.expires_at = self._renew(self._clock.now())
            except LeaseLost as exc:
                self._lost = exc.reason
                raise

    def start_renewing(self, every_seconds: float) -> None:
        """Renew from a daemon thread every ``every_seconds`` until :meth:`release`."""
        self._renewer = threading.Thread(
            target=self._renew_until_released, args=(every_seconds,), name=f"lease-renewer-{self.job}", daemon=True
        )
        self._renewer.start()

    def release(self) -> None:
        """Stop renewing and give the lease up, once (later calls do nothing); a failure is logged.

        After a failure the lease lapses by itself, or is taken over at once once this process has
        ended (:mod:`lapor_sync.storage.lease`).
        """
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join()
        with self._guard:
            if self._released:
                return
            self._released = True
            self._release()
        with _HELD_LOCK:
            _HELD.discard(self)

    def _renew_until_released(self, every_seconds: float) -> None:
        while not self._stop.wait(every_seconds):
            try:
                self.renew()
            except LeaseLost as exc:
                log.error("%s; the run must stop", exc)
                return
            except SQLAlchemyError as exc:
                log.warning(
                    "lease of job '%s' not renewed (%s); trying again, it holds until %s",
                    self.job,
                    type(exc).__name__,
                    display_wib(self.expires_at),
                )

    @abstractmethod
    def _renew(self, now: datetime) -> datetime:
        """Extend the lease in the database and return its new expiry, or raise :class:`LeaseLost`."""

    @abstractmethod
    def _release(self) -> None:
        """Give the lease up in the database; log, never raise, on a database error."""

    def _mine(self) -> ColumnElement[bool]:
        return lease_row(self.institution_id, self.job) & (LEASE.c.token == self._token)


_HELD: weakref.WeakSet[LeaseHandle] = weakref.WeakSet()
"""The leases this process holds now (each until its :meth:`LeaseHandle.release`)."""
_HELD_LOCK = threading.Lock()


def release_held_leases() -> list[str]:
    """Release every lease this process still holds; return their jobs.

    For a process about to leave without its runs' ``with`` blocks ending (a worker whose runs are
    stalled in a request past ``shutdown_timeout_seconds``): without it, every ``sync`` would be
    refused as busy until ``lease_seconds`` passed. A run still in flight loses its lease, which is
    safe: the process ends next, and its outbox claims fence off anything it had started.
    """
    with _HELD_LOCK:
        held = list(_HELD)
    for handle in held:
        handle.release()
    return [handle.job for handle in held]


class RowLease(LeaseHandle):
    """A lease that is the ``lease`` row itself (SQLite, or ``lease_mode=row``).

    It is valid while ``expires_at`` is ahead, by the database's clock on PostgreSQL
    (:mod:`lapor_sync.storage.db_clock`) and by the injected clock on SQLite.
    """

    def __init__(self, db: Database, clock: Clock, ttl: timedelta, info: LeaseInfo, token: str) -> None:
        super().__init__(clock, ttl, info, token)
        self._db = db

    def _renew(self, now: datetime) -> datetime:
        # The token changes when another runner takes an expired lease, so a late renewal cannot steal it back.
        with self._db.engine.begin() as conn:
            renewed = conn.execute(
                update(LEASE)
                .where(self._mine())
                .values(
                    expires_at=later_sql(conn, now, self._ttl.total_seconds()),
                    renewed_at=now_sql(conn, now),
                )
                .returning(LEASE.c.expires_at)
            ).first()
        if renewed is None:
            raise LeaseLost(self.job, "it expired unrenewed and another runner took it")
        return renewed.expires_at

    def _release(self) -> None:
        try:
            with self._db.engine.begin() as conn:
                conn.execute(delete(LEASE).where(self._mine()))
        except SQLAlchemyError as exc:
            log.warning(
                "lease of job '%s' not released (%s); it lapses at %s, or at once for a runner on this host "
                "once this process has ended",
                self.job,
                type(exc).__name__,
                display_wib(self.expires_at),
            )


class AdvisoryLease(LeaseHandle):
    """A PostgreSQL advisory lock held by a connection kept for the lease's life, plus its info row."""

    def __init__(self, conn: Connection, key: int, clock: Clock, ttl: timedelta, info: LeaseInfo, token: str) -> None:
        super().__init__(clock, ttl, info, token)
        self._conn, self._key = conn, key

    def _renew(self, now: datetime) -> datetime:
        expires_at = now + self._ttl  # informs only: the lock itself never expires
        try:
            # One statement while all is well: the info row is renewed only where this session holds the lock.
            renewed = self._conn.execute(
                update(LEASE)
                .where(self._mine(), _held_by_this_session(self._key))
                .values(expires_at=expires_at, renewed_at=now)
                .returning(LEASE.c.job)
            ).first()
            # No row renewed: the lock is gone, or only its info row (the lock is what counts).
            held = renewed is not None or self._lock_held()
            self._conn.commit()
        except SQLAlchemyError:
            raise LeaseLost(self.job, "the database connection holding its lock broke") from None
        if not held:
            raise LeaseLost(self.job, "the database no longer holds its lock")
        return expires_at

    def _lock_held(self) -> bool:
        """Whether this handle's session still holds its advisory lock."""
        this_session = self._conn.execute(select(func.pg_backend_pid())).scalar_one()
        return this_session in lock_sessions(self._conn, self._key)

    def _release(self) -> None:
        try:
            self._conn.execute(delete(LEASE).where(self._mine()))
            self._conn.execute(select(func.pg_advisory_unlock(self._key)))
            self._conn.commit()
        except SQLAlchemyError as exc:
            # Dropping the session below frees the lock anyway.
            log.warning("lease of job '%s' not released cleanly (%s)", self.job, type(exc).__name__)
            self._conn.invalidate()
        finally:
            self._conn.close()
