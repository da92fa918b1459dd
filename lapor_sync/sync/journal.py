"""Sync runs and sync events: the record IT staff read to see what happened and why.

Events are written in the same transaction as the change they describe, so the log never claims a
change that was rolled back. Messages never hold secrets, reporters' personal data or complaint
content: they name complaints by tracking id and say what happened in plain words. Texts that come
from elsewhere (a server's message, an exception) are redacted here, the one place events and run
errors are written (``lapor_sync.runtime.redaction``: personal data masked, withheld texts cut out).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict, Unpack

from sqlalchemy import Connection, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from lapor_sync.domain.clock import Clock
from lapor_sync.domain.errors import RunInterrupted, TickTaken
from lapor_sync.domain.runs import Job, Level, RunOutcome
from lapor_sync.runtime.redaction import redact
from lapor_sync.storage.database import Database
from lapor_sync.storage.lease_handles import LeaseHandle
from lapor_sync.storage.models import COUNTERS, SyncEvent, SyncRun

log = logging.getLogger("lapor_sync.sync")


INTERRUPTED_BY_WORKER = "stopped on request (worker shutdown) after the item in flight; the next run goes on"
"""The reason recorded on a run the worker's shutdown (SIGTERM/SIGINT) ended ``interrupted``."""
INTERRUPTED_BY_USER = (
    "stopped by Ctrl-C; the item in flight was left for the next run (its changes rolled "
    "back, an outbox row in flight read back before any new post)"
)
"""The reason recorded on a manual command's run that Ctrl-C ended ``interrupted``."""


class About(TypedDict, total=False):
    """What a sync event is about, each part when known: the complaint (national id, tracking id) and the agency."""

    complaint_id: int | None
    tracking_id: str | None
    agency_code: str | None


_EVENT = SyncEvent.__table__  # type: ignore[attr-defined]
_RUN = SyncRun.__table__  # type: ignore[attr-defined]


class RunTally:
    """A run's counters while it runs, plain ints: one attribute per name of :data:`COUNTERS` (``fetched``, ...).

    :class:`~lapor_sync.storage.models.RunCounts` declares them and :class:`SyncRun` stores them;
    the journal counts here instead, because every assignment to an SQLModel goes through pydantic
    (about 40 times the cost of a plain attribute, and a pull bumps a counter or two per complaint).
    They reach the run row when the run is saved (:meth:`RunJournal.finish`), as before. A name
    that is no counter is refused (``AttributeError``: the slots are the counters).
    """

    __slots__ = COUNTERS

    def __init__(self) -> None:
        for name in COUNTERS:
            setattr(self, name, 0)

    def counters(self) -> dict[str, int]:
        """Return the counters as a plain dict, in :data:`COUNTERS` order (as ``RunCounts.counters``)."""
        return {name: getattr(self, name) for name in COUNTERS}


def event_row(
    at: datetime,
    kind: str,
    message: str,
    *,
    level: Level = Level.INFO,
    run_id: int | None = None,
    **about: Unpack[About],
) -> dict[str, Any]:
    """Make one sync event as a plain ``sync_event`` row and mirror it as a log line: the one place events are made.

    ``message`` is redacted here, so no caller can store or log one unredacted. ``run_id`` is
    ``None`` for an admin's action outside any run; ``at`` is aware UTC.

    Returns:
        The row, every column but ``id`` (the same keys for every event, so that rows of many
        events go in one executemany: :func:`insert_events`); nothing is stored yet.
    """
    message = redact(message)
    log.log(
        logging.WARNING if level is not Level.INFO else logging.INFO,
        message,
        extra={"run_id": run_id, "kind": kind, "tracking_id": about.get("tracking_id")},
    )
    return {
        "run_id": run_id,
        "at": at,
        "kind": kind,
        "level": level.value,
        "message": message,
        "complaint_id": about.get("complaint_id"),
        "tracking_id": about.get("tracking_id"),
        "agency_code": about.get("agency_code"),
    }


def add_event(
    session: Session,
    at: datetime,
    kind: str,
    message: str,
    *,
    level: Level = Level.INFO,
    run_id: int | None = None,
    **about: Unpack[About],
) -> None:
    """Add one sync event to ``session`` as an ORM object (see :func:`event_row` for what it holds and logs)."""
    session.add(SyncEvent(**event_row(at, kind, message, level=level, run_id=run_id, **about)))


def insert_events(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert :func:`event_row` rows with one executemany INSERT, in their order (their ids keep it).

    The hot path's way (a page of the pull, a batch of push outcomes): no ORM object per event,
    and one statement where the ORM would make one per event on SQLite, to read each new id back
    (SQLite cannot say which id went to which row of a many-row INSERT). Nothing reads those ids.
    Written in the caller's transaction, so an event is never stored without its change.
    """
    if rows:
        connection.execute(insert(_EVENT), list(rows))


@dataclass
class RunJournal:
    """The record of one sync run: its row, its counters and its events; and its checkpoint.

    Args:
        db: where runs are stored.
        clock: where "now" comes from.
        institution_id: the national institution the run works for.
        job: what the run does (see :class:`~lapor_sync.domain.runs.Job`).
        trigger: ``schedule``, ``manual`` or ``command``.
        stop: set to ask the run to stop at its next :meth:`checkpoint` (the worker's shutdown).
        leases: the job leases the run holds; a lost one stops it at the next checkpoint. Their
            holder and names are recorded on the run row.
        tick: the scheduled instant (aware) a worker's run belongs to; ``None`` for a run by hand.
    """

    db: Database
    clock: Clock
    institution_id: int
    job: Job
    trigger: str
    counts: RunTally = field(default_factory=RunTally)
    run_id: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    leases: tuple[LeaseHandle, ...] = ()
    tick: datetime | None = None
    quota_wait_until: datetime | None = field(default=None, init=False)
    _quota_waited: float = field(default=0.0, init=False, repr=False)
    _quota_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def waiting_on_quota(self, until: datetime) -> None:
        """Record on the run row that its requests wait on the request quota until ``until`` (aware).

        ``lapor-sync status`` (another process) reads it. Called from the thread that waits (a
        fetch or delivery thread too), in a transaction of its own: one short UPDATE of the run
        row, which nothing else writes while the run goes on.
        """
        self.quota_wait_until = until  # for a progress line in this process
        with self.db.engine.begin() as connection:
            connection.execute(
                update(_RUN).where(_RUN.c.id == self.run_id).values(quota_wait_until=until.astimezone(UTC))
            )

    def waited_on_quota(self, seconds: float) -> None:
        """Count ``seconds`` waited on the request quota into the run's ``quota_waited_seconds`` (any thread)."""
        with self._quota_lock:
            self._quota_waited += seconds

    @property
    def quota_waited_seconds(self) -> float:
        """Seconds the run's requests have waited on the request quota so far (any thread may read it)."""
        with self._quota_lock:
            return self._quota_waited

    def checkpoint(self) -> None:
        """Called between items: go on, or stop before the next item.

        Raises:
            RunInterrupted: a stop was requested.
            LeaseLost: a held lease lapsed, so another runner may be doing the same job now.
        """
        if self.stop.is_set():
            raise RunInterrupted
        for lease in self.leases:
            lease.ensure_held()

    def start(self) -> RunJournal:
        """Insert the run row (committed at once, so a crashed run stays visible as ``running``).

        Raises:
            TickTaken: a run of the same job already belongs to ``tick`` (the unique index said so).
        """
        holder = self.leases[0].holder if self.leases else None
        names = ",".join(lease.job for lease in self.leases) or None
        with self.db.session() as session:
            run = SyncRun(
                institution_id=self.institution_id,
                job=self.job,
                trigger=self.trigger,
                started_at=self.clock.now(),
                tick=self.tick,
                holder=holder,
                leases=names,
            )
            session.add(run)
            try:
                session.commit()
            except IntegrityError:
                raise TickTaken(self.job, self.tick) from None
            self.run_id = run.id
        log.info("sync run started", extra={"run_id": self.run_id, "job": self.job, "trigger": self.trigger})
        return self

    def event(
        self, session: Session, kind: str, message: str, *, level: Level = Level.INFO, **about: Unpack[About]
    ) -> None:
        """Add one sync event to ``session`` (committed with the caller's change); ``message`` is redacted."""
        add_event(session, self.clock.now(), kind, message, level=level, run_id=self.run_id, **about)

    def event_row(
        self, kind: str, message: str, *, level: Level = Level.INFO, **about: Unpack[About]
    ) -> dict[str, Any]:
        """One sync event of this run as a plain row (:func:`event_row`), for :func:`insert_events`; logged now."""
        return event_row(self.clock.now(), kind, message, level=level, run_id=self.run_id, **about)

    def event_into(
        self,
        rows: list[dict[str, Any]],
        kind: str,
        message: str,
        *,
        level: Level = Level.INFO,
        **about: Unpack[About],
    ) -> None:
        """Append one sync event of this run to ``rows``, a batch its caller writes with :func:`insert_events`.

        The hot path's :meth:`event` (a page of the pull, a batch of push outcomes): the caller
        inserts the batch in the transaction of the change the events tell. A journal that must not
        write (a resync's dry run) overrides this and :meth:`event` alike.
        """
        rows.append(self.event_row(kind, message, level=level, **about))

    def standalone_event(self, kind: str, message: str, *, level: Level = Level.INFO, **about: Unpack[About]) -> None:
        """Record one event in its own transaction (for events not tied to a data change)."""
        with self.db.session() as session:
            self.event(session, kind, message, level=level, **about)
            session.commit()

    def finish(
        self, *, error: str | None = None, interrupted: bool = False, reason: str = INTERRUPTED_BY_WORKER
    ) -> SyncRun:
        """Close the run with its counters: outcome ``ok``, ``failed`` with ``error``, or ``interrupted``.

        An interrupted run keeps what it stored item by item but did not move the inbox cursor
        unless its walk was complete; the next run goes on from there. ``reason`` says who stopped it.
        The stored error is redacted.
        """
        with self.db.session() as session:
            run = session.get(SyncRun, self.run_id)
            assert run is not None
            run.finished_at = self.clock.now()
            if interrupted:
                run.outcome = RunOutcome.INTERRUPTED
                run.error = redact(reason)
            else:
                run.outcome = RunOutcome.FAILED if error else RunOutcome.OK
                run.error = redact(error) if error else error
            with self._quota_lock:
                self.counts.quota_waited_seconds = round(self._quota_waited)
            for name, value in self.counts.counters().items():
                setattr(run, name, value)
            session.add(run)
            session.commit()
        # Counters nested: "created" is also a LogRecord attribute, which ``extra`` may not overwrite.
        log.info(
            "sync run finished",
            extra={"run_id": self.run_id, "job": self.job, "outcome": run.outcome, "counts": self.counts.counters()},
        )
        return run
