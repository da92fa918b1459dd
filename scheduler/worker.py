"""``lapor-sync worker``: the scheduled service (APScheduler 3), its health endpoints and its shutdown.

Jobs (see :mod:`lapor_sync.scheduler.jobs`): pull, push (also started early by the outbox
watcher), reconcile, the daily SLA check and retention. Every job: ``max_instances=1``,
``coalesce=True`` and ``misfire_grace_time`` from ``misfire_grace_seconds``. Job definitions live
in memory and are rebuilt from the settings at each start; the database holds what must survive
(leases, runs, cursor, outbox). At start, runs a process of this host left ``running`` when it died
are closed as ``abandoned`` (:mod:`lapor_sync.sync.abandoned`).

SIGTERM or SIGINT: the stop event is set (a run in flight ends after its current item, with
outcome ``interrupted``, and releases its leases), no new tick starts, and the worker waits for
the runs in flight at most ``shutdown_timeout_seconds``; the leases of runs still in flight then
(a request stalled) are released before the process leaves.

While it waits for that, the main thread looks at the wall clock every second: APScheduler 3
cannot follow a step of it (see :mod:`lapor_sync.scheduler.clock_steps`), so on a step the worker
logs it once and reschedules every job from the new time.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC
from functools import partial
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import SQLAlchemyError

from lapor_sync.app import App
from lapor_sync.domain.runs import Job, Verdict, verdict, worst
from lapor_sync.reports.health import HealthReport, assess
from lapor_sync.scheduler.clock_steps import ClockFollower
from lapor_sync.scheduler.crashes import CrashedJobs
from lapor_sync.scheduler.http import HealthServer
from lapor_sync.scheduler.jobs import OUTBOX_WATCH, JobSpec, job_specs
from lapor_sync.scheduler.metrics import WorkerMetrics
from lapor_sync.scheduler.runner import TickFate, TickRunner
from lapor_sync.scheduler.storage_state import StorageState
from lapor_sync.scheduler.watcher import OutboxWatcher
from lapor_sync.storage.lease import holder_name
from lapor_sync.storage.lease_handles import release_held_leases
from lapor_sync.sync.abandoned import abandon_runs_of_ended_processes

log = logging.getLogger("lapor_sync.worker")
ONCE_ORDER = (Job.PULL, Job.RECONCILE, Job.PUSH)
"""What ``--once`` runs, in this order: the interval jobs."""
CLOCK_LOOK_SECONDS = 1.0
"""How often the main thread looks for a step of the wall clock, seconds."""


class Worker:
    """The scheduled service for one institution.

    Args:
        app: the composition root, built with ``purpose="worker"``; its database must be migrated.
        health_port: overrides ``settings.health_port`` (0: no HTTP endpoints); tests pass a free port.
        monotonic: seconds from a clock that never steps, read with ``app.clock`` to notice steps of
            it (with a ``ManualClock``, pass one that follows it).

    Raises:
        ConfigurationError: the health endpoints cannot listen (``LAPOR_SYNC_HEALTH_PORT`` in use).
    """

    def __init__(
        self, app: App, *, health_port: int | None = None, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.app = app
        self.settings = app.settings
        self.stop = threading.Event()
        self._wake = threading.Event()
        self._monotonic = monotonic
        self.specs = job_specs(self.settings)
        self.metrics = WorkerMetrics(self.assess)
        self.storage = StorageState(app.clock)
        self.crashes = CrashedJobs(app.clock)
        self.runner = TickRunner(app, self.stop, self.metrics, self.storage, self.crashes, monotonic=monotonic)
        self.scheduler = BackgroundScheduler(timezone=UTC, executors={"default": ThreadPoolExecutor(len(self.specs))})
        self.watcher = OutboxWatcher(app, self.runner, self._push_now, self.stop, self.storage, self.crashes)
        for spec in self.specs:
            func = self.watcher.check if spec.name == OUTBOX_WATCH else partial(self.runner.tick, spec)
            self.scheduler.add_job(
                func,
                spec.trigger,
                id=spec.name,
                name=spec.name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=self.settings.misfire_grace_seconds,
            )
        self.scheduler.add_listener(self.runner.on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        port = self.settings.health_port if health_port is None else health_port
        self.http = (
            None
            if port == 0
            else HealthServer(
                self.settings.health_host,
                port,
                assess=self.assess,
                worker_state=self.state,
                registry=self.metrics.registry,
            )
        )

    def assess(self) -> HealthReport:
        """The health of the institution's sync, read from the database now.

        Failing too while the worker's runs meet a database fault, or while a job's latest tick crashed.
        """
        report = assess(self.app.db, self.app.mapping, self.settings, self.app.clock)
        return self.crashes.over(self.storage.over(report))

    def state(self) -> dict[str, Any]:
        """The worker's own state for ``/healthz``: each job's next run (UTC) and the runs in flight."""
        # Until the scheduler has started (the endpoints start first) a job has no next run time at all.
        jobs = {
            job.id: next_run.astimezone(UTC) if (next_run := getattr(job, "next_run_time", None)) else None
            for job in self.scheduler.get_jobs()
        }
        return {"next_runs": jobs, "running": self.runner.in_flight(), "stopping": self.stop.is_set()}

    def request_stop(self, reason: str = "requested") -> None:
        """Ask the worker to stop (safe from a signal handler): runs end after their current item."""
        if not self.stop.is_set():
            log.info("stopping (%s): runs in flight end after their current item", reason)
        self.stop.set()
        self._wake.set()

    def install_signal_handlers(self) -> None:
        """Make SIGTERM and SIGINT call :meth:`request_stop` (main thread only)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda number, _frame: self.request_stop(signal.Signals(number).name))

    def run(self, *, run_for: float | None = None) -> bool:
        """Serve until :meth:`request_stop` (or ``run_for`` seconds); return whether it stopped cleanly.

        Clean: every run in flight ended within ``shutdown_timeout_seconds`` of the stop request.
        """
        self._close_abandoned_runs()
        if self.http is not None:
            self.http.start()  # logs where it listens, and warns when that is not loopback
        self.scheduler.start()
        log.info(
            "worker started as %s: %s",
            holder_name(self.app.purpose),
            ", ".join(f"{s.name} {s.trigger}" for s in self.specs),
        )
        self._serve(run_for)
        self.request_stop("time is up" if not self.stop.is_set() else "signal")
        return self.shutdown()

    def run_once(self) -> Verdict:
        """Run pull, reconcile and push once each, in that order; return what they come to together.

        ``failed`` when a run failed, a job crashed (a bug, logged with its traceback), the database
        failed (logged once), or the push delivered none of the rows it tried; ``partly_failed``
        when the push delivered some rows and not others (:func:`~lapor_sync.domain.runs.verdict`).
        A tick skipped because another runner holds its job is not a failure.
        """
        self._close_abandoned_runs()
        verdicts = []
        for name in ONCE_ORDER:
            run = self.runner.tick(self._spec(name), claim=False)
            if run is not None:
                verdicts.append(
                    verdict(run.outcome, pushed=run.pushed, failed=run.failed, dead_lettered=run.dead_lettered)
                )
            elif self.runner.last_outcome(name) in (TickFate.CRASHED, TickFate.STORAGE):
                verdicts.append(Verdict.FAILED)
        self.runner.close()
        return worst(verdicts)

    def shutdown(self) -> bool:
        """Stop scheduling, wait for the runs in flight (bounded), close clients and endpoints."""
        self.scheduler.shutdown(wait=False)
        clean = self.runner.wait_idle(self.settings.shutdown_timeout_seconds)
        if clean:
            self.runner.close()
            log.info("worker stopped cleanly")
        else:
            in_flight = ", ".join(self.runner.in_flight())
            released = release_held_leases()  # the process leaves next: a lease left behind would block every sync
            log.error(
                "runs still in flight after %d s: %s; leaving them (an outbox row in flight is read "
                "back before any retry; their leases released: %s)",
                self.settings.shutdown_timeout_seconds,
                in_flight,
                ", ".join(released) or "none",
            )
        if self.http is not None:
            self.http.stop()
        return clean

    def _spec(self, name: str) -> JobSpec:
        return next(spec for spec in self.specs if spec.name == name)

    def _close_abandoned_runs(self) -> None:
        """Close the runs a process of this host left ``running`` when it died (a worker killed and restarted)."""
        try:
            closed = abandon_runs_of_ended_processes(self.app.db, self.app.clock, self.app.institution_id)
        except SQLAlchemyError as exc:
            if not self.storage.failed("the worker's start", exc):  # the jobs meet it too: said once
                raise
            return
        if closed:
            log.warning(
                "closed %d run(s) left running by a process that has ended as abandoned: %s "
                "(lapor-sync runs --outcome abandoned)",
                len(closed),
                ", ".join(f"#{i}" for i in closed),
                extra={"abandoned": closed},
            )

    def _serve(self, run_for: float | None) -> None:
        """Wait for a stop request (or ``run_for`` seconds), and follow steps of the wall clock meanwhile."""
        follower = ClockFollower(
            self.scheduler, {spec.name: spec.period for spec in self.specs}, self.app.clock, self._monotonic
        )
        deadline = None if run_for is None else time.monotonic() + run_for
        while True:
            wait = CLOCK_LOOK_SECONDS if deadline is None else min(CLOCK_LOOK_SECONDS, deadline - time.monotonic())
            if wait <= 0 or self._wake.wait(wait):
                return
            follower.look()

    def _push_now(self) -> None:
        self.scheduler.modify_job(Job.PUSH, next_run_time=self.app.clock.now())
