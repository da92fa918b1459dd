"""Whether the worker's database works, said once per change of state.

A read-only or unreachable database used to give a traceback per job and tick ("job pull
crashed") from a worker that looked healthy. Now the first failure logs one line naming the setting
and the driver's reason, later ticks fail quietly (each is counted in ``/metrics``), ``/healthz``
answers 503 while it lasts, and the first run that gets through again logs one line more.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from datetime import datetime

from lapor_sync.domain.clock import Clock
from lapor_sync.domain.timezones import display_wib
from lapor_sync.reports.health import Health, HealthReport, say_age
from lapor_sync.storage.faults import database_fault

log = logging.getLogger("lapor_sync.worker")


class StorageState:
    """The state of the worker's database as its jobs meet it; thread-safe (jobs run in parallel threads).

    Args:
        clock: the wall clock, for "since" in ``/healthz`` (how long it lasted is measured monotonically).
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._fault: str | None = None
        self._since: datetime | None = None
        self._began = 0.0

    @property
    def fault(self) -> str | None:
        """The driver's one-line reason while the database fails, else ``None``."""
        with self._lock:
            return self._fault

    def failed(self, who: str, exc: BaseException) -> bool:
        """Record that ``who`` (``job pull``, ``the outbox watcher``) met ``exc``, if it is a fault of the database.

        Logs an ERROR line with the driver's one-line reason (:func:`~lapor_sync.storage.faults.database_fault`)
        when the database starts failing or fails for another reason; nothing more while the reason
        stays the same.

        Returns:
            Whether ``exc`` was a fault of the database; ``False`` for anything else (a bug), which the
            caller reports or raises itself.
        """
        fault = database_fault(exc)
        if fault is None:
            return False
        with self._lock:
            if fault == self._fault:
                return True
            if self._fault is None:
                self._since, self._began = self._clock.now(), time.monotonic()
            self._fault = fault
        log.error(
            "storage failing: %s could not use the database (LAPOR_SYNC_DATABASE_URL): %s; the jobs "
            "try again at each tick, /healthz answers 503 until one gets through",
            who,
            fault,
            extra={"storage": "failing"},
        )
        return True

    def succeeded(self, job: str) -> None:
        """Record that a run of ``job`` was recorded in the database; logs once if it was failing."""
        with self._lock:
            if self._fault is None:
                return
            self._fault = None
            lasted = int(time.monotonic() - self._began)
        log.warning(
            "storage recovered: job %s used the database again after %s failing",
            job,
            say_age(lasted),
            extra={"job": job, "storage": "recovered"},
        )

    def over(self, report: HealthReport) -> HealthReport:
        """``report``, made failing with the reason first while the worker's runs cannot use the database.

        Unchanged when the report already fails on its own write probe: the same fault, said once.
        """
        with self._lock:
            fault, since = self._fault, self._since
        if fault is None or since is None or report.facts["database"]["write_fault"]:
            return report
        reason = (
            f"the worker's runs cannot use the database since {display_wib(since)} (LAPOR_SYNC_DATABASE_URL): {fault}"
        )
        return replace(report, health=Health.FAILING, reasons=[reason, *report.reasons])
