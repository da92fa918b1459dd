"""Sync runs: each job (pull, push, sync, reconcile, retention, ...) under its leases, recorded as one run.

One runner per job: a run first takes the job leases it needs (``pull`` for anything that walks
or rereads the national side, ``push`` for the outbox), so two workers on one database, or a
worker and a manual command, do not do the same job at once. A lease can be lost unnoticed (a
stepped clock, a dropped connection), so a run checks its leases in the database before it ends
``ok`` and fails if one was lost; what keeps the outbox safe meanwhile is the claim on each row
(:mod:`lapor_sync.sync.claims`). Taking a lease also closes the runs left ``running`` by a holder
that is gone (:mod:`lapor_sync.sync.abandoned`). A stop request (the worker's SIGTERM) ends a run
after the item in flight, with outcome ``interrupted``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from lapor_sync.domain.clock import Clock
from lapor_sync.domain.errors import (
    AlreadyRun,
    ConfigurationError,
    LeaseLost,
    NationalPlatformError,
    RunInterrupted,
    TickTaken,
)
from lapor_sync.domain.ports import QuotaReporting
from lapor_sync.domain.routing import CityMapping
from lapor_sync.domain.runs import Job
from lapor_sync.domain.timezones import display_wib
from lapor_sync.storage.database import Database
from lapor_sync.storage.faults import database_fault
from lapor_sync.storage.lease import LeaseHandle, Leases
from lapor_sync.storage.models import Agency, SyncRun
from lapor_sync.sync.abandoned import abandon_runs_lost_to
from lapor_sync.sync.admin.retention import prune_attempts, prune_events
from lapor_sync.sync.claims import ClaimLost
from lapor_sync.sync.journal import INTERRUPTED_BY_USER, INTERRUPTED_BY_WORKER, Level, RunJournal
from lapor_sync.sync.pull import Puller
from lapor_sync.sync.push import Pusher


def sync_agencies(session: Session, mapping: CityMapping) -> bool:
    """Make the agency table match the mapping file; returns whether anything was written."""
    stored = {a.code: a for a in session.exec(select(Agency))}
    changed = False
    for agency in mapping.agencies:
        row = stored.get(agency.code)
        wanted = (agency.name, agency.abbreviation, agency.institution_id)
        if row is not None and (row.name, row.abbreviation, row.national_institution_id) == wanted:
            continue
        row = row or Agency(code=agency.code, name=agency.name)
        row.name, row.abbreviation, row.national_institution_id = wanted
        session.add(row)
        changed = True
    return changed


@dataclass(kw_only=True)
class JobRunner:
    """Runs recorded jobs of one institution under their job leases.

    What every job shares, also one that never calls LAPOR! (``lapor-sync purge`` needs no
    platform client and no national credentials).

    Args:
        db: the city's database.
        mapping: the city's routing rules (its institution names the runs and leases).
        clock: where "now" comes from.
        leases: takes the job leases, named after this process (``holder_name``).
        stop: set it to stop every run of this runner after its item in flight (SIGTERM).
    """

    db: Database
    mapping: CityMapping
    clock: Clock
    leases: Leases
    stop: threading.Event = field(default_factory=threading.Event)

    def execute(
        self,
        job: Job,
        work: Callable[[RunJournal], None],
        *,
        leases: Sequence[Job] | None = None,
        trigger: str = "command",
        lease_wait_seconds: float = 0,
        tick: datetime | None = None,
        agencies: bool = True,
    ) -> SyncRun:
        """Run ``work`` as one recorded run of ``job`` while holding the job leases ``leases``.

        The leases are taken in the order given, before the run row is written, and released
        when the run has finished, whatever its end. Once they are taken, runs that held one of
        them and whose holder is gone are closed as ``abandoned``. Before the run ends ``ok`` its
        leases are checked in the database (advisory lock still held on its connection, lease row
        still ours).

        Args:
            job: the run's job (``sync_run.job``), at most 16 characters.
            work: does the job; counts and events go to the journal it is given, and it calls
                ``journal.checkpoint()`` between items.
            leases: the job leases to hold (default: one named ``job``).
            trigger: ``schedule``, ``manual`` or ``command``.
            lease_wait_seconds: how long to wait for each busy lease, seconds (0: one attempt,
                as for scheduled ticks).
            tick: the scheduled instant (aware) this run belongs to, recorded on the run; skip when a
                run of ``job`` already belongs to it (with several workers on one database, another
                did it). Decided by the tick's identity, never by comparing wall-clock times, so
                runs stamped by a clock that stepped ahead and back again cannot make ticks look done.
            agencies: with the ``pull`` lease, first make the agency table follow the mapping file;
                a dry run passes ``False`` and does it in its own rolled-back sessions.

        Returns:
            The finished run: ``ok``; ``failed`` (platform error, a setting, a lease or an outbox claim lost)
            with its reason; or ``interrupted`` (``stop`` was set). A ``KeyboardInterrupt`` (Ctrl-C) also
            closes the run as ``interrupted``, then goes on up.

        Raises:
            LeaseBusy: a lease is still held by another runner after ``lease_wait_seconds``.
            AlreadyRun: see ``tick``; nothing was done.
        """
        names = tuple(leases or (job,))
        with ExitStack() as held:
            handles = tuple(
                held.enter_context(
                    self.leases.hold(name, institution_id=self.institution_id, wait_seconds=lease_wait_seconds)
                )
                for name in names
            )
            self._prepare(job, names, tick, agencies=agencies and Job.PULL in (leases or ()))
            journal = self._start(job, trigger, handles, tick)
            return self._run(journal, work)

    @property
    def institution_id(self) -> int:
        """The national institution whose runs and leases these are (the mapping's)."""
        return self.mapping.institution.id

    def _prepare(self, job: Job, leases: tuple[Job, ...], tick: datetime | None, *, agencies: bool) -> None:
        """Once the leases are held, before the run row: close runs lost to them, skip a done tick, follow the mapping.

        Raises:
            AlreadyRun: a run of ``job`` already belongs to ``tick``.
        """
        abandon_runs_lost_to(self.db, self.clock, self.institution_id, leases, self.leases.holder)
        if tick is not None:
            self._check_not_run(job, tick)
        if agencies:
            # Cases name their agency: the table follows the mapping before anything is stored.
            with self.db.session() as session:
                if sync_agencies(session, self.mapping):
                    session.commit()

    def _start(self, job: Job, trigger: str, leases: tuple[LeaseHandle, ...], tick: datetime | None) -> RunJournal:
        """Write the run row, ``running``, and return its journal.

        Raises:
            AlreadyRun: another runner wrote the run of ``tick`` since :meth:`_prepare` looked.
        """
        journal = RunJournal(
            self.db, self.clock, self.institution_id, job, trigger, stop=self.stop, leases=leases, tick=tick
        )
        try:
            return journal.start()
        except TickTaken:
            assert tick is not None  # only a tick's run can clash
            self._check_not_run(job, tick)  # raises AlreadyRun, naming the run that took the tick
            raise

    def _run(self, journal: RunJournal, work: Callable[[RunJournal], None]) -> SyncRun:
        """Do ``work`` in the run of ``journal``, check that its leases are still held, and close it with its outcome."""
        try:
            work(journal)
            for handle in journal.leases:
                handle.renew()  # raises LeaseLost if another runner may have run the job meanwhile
        except RunInterrupted:
            return _stopped(journal, f"Sync run stopped on request: the {journal.job} goes on with the next run.")
        except (NationalPlatformError, ConfigurationError, LeaseLost, ClaimLost) as exc:
            return self._failed(journal, exc)
        except KeyboardInterrupt:
            # Ctrl-C on a manual command is a stop request, not a fault: health must not call it failing.
            _stopped(
                journal,
                f"Sync run ({journal.job}) stopped by Ctrl-C before it was done; what it stored until then stays.",
                reason=INTERRUPTED_BY_USER,
            )
            raise
        except BaseException as exc:
            # A bug, or the database failing (a full disk): close the run so it does not stay "running" forever.
            journal.finish(error=_unexpected(exc))
            raise
        return journal.finish()

    def _failed(self, journal: RunJournal, exc: Exception) -> SyncRun:
        """Close a run that the platform, a setting, a lost lease or a lost claim stopped.

        Its outcome is ``failed``, with the reason; or ``interrupted`` when a stop was requested meanwhile.
        """
        if self.stop.is_set():
            # A failure that ends a run cut short on request (the retries gave up at once) is
            # the stop, not a fault of the platform: health must not call it failing.
            return _stopped(
                journal, f"Sync run stopped on request during a call to LAPOR! ({exc}); the next run goes on"
            )
        journal.standalone_event("run.failed", f"Sync run stopped: {exc}", level=Level.ERROR)
        return journal.finish(error=str(exc))

    def _check_not_run(self, job: Job, tick: datetime) -> None:
        """Raise :class:`AlreadyRun` when a run of ``job`` already belongs to ``tick``."""
        with self.db.session() as session:
            done = session.exec(
                select(SyncRun).where(
                    SyncRun.institution_id == self.institution_id, SyncRun.job == job, SyncRun.tick == tick
                )
            ).first()
        if done is not None:
            raise AlreadyRun(job, done.id or 0, done.started_at)


def _stopped(journal: RunJournal, message: str, *, reason: str = INTERRUPTED_BY_WORKER) -> SyncRun:
    """Close a run stopped on request as ``interrupted``, with a warning event saying ``message``."""
    journal.standalone_event("run.interrupted", message, level=Level.WARNING)
    return journal.finish(interrupted=True, reason=reason)


@dataclass(kw_only=True)
class SyncService(JobRunner):
    """Runs the sync jobs of one institution: a :class:`JobRunner` with the pull and push halves.

    Args:
        puller: the pull half.
        pusher: the push half.
        db, mapping, clock, leases, stop: see :class:`JobRunner`.
    """

    puller: Puller
    pusher: Pusher

    def execute(self, job: Job, work: Callable[[RunJournal], None], **options: Any) -> SyncRun:
        """Run ``work`` as one recorded run of ``job`` (see :meth:`JobRunner.execute`, whose options it takes).

        While it runs, its journal is told of the platform client's waits on the request quota
        (CONTRACT §7 G4): the run counts them (``quota_waited_seconds``) and ``status`` shows one
        under way. The pull and the push share the one client.
        """
        platform = self.puller.platform
        if not isinstance(platform, QuotaReporting):
            return super().execute(job, work, **options)

        def reported(journal: RunJournal) -> None:
            platform.report_quota_to(journal)
            try:
                work(journal)
            finally:
                platform.report_quota_to(None)

        return super().execute(job, reported, **options)

    def run(
        self,
        *,
        pull: bool = True,
        push: bool = True,
        trigger: str = "command",
        reconcile: bool = True,
        lease_wait_seconds: float = 0,
        tick: datetime | None = None,
        watch: Callable[[RunJournal], None] | None = None,
    ) -> SyncRun:
        """Run one cycle (job ``sync``, or ``pull``/``push`` alone) and return its finished run row.

        A failure of the platform (HTTP, protocol, authentication) ends the run as ``failed`` with
        its reason; nothing is raised, and the cursor stays where the last good run left it.

        Args:
            pull: run the pull half (a ``sync`` takes the ``pull`` lease first).
            push: run the push half (with ``pull``, a ``sync`` takes the ``push`` lease second).
            trigger: ``schedule``, ``manual`` or ``command``, as recorded on the run.
            reconcile: also recheck open cases not seen lately (the worker leaves it to its own job).
            lease_wait_seconds: how long to wait for each busy lease, seconds; see :meth:`execute`.
            tick: the scheduled instant the run belongs to, or ``None``; see :meth:`execute`.
            watch: given the run's journal once the run has started, before any work (a command's
                progress line reads its counters); it must not write to it.

        Raises:
            LeaseBusy, AlreadyRun: see :meth:`execute`.
        """
        job = Job.SYNC if pull and push else (Job.PULL if pull else Job.PUSH)

        def work(journal: RunJournal) -> None:
            if watch is not None:
                watch(journal)
            if pull:
                self.puller.run(journal, reconcile=reconcile)
            if push:
                self.pusher.run(journal)

        leases = (Job.PULL,) * pull + (Job.PUSH,) * push
        return self.execute(job, work, leases=leases, trigger=trigger, lease_wait_seconds=lease_wait_seconds, tick=tick)

    def reconcile(
        self, *, trigger: str = "command", lease_wait_seconds: float = 0, tick: datetime | None = None
    ) -> SyncRun:
        """Recheck open cases not seen in the inbox lately (job ``reconcile``, ``pull`` lease); see :meth:`run`."""
        return self.execute(
            Job.RECONCILE,
            self.puller.reconcile,
            leases=(Job.PULL,),
            trigger=trigger,
            lease_wait_seconds=lease_wait_seconds,
            tick=tick,
        )

    def retention(self, days: int, *, trigger: str = "command", tick: datetime | None = None) -> SyncRun:
        """Prune sync events and outbox attempts older than ``days`` days (job ``retention``); the run records how many."""

        def work(journal: RunJournal) -> None:
            cutoff = journal.clock.now() - timedelta(days=days)
            pruned = prune_events(self.db, cutoff)
            attempts = prune_attempts(self.db, cutoff)
            events = "sync event" if pruned == 1 else "sync events"
            tries = "outbox attempt" if attempts == 1 else "outbox attempts"
            journal.standalone_event(
                "retention.pruned",
                f"Pruned {pruned} {events} and {attempts} {tries} recorded before "
                f"{display_wib(cutoff)} (older than {days} days); sync runs and outbox rows are kept.",
            )

        return self.execute(Job.RETENTION, work, trigger=trigger, tick=tick)


def _unexpected(exc: BaseException) -> str:
    """The error of a run that ``exc`` ended unexpectedly: a fault of the database said as one, else a bug.

    A full disk reads ``cannot use the database: the disk is full: 12 KiB free in /var/lib/lapor-sync, ...``
    in ``status`` and ``runs``, not as an internal error an operator would take for a bug.
    """
    fault = database_fault(exc)
    if fault is not None:
        return f"cannot use the database: {fault}"
    return f"{type(exc).__name__}: internal error, see the service log"
