"""Job leases: one runner per (institution, job) at a time, held in the database.

Without a lease, two workers on one database, or a worker plus a manual ``sync``/``resync``, would
run the same job at once: both read the same cursor and fetch the same pages, and both walk the
same outbox. A lease makes the second runner wait (manual commands) or skip its tick (the
scheduled worker) instead. A lease is an optimisation, not the safety: it can be lost without its
holder noticing in time (a stepped clock, a dropped connection, a long pause), so whatever writes
to the national side also claims each outbox row with a fencing token
(:mod:`lapor_sync.sync.claims`), and a run checks its leases for real before it ends ``ok``.

Two ways to hold one (``Settings.lease_mode``):

* ``auto`` on PostgreSQL: ``pg_try_advisory_lock`` on a connection kept open for the lease's
  life. The server drops the lock when that connection closes, so a dead process's lease vanishes
  at once. The ``lease`` row is written too, only to say who holds it and since when. A session
  lock needs a session: behind a pooler in transaction mode (pgbouncer) it does not hold.
* ``row``, and always on SQLite: the ``lease`` row itself, taken in one short write transaction
  when absent or expired. A held lease must be renewed before ``lease_seconds`` pass (a background
  thread does it); a dead holder stops renewing, so its lease lapses after at most
  ``lease_seconds``, and at once when the holder ran on this host and its process has ended
  (:func:`~lapor_sync.storage.holders.liveness`: the pid and its start time, so a reused pid is
  not taken for the holder). Holders release their leases on every way out they get to (a
  full disk can refuse even that; a SIGKILL gives none). Expiry is measured by the database's clock on PostgreSQL and by the injected
  clock on SQLite (:mod:`lapor_sync.storage.db_clock`), where a clock stepped forward can make a
  live holder's lease look expired: the outbox claims keep that from sending anything twice.

Every process sharing a database should use the same mode; an advisory holder still leaves a
live row-mode lease alone.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import Connection, Row, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from lapor_sync.domain.clock import Clock
from lapor_sync.domain.errors import LeaseBusy
from lapor_sync.domain.timezones import display_wib
from lapor_sync.storage.database import Database
from lapor_sync.storage.db_clock import has_clock, later_sql, now_sql
from lapor_sync.storage.holders import Liveness, holder_name, liveness
from lapor_sync.storage.lease_handles import (
    LEASE,
    ROW_TOKEN,
    AdvisoryLease,
    LeaseHandle,
    LeaseInfo,
    RowLease,
    advisory_key,
    lease_row,
    new_row_token,
    split_key,
)

__all__ = ["LeaseHandle", "LeaseInfo", "Leases", "held_leases", "holder_name"]

log = logging.getLogger(__name__)
_KEY_COLUMNS = ("institution_id", "job")


class Leases:
    """Takes job leases for one holder (this process and what it runs).

    Args:
        db: the database holding the leases (SQLite or PostgreSQL).
        clock: the source of "now" for the lease times and for the waiting deadline.
        holder: this runner's name, from :func:`holder_name`.
        lease_seconds: how long a lease lives without renewal, seconds (``Settings.lease_seconds``).
            An advisory lock never expires; there the row's ``expires_at`` only informs.
        mode: ``auto`` (an advisory lock on PostgreSQL, the lease row on SQLite) or ``row`` (the
            lease row on any engine, expiring by the database's clock); ``Settings.lease_mode``.
        poll_seconds: how long to sleep between attempts while waiting, seconds.
        sleep: sleeps the given seconds; tests inject one that moves a manual clock.
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        holder: str,
        *,
        lease_seconds: float = 120.0,
        mode: str = "auto",
        poll_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._db, self._clock, self.holder = db, clock, holder
        self._ttl = timedelta(seconds=lease_seconds)
        self._advisory = mode == "auto" and has_clock(db.engine)
        self._poll = poll_seconds
        self._sleep = sleep

    @contextmanager
    def hold(
        self, job: str, *, institution_id: int, wait_seconds: float = 0, renew_in_background: bool = True
    ) -> Iterator[LeaseHandle]:
        """Hold the lease of ``job`` for ``institution_id`` during the ``with`` block, then release it.

        Args:
            job: the job's name, at most 32 characters.
            institution_id: the national institution whose job it is.
            wait_seconds: how long to keep trying while another runner holds it, seconds
                (0 = one attempt).
            renew_in_background: renew from a daemon thread every third of ``lease_seconds`` so a
                long run keeps its lease; the thread stops on release.

        Raises:
            LeaseBusy: still held by another runner when ``wait_seconds`` have passed.
        """
        handle = self._acquire(job, institution_id, wait_seconds)
        log.debug("lease of job '%s' taken by %s", job, self.holder)
        if renew_in_background:
            handle.start_renewing(self._ttl.total_seconds() / 3)
        try:
            yield handle
        finally:
            handle.release()
            log.debug("lease of job '%s' released by %s", job, self.holder)

    def _acquire(self, job: str, institution_id: int, wait_seconds: float) -> LeaseHandle:
        deadline = self._clock.now() + timedelta(seconds=wait_seconds)
        while True:
            outcome = self._attempt(job, institution_id)
            if isinstance(outcome, LeaseHandle):
                return outcome
            remaining = (deadline - self._clock.now()).total_seconds()
            if remaining <= 0:
                raise self._busy(job, outcome)
            self._sleep(min(self._poll, remaining))

    def _busy(self, job: str, holder: LeaseInfo | None) -> LeaseBusy:
        """The refusal naming ``holder``, how long it has been silent and when its lease frees."""
        if holder is None:
            return LeaseBusy(job, "another process", None)
        silent = int((self._clock.now() - holder.renewed_at).total_seconds())
        frees_at = None if self._advisory else holder.expires_at
        seen_here = liveness(holder.holder) is not Liveness.UNKNOWN
        return LeaseBusy(
            job, holder.holder, holder.acquired_at, silent_seconds=silent, frees_at=frees_at, seen_here=seen_here
        )

    def _attempt(self, job: str, institution_id: int) -> LeaseHandle | LeaseInfo | None:
        """Try once: return the handle, or the holder's row (``None`` when it has not written it yet)."""
        now = self._clock.now()
        if self._advisory:
            info = LeaseInfo(institution_id, job, self.holder, now, now + self._ttl, now)
            return self._attempt_advisory(info, uuid.uuid4().hex)
        # One short write transaction: insert, or take over a row whose holder stopped renewing it.
        # A holder of this host whose process has ended is taken over at once, not after its expiry:
        # it can no longer write, and the outbox claims fence it off even if it could.
        token = new_row_token()
        with self._db.engine.begin() as conn:
            taken = now_sql(conn, now)
            values = {
                "holder": self.holder,
                "token": token,
                "acquired_at": taken,
                "expires_at": later_sql(conn, now, self._ttl.total_seconds()),
                "renewed_at": taken,
            }
            stored = _write_row(conn, institution_id, job, values, only_if=LEASE.c.expires_at <= taken)
            if stored is None:
                held = _read(conn, institution_id, job)
                if held is None or liveness(held.holder) is not Liveness.GONE:
                    return held
                stored = _write_row(conn, institution_id, job, values, only_if=LEASE.c.holder == held.holder)
                if stored is None:
                    return _read(conn, institution_id, job)
                log.warning(
                    "lease of job '%s' taken over from %s: that process has ended (the lease held until %s)",
                    job,
                    held.holder,
                    display_wib(held.expires_at),
                    extra={"job": job},
                )
        return RowLease(self._db, self._clock, self._ttl, _info(stored), token)

    def _attempt_advisory(self, info: LeaseInfo, token: str) -> LeaseHandle | LeaseInfo | None:
        conn = self._db.engine.connect()
        try:
            key = advisory_key(conn, info.institution_id, info.job)
            if not conn.execute(select(func.pg_try_advisory_lock(key))).scalar_one():
                holder = _read(conn, info.institution_id, info.job)
                conn.close()
                return holder
            values = {name: getattr(info, name) for name in ("holder", "acquired_at", "expires_at", "renewed_at")}
            # A dead advisory holder's row is overwritten; a live row-mode holder's is not (mixed modes).
            row_lease_live = LEASE.c.token.startswith(ROW_TOKEN) & (
                LEASE.c.expires_at > now_sql(conn, info.acquired_at)
            )
            if (
                _write_row(conn, info.institution_id, info.job, values | {"token": token}, only_if=~row_lease_live)
                is None
            ):
                holder = _read(conn, info.institution_id, info.job)
                conn.rollback()
                conn.execute(select(func.pg_advisory_unlock(key)))
                conn.close()
                return holder
            conn.commit()
        except BaseException:
            conn.invalidate()  # ending the server session frees a lock taken just now
            conn.close()
            raise
        return AdvisoryLease(conn, key, self._clock, self._ttl, info, token)


def held_leases(db: Database, clock: Clock) -> list[LeaseInfo]:
    """List the leases held now, oldest first (for ``lapor-sync status``).

    SQLite: the rows not yet expired at ``clock.now()``. PostgreSQL: the rows whose advisory lock a
    live session holds (a row left behind by a dead process is not listed), and the row-mode
    leases not yet expired by the server's clock.
    """
    with db.engine.connect() as conn:
        if not has_clock(conn):
            rows = conn.execute(select(LEASE).where(LEASE.c.expires_at > clock.now()).order_by(LEASE.c.acquired_at))
            return [_info(row) for row in rows]
        locked = {
            (lock.classid, lock.objid)
            for lock in conn.execute(
                text(
                    "SELECT classid, objid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
                    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
        }
        live_row_lease = LEASE.c.token.startswith(ROW_TOKEN) & (LEASE.c.expires_at > func.clock_timestamp())
        rows = conn.execute(select(LEASE, live_row_lease.label("live_row_lease")).order_by(LEASE.c.acquired_at))
        return [
            _info(row)
            for row in rows
            if row.live_row_lease or split_key(advisory_key(conn, row.institution_id, row.job)) in locked
        ]


def _write_row(
    conn: Connection, institution_id: int, job: str, values: dict[str, object], *, only_if: ColumnElement[bool]
) -> Row | None:
    """Insert the lease row, or overwrite the existing one where ``only_if`` holds; return the row written."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(LEASE).values(institution_id=institution_id, job=job, **values)
    statement = statement.on_conflict_do_update(
        index_elements=list(_KEY_COLUMNS),
        set_={name: statement.excluded[name] for name in values},
        where=only_if,
    ).returning(*LEASE.c)
    return conn.execute(statement).first()


def _read(conn: Connection, institution_id: int, job: str) -> LeaseInfo | None:
    row = conn.execute(select(LEASE).where(lease_row(institution_id, job))).first()
    return None if row is None else _info(row)


def _info(row: object) -> LeaseInfo:
    return LeaseInfo(**{name: getattr(row, name) for name in LeaseInfo.__dataclass_fields__})
