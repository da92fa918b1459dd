"""Which of the worker's jobs crashed at their latest tick, for ``/healthz``.

A tick that crashed (a bug: an exception no error handling expected, logged with its traceback as
``job pull crashed``) may leave no run behind: it can crash before its run is recorded (building
the platform client, reloading the mapping), and a reconcile's failed run is not one ``status``
judges. Without this, ``/healthz`` kept answering 200 from a worker whose every tick crashed.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime

from lapor_sync.domain.clock import Clock
from lapor_sync.domain.timezones import display_wib
from lapor_sync.reports.health import Health, HealthReport
from lapor_sync.reports.reasons import Reason


class CrashedJobs:
    """The jobs whose latest tick crashed, and since when; thread-safe (jobs run in parallel threads).

    Args:
        clock: the wall clock, for "since" in ``/healthz``.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._since: dict[str, datetime] = {}

    def crashed(self, job: str) -> None:
        """Record that a tick of ``job`` crashed; the first crash in a row sets "since"."""
        with self._lock:
            self._since.setdefault(job, self._clock.now())

    def ended(self, job: str) -> None:
        """Record that a tick of ``job`` ended otherwise (a run, a skip, a fault of the database)."""
        with self._lock:
            self._since.pop(job, None)

    def over(self, report: HealthReport) -> HealthReport:
        """``report``, made failing with one reason per job whose latest tick crashed."""
        with self._lock:
            crashed = sorted(self._since.items())
        if not crashed:
            return report
        reasons = [
            Reason(
                "job %(job)s crashed at every tick since %(since)s (a bug: the traceback is in the service log)",
                job=job,
                since=display_wib(since),
            )
            for job, since in crashed
        ]
        return replace(report, health=Health.FAILING, reasons=[*reasons, *report.reasons])
