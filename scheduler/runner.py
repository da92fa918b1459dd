"""One scheduled tick of a job: run it, or skip it with a log line saying why.

A tick is skipped when another runner holds the job's lease (another worker, a manual ``sync`` or
``resync``), when a run of the job already started since the tick (another worker did it), when
the previous run of the job is still going (``max_instances=1``) or when it was missed by more
than the misfire grace. Ticks that a late start folded into one run (``coalesce=True``) are
logged too; ticks a step of the wall clock jumped over are not (the worker logs the step). A tick
that meets a database fault (read-only, unreachable) is reported once per change of state by
:class:`~lapor_sync.scheduler.storage_state.StorageState`, not with a traceback per tick. Every job
has its own sync service and platform client: jobs run in parallel threads, and the OAuth2 client
is not thread-safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent, JobSubmissionEvent

from lapor_sync.app import App
from lapor_sync.domain.errors import AlreadyRun, LeaseBusy
from lapor_sync.domain.ports import NationalPlatform
from lapor_sync.domain.runs import Job
from lapor_sync.domain.timezones import display_wib
from lapor_sync.reports.sla import check_sla, sla_policy
from lapor_sync.scheduler.clock_steps import clock_offset
from lapor_sync.scheduler.crashes import CrashedJobs
from lapor_sync.scheduler.jobs import JobSpec
from lapor_sync.scheduler.metrics import WorkerMetrics
from lapor_sync.scheduler.storage_state import StorageState
from lapor_sync.storage.models import SyncRun
from lapor_sync.sync.journal import RunJournal
from lapor_sync.sync.service import SyncService

log = logging.getLogger("lapor_sync.worker")
TRIGGER = "schedule"


class TickFate(StrEnum):
    """How a tick ended without a run of its own: a label of ``lapor_sync_runs_total`` beside the run outcomes.

    ``skipped``: another runner held the lease, a run already belonged to the tick, or the previous
    run was still going. ``missed``: later than the misfire grace. ``coalesced``: folded into a
    later tick. ``crashed``: an exception, a bug. ``storage``: a fault of the database.
    """

    SKIPPED = "skipped"
    MISSED = "missed"
    COALESCED = "coalesced"
    CRASHED = "crashed"
    STORAGE = "storage"


class TickRunner:
    """Runs the worker's ticks and keeps count of the runs in flight.

    A tick becomes a run through its job's sync service (a :class:`~lapor_sync.sync.service.JobRunner`,
    which takes the job leases and records the run); this class decides whether and on which service.

    Args:
        app: the composition root (``purpose="worker"``).
        stop: the worker's stop event, shared with every sync service (set on SIGTERM/SIGINT).
        metrics: where runs and skipped ticks are counted.
        storage: where database faults met by a tick are reported.
        crashes: where ticks that crashed (a bug) are kept for ``/healthz``.
        monotonic: seconds from a clock that never steps, read with ``app.clock`` to tell a step of the
            wall clock from ticks gone by (with a ``ManualClock``, one that follows it).
    """

    def __init__(
        self,
        app: App,
        stop: threading.Event,
        metrics: WorkerMetrics,
        storage: StorageState,
        crashes: CrashedJobs,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._app, self._stop, self._metrics, self._storage = app, stop, metrics, storage
        self._crashes = crashes
        self._monotonic = monotonic
        self._services: dict[str, tuple[SyncService, NationalPlatform]] = {}
        self._retired: list[NationalPlatform] = []
        self._lock = threading.Condition()
        self._running: set[str] = set()
        self._prompted: set[str] = set()
        self._last_tick: dict[str, tuple[datetime, float]] = {}
        self._periods: dict[str, timedelta] = {}
        self._outcomes: dict[str, str] = {}

    def tick(self, spec: JobSpec, *, claim: bool = True) -> SyncRun | None:
        """Run one tick of ``spec`` (the scheduler's job function); return the run, or ``None`` if skipped.

        Args:
            spec: the job.
            claim: skip when a run of the job started since this tick (several workers share ticks);
                off for ``--once`` and for a push started early by the outbox watcher.
        """
        if self._stop.is_set():
            return None
        name = spec.name
        tick = spec.tick(self._app.clock.now())
        with self._lock:
            self._periods[name] = spec.period
            prompted = name in self._prompted
            self._prompted.discard(name)
            self._running.add(name)
        if not prompted:
            self._note_tick(name, tick, ran=True)
        try:
            run = self._start(name, tick=tick if claim and not prompted else None)
        except (LeaseBusy, AlreadyRun) as exc:
            log.info(
                "skipped: %s tick at %s: %s",
                name,
                display_wib(tick),
                exc,
                extra={"job": name, "tick": tick.isoformat(), "skip": type(exc).__name__},
            )
            self._finish(name, TickFate.SKIPPED)
            return None
        except Exception as exc:  # neither a bug in one job nor the database going away may stop the service
            storage = self._storage.failed(f"job {name}", exc)
            if not storage:
                log.exception("job %s crashed; the next tick tries again", name, extra={"job": name})
            self._finish(name, TickFate.STORAGE if storage else TickFate.CRASHED)
            return None
        finally:
            with self._lock:
                self._running.discard(name)
                self._lock.notify_all()
        self._storage.succeeded(name)  # the run is recorded: the database works
        self._metrics.record(run)
        self._finish(name, run.outcome)
        return run

    def last_outcome(self, name: str) -> str | None:
        """How the latest tick of ``name`` ended: a run's outcome, ``skipped``, ``crashed`` or ``storage``."""
        with self._lock:
            return self._outcomes.get(name)

    def prompt(self, name: str) -> None:
        """Mark the next run of ``name`` as started early (no tick claim): the outbox watcher's push."""
        with self._lock:
            self._prompted.add(name)

    def running(self, name: str) -> bool:
        """Whether a run of ``name`` is in flight in this worker."""
        with self._lock:
            return name in self._running

    def in_flight(self) -> list[str]:
        """The jobs running now in this worker."""
        with self._lock:
            return sorted(self._running)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no run is in flight, at most ``timeout`` seconds; return whether it is idle."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._running, timeout)

    def on_event(self, event: JobExecutionEvent | JobSubmissionEvent) -> None:
        """Scheduler listener: log a tick missed by more than the grace, or refused for overlap."""
        if event.code == EVENT_JOB_MISSED:
            times, why, outcome = [event.scheduled_run_time], "missed by more than the misfire grace", TickFate.MISSED
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            times, why, outcome = event.scheduled_run_times, "the previous run is still going", TickFate.SKIPPED
        else:
            return
        for scheduled in times:
            log.info(
                "skipped: %s tick at %s: %s",
                event.job_id,
                display_wib(scheduled),
                why,
                extra={"job": event.job_id, "tick": scheduled.isoformat(), "skip": outcome},
            )
            self._metrics.skipped(event.job_id, outcome)
            self._note_tick(event.job_id, scheduled, ran=False)

    def close(self) -> None:
        """Close the platform clients."""
        self._retire_services()
        for platform in self._retired:
            platform.close()  # type: ignore[attr-defined]
        self._retired.clear()

    def _retire_services(self) -> None:
        """Drop the services built on the previous mapping; runs in flight finish on theirs.

        Their clients are closed at shutdown, not now, since a run may still be using one.
        """
        with self._lock:
            self._retired.extend(platform for _service, platform in self._services.values())
            self._services.clear()

    def _finish(self, name: str, outcome: str) -> None:
        with self._lock:
            self._outcomes[name] = outcome
        if outcome == TickFate.CRASHED:
            self._crashes.crashed(name)
        else:
            self._crashes.ended(name)
        if outcome in (TickFate.SKIPPED, TickFate.CRASHED, TickFate.STORAGE):
            self._metrics.skipped(name, outcome)

    def _note_tick(self, name: str, tick: datetime, *, ran: bool) -> None:
        """Remember ``tick`` as the job's latest; log the ticks before it that never fired on their own.

        With ``coalesce=True`` the scheduler folds ticks it was late for into their last one, silently:
        that one runs (``ran``) or is itself reported missed or skipped. The time between two ticks
        is their distance on the wall clock less any step the clock took meanwhile (the move of
        wall minus monotonic), so ticks a step jumped over are not "late", and after a step back the
        earlier ticks are not taken for ticks already seen.
        """
        offset = clock_offset(self._app.clock, self._monotonic)
        with self._lock:
            last, period = self._last_tick.get(name), self._periods.get(name)
            span = None if last is None else (tick - last[0]).total_seconds() - (offset - last[1])
            if span is not None and span <= 0:
                return  # this tick, or an earlier one, was seen already
            self._last_tick[name] = (tick, offset)
        folded = 0 if last is None or period is None or span is None else round(span / period.total_seconds()) - 1
        if folded > 0:
            assert last is not None
            fate = "this one run covers them" if ran else "none of them ran"
            log.info(
                "coalesced: %d %s tick(s) after %s did not run on time; %s",
                folded,
                name,
                display_wib(last[0]),
                fate,
                extra={"job": name, "coalesced": folded},
            )
            self._metrics.runs.labels(name, TickFate.COALESCED).inc(folded)

    def _service(self, name: str) -> SyncService:
        with self._lock:
            if name not in self._services:
                platform = self._app.platform(stop=self._stop)
                self._services[name] = (self._app.sync_service(platform, stop=self._stop), platform)
            return self._services[name][0]

    def _start(self, name: str, *, tick: datetime | None) -> SyncRun:
        if self._app.refresh_mapping():  # in the tick's try: a mapping that cannot be read is a crashed tick
            self._retire_services()
        service = self._service(name)
        jobs: dict[str, Callable[[], SyncRun]] = {
            Job.PULL: lambda: service.run(push=False, reconcile=False, trigger=TRIGGER, tick=tick),
            Job.PUSH: lambda: service.run(pull=False, trigger=TRIGGER, tick=tick),
            Job.RECONCILE: lambda: service.reconcile(trigger=TRIGGER, tick=tick),
            Job.SLA: lambda: service.execute(Job.SLA, self._check_sla, trigger=TRIGGER, tick=tick),
            Job.RETENTION: lambda: service.retention(self._app.settings.retention_days, trigger=TRIGGER, tick=tick),
        }
        return jobs[name]()

    def _check_sla(self, journal: RunJournal) -> None:
        counts = check_sla(journal, sla_policy(self._app.settings))
        log.info(
            "SLA check: %(checked)d open cases, %(overdue)d overdue, %(due_soon)d due soon, "
            "%(reported)d newly reported",
            counts,
            extra={"run_id": journal.run_id, **counts},
        )
