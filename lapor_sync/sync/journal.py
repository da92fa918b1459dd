"""Sync runs and sync events: the record IT staff read to see what happened and why.

Events are written in the same transaction as the change they describe, so the log never claims a
change that was rolled back. Messages never hold secrets, reporters' personal data or complaint
content: they name complaints by tracking id and say what happened in plain words.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum

from sqlmodel import Session

from lapor_sync.domain.clock import Clock
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import SyncEvent, SyncRun

log = logging.getLogger("lapor_sync.sync")


class Level(StrEnum):
    """Severity of a sync event."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


COUNTERS = ("fetched", "created", "updated", "unchanged", "set_aside", "pushed", "failed", "dead_lettered")


@dataclass
class RunCounts:
    """Counters of one sync run (see :data:`COUNTERS`)."""

    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    set_aside: int = 0
    pushed: int = 0
    failed: int = 0
    dead_lettered: int = 0

    def as_dict(self) -> dict[str, int]:
        """Return the counters as a plain dict, in :data:`COUNTERS` order."""
        return {name: getattr(self, name) for name in COUNTERS}


@dataclass
class RunJournal:
    """The record of one sync run: its row, its counters and its events.

    Args:
        db: where runs are stored.
        clock: where "now" comes from.
        institution_id: the national institution the run works for.
        job: ``pull``, ``push`` or ``sync`` (both).
        trigger: ``schedule``, ``manual`` or ``command``.
    """

    db: Database
    clock: Clock
    institution_id: int
    job: str
    trigger: str
    counts: RunCounts = field(default_factory=RunCounts)
    run_id: int = 0

    def start(self) -> RunJournal:
        """Insert the run row (committed at once, so a crashed run stays visible as ``running``)."""
        with self.db.session() as session:
            run = SyncRun(institution_id=self.institution_id, job=self.job, trigger=self.trigger,
                          started_at=self.clock.now())
            session.add(run)
            session.commit()
            self.run_id = run.id
        log.info("sync run started", extra={"run_id": self.run_id, "job": self.job, "trigger": self.trigger})
        return self

    def event(self, session: Session, kind: str, message: str, *, level: Level = Level.INFO,
              complaint_id: int | None = None, tracking_id: str | None = None,
              agency_code: str | None = None) -> None:
        """Add one sync event to ``session`` (committed with the caller's change)."""
        session.add(SyncEvent(run_id=self.run_id, at=self.clock.now(), complaint_id=complaint_id,
                              tracking_id=tracking_id, agency_code=agency_code, kind=kind,
                              level=level.value, message=message))
        log.log(logging.WARNING if level is not Level.INFO else logging.INFO, message,
                extra={"run_id": self.run_id, "kind": kind, "tracking_id": tracking_id})

    def standalone_event(self, kind: str, message: str, *, level: Level = Level.INFO,
                         complaint_id: int | None = None, tracking_id: str | None = None) -> None:
        """Record one event in its own transaction (for events not tied to a data change)."""
        with self.db.session() as session:
            self.event(session, kind, message, level=level, complaint_id=complaint_id, tracking_id=tracking_id)
            session.commit()

    def finish(self, *, error: str | None = None) -> SyncRun:
        """Close the run with its counters: outcome ``ok``, or ``failed`` with ``error``."""
        with self.db.session() as session:
            run = session.get(SyncRun, self.run_id)
            assert run is not None
            run.finished_at = self.clock.now()
            run.outcome = "failed" if error else "ok"
            run.error = error
            for name, value in self.counts.as_dict().items():
                setattr(run, name, value)
            session.add(run)
            session.commit()
        log.info("sync run finished", extra={"run_id": self.run_id, "outcome": run.outcome, **self.counts.as_dict()})
        return run
