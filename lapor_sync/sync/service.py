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

from sqlmodel import Session, select

from lapor_sync.domain.clock import Clock
from lapor_sync.domain.errors import NationalPlatformError
from lapor_sync.domain.routing import CityMapping
from lapor_sync.domain.timezones import display_wib
from lapor_sync.storage.database import Database
from lapor_sync.storage.lease import LeaseLost, Leases
from lapor_sync.storage.models import Agency, SyncRun
from lapor_sync.sync.abandoned import abandon_runs_lost_to
from lapor_sync.sync.admin.retention import prune_events
from lapor_sync.sync.claims import ClaimLost
from lapor_sync.sync.journal import INTERRUPTED_BY_USER, Level, RunInterrupted, RunJournal, TickTaken
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


class AlreadyRun(Exception):  # noqa: N818 - not a fault: the tick is done
    """A run of the job already belongs to the tick asked about: another runner did this tick.

    Attributes:
        job: the job.
        run_id: that run's id.
        started_at: when it started (aware, UTC).
    """

    def __init__(self, job: str, run_id: int, started_at: datetime) -> None:
        super().__init__(f"job '{job}' already ran for this tick (run #{run_id}, started {display_wib(started_at)})")
        self.job, self.run_id, self.started_at = job, run_id, started_at


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
        job: str,
        work: Callable[[RunJournal], None],
        *,
        leases: Sequence[str] | None = None,
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
            job: the run's job name (``sync_run.job``), at most 16 characters.
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
            The finished run: ``ok``; ``failed`` (platform error, a lease or an outbox claim lost)
            with its reason; or ``interrupted`` (``stop`` was set). A ``KeyboardInterrupt`` (Ctrl-C) also
            closes the run as ``interrupted``, then goes on up.

        Raises:
            LeaseBusy: a lease is still held by another runner after ``lease_wait_seconds``.
            AlreadyRun: see ``tick``; nothing was done.
        """
        institution = self.mapping.institution.id
        names = tuple(leases or (job,))
        with ExitStack() as held:
            handles = tuple(
                held.enter_context(self.leases.hold(name, institution_id=institution, wait_seconds=lease_wait_seconds))
                for name in names
            )
            abandon_runs_lost_to(self.db, self.clock, institution, names, self.leases.holder)
            if tick is not None:
                self._check_not_run(job, tick)
            if agencies and "pull" in (leases or ()):
                # Cases name their agency: the table follows the mapping before anything is stored.
                with self.db.session() as session:
                    if sync_agencies(session, self.mapping):
                        session.commit()
            try:
                journal = RunJournal(
                    self.db, self.clock, institution, job, trigger, stop=self.stop, leases=handles, tick=tick
                ).start()
            except TickTaken:
                assert tick is not None  # only a tick's run can clash
                self._check_not_run(job, tick)  # raises AlreadyRun, naming the run that took the tick
                raise
            try:
                work(journal)
                for handle in handles:
                    handle.renew()  # raises LeaseLost if another runner may have run the job meanwhile
            except RunInterrupted:
                journal.standalone_event(
                    "run.interrupted",
                    f"Sync run stopped on request: the {job} goes on with the next run.",
                    level=Level.WARNING,
                )
                return journal.finish(interrupted=True)
            except (NationalPlatformError, LeaseLost, ClaimLost) as exc:
                if self.stop is not None and self.stop.is_set():
                    # A failure that ends a run cut short on request (the retries gave up at once) is
                    # the stop, not a fault of the platform: health must not call it failing.
                    journal.standalone_event(
                        "run.interrupted",
                        f"Sync run stopped on request during a call to LAPOR! ({exc}); the next run goes on",
                        level=Level.WARNING,
                    )
                    return journal.finish(interrupted=True)
                journal.standalone_event("run.failed", f"Sync run stopped: {exc}", level=Level.ERROR)
                return journal.finish(error=str(exc))
            except KeyboardInterrupt:
                # Ctrl-C on a manual command is a stop request, not a fault: health must not call it failing.
                journal.standalone_event(
                    "run.interrupted",
                    f"Sync run ({job}) stopped by Ctrl-C before it was done; what it stored until then stays.",
                    level=Level.WARNING,
                )
                journal.finish(interrupted=True, reason=INTERRUPTED_BY_USER)
                raise
            except BaseException as exc:
                # A bug: close the run so it does not stay "running" forever.
                journal.finish(error=f"{type(exc).__name__}: internal error, see the service log")
                raise
            return journal.finish()

    def _check_not_run(self, job: str, tick: datetime) -> None:
        with self.db.session() as session:
            done = session.exec(
                select(SyncRun).where(
                    SyncRun.institution_id == self.mapping.institution.id, SyncRun.job == job, SyncRun.tick == tick
                )
            ).first()
        if done is not None:
            raise AlreadyRun(job, done.id or 0, done.started_at)


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

    def run(
        self,
        *,
        pull: bool = True,
        push: bool = True,
        trigger: str = "command",
        reconcile: bool = True,
        lease_wait_seconds: float = 0,
        tick: datetime | None = None,
    ) -> SyncRun:
        """Run one cycle (job ``sync``, or ``pull``/``push`` alone) and return its finished run row.

        A failure of the platform (HTTP, protocol, authentication) ends the run as ``failed`` with
        its reason; nothing is raised, and the cursor stays where the last good run left it.

        Args:
            pull, push: which halves to run (a ``sync`` takes the ``pull`` lease, then ``push``).
            trigger: ``schedule``, ``manual`` or ``command``, as recorded on the run.
            reconcile: also recheck open cases not seen lately (the worker leaves it to its own job).
            lease_wait_seconds, tick: see :meth:`execute`.

        Raises:
            LeaseBusy, AlreadyRun: see :meth:`execute`.
        """
        job = "sync" if pull and push else ("pull" if pull else "push")

        def work(journal: RunJournal) -> None:
            if pull:
                self.puller.run(journal, reconcile=reconcile)
            if push:
                self.pusher.run(journal)

        leases = ("pull",) * pull + ("push",) * push
        return self.execute(job, work, leases=leases, trigger=trigger, lease_wait_seconds=lease_wait_seconds, tick=tick)

    def reconcile(
        self, *, trigger: str = "command", lease_wait_seconds: float = 0, tick: datetime | None = None
    ) -> SyncRun:
        """Recheck open cases not seen in the inbox lately (job ``reconcile``, ``pull`` lease); see :meth:`run`."""
        return self.execute(
            "reconcile",
            self.puller.reconcile,
            leases=("pull",),
            trigger=trigger,
            lease_wait_seconds=lease_wait_seconds,
            tick=tick,
        )

    def retention(self, days: int, *, trigger: str = "command", tick: datetime | None = None) -> SyncRun:
        """Prune sync events older than ``days`` days (job ``retention``); the run records how many."""

        def work(journal: RunJournal) -> None:
            cutoff = journal.clock.now() - timedelta(days=days)
            pruned = prune_events(self.db, cutoff)
            events = "sync event" if pruned == 1 else "sync events"
            journal.standalone_event(
                "retention.pruned",
                f"Pruned {pruned} {events} recorded before "
                f"{display_wib(cutoff)} (older than {days} days); sync runs are kept.",
            )

        return self.execute("retention", work, trigger=trigger, tick=tick)
