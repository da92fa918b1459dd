"""Prometheus metrics of the worker: counters from its runs, gauges read from the database at each scrape.

Labels are ``job`` and ``outcome`` only: no complaint, reporter, agency or credential ever
appears in a metric.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from lapor_sync.domain.outbox import WAITING
from lapor_sync.reports.health import Health, HealthReport
from lapor_sync.storage.models import SyncRun

log = logging.getLogger("lapor_sync.worker")
HEALTH_VALUE = {Health.OK: 0, Health.DEGRADED: 1, Health.FAILING: 2}


class WorkerMetrics:
    """The worker's metrics in their own registry (served at ``/metrics``).

    Args:
        assess: reads the current :class:`HealthReport` (database facts); called at each scrape.
    """

    def __init__(self, assess: Callable[[], HealthReport]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "lapor_sync_runs",
            "Scheduled ticks by job and outcome (ok, failed, interrupted, "
            "skipped, missed, coalesced, crashed, storage: the database failed)",
            ["job", "outcome"],
            registry=r,
        )
        self.duration = Histogram(
            "lapor_sync_run_duration_seconds",
            "Duration of sync runs, seconds",
            ["job"],
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
            registry=r,
        )
        self.pulled = Counter(
            "lapor_sync_complaints_pulled", "Complaints created or updated from LAPOR!", ["job"], registry=r
        )
        self.pushed = Counter(
            "lapor_sync_outbox_delivered",
            "Outbox rows (follow-ups, status changes, requests) delivered to LAPOR!",
            ["job"],
            registry=r,
        )
        self.retries = Counter(
            "lapor_sync_push_retries", "Outbox deliveries that failed and wait for a retry", ["job"], registry=r
        )
        self.dead = Counter("lapor_sync_dead_letters", "Outbox rows given up (dead letters)", ["job"], registry=r)
        self.set_aside = Counter("lapor_sync_set_aside", "National records set aside as malformed", ["job"], registry=r)
        r.register(_StateCollector(assess))

    def record(self, run: SyncRun) -> None:
        """Count one finished run: its outcome, duration and counters."""
        self.runs.labels(run.job, run.outcome).inc()
        if run.finished_at is not None:
            self.duration.labels(run.job).observe((run.finished_at - run.started_at).total_seconds())
        self.pulled.labels(run.job).inc(run.created + run.updated)
        self.pushed.labels(run.job).inc(run.pushed)
        self.retries.labels(run.job).inc(run.failed)
        self.dead.labels(run.job).inc(run.dead_lettered)
        self.set_aside.labels(run.job).inc(run.set_aside)

    def skipped(self, job: str, outcome: str) -> None:
        """Count a tick that did not run, by job and outcome.

        Args:
            job: the scheduled job's name (``pull``, ``push``, ``reconcile``, ... see ``scheduler.jobs``).
            outcome: ``skipped`` (lease busy, already run, still running), ``missed``, ``crashed`` (a
                bug) or ``storage`` (the database failed).
        """
        self.runs.labels(job, outcome).inc()


class _StateCollector(Collector):
    """Gauges read at scrape time: lag behind LAPOR!, outbox backlog and the health verdict."""

    def __init__(self, assess: Callable[[], HealthReport]) -> None:
        self._assess = assess

    def collect(self) -> Iterator[Metric]:
        try:
            report = self._assess()
        except (SQLAlchemyError, OSError) as exc:  # a scrape must answer even when the database does not
            # Debug only: scrapes come every few seconds, and the jobs say it once (StorageState).
            log.debug("metrics: cannot read the database (%s)", type(exc).__name__)
            return
        facts = report.facts
        position = facts["cursor"]["position"]
        yield _gauge(
            "lapor_sync_lag_seconds",
            "Now minus the inbox cursor (last national change taken in), seconds",
            None if position is None else (facts["now"] - position).total_seconds(),
        )
        yield _gauge(
            "lapor_sync_outbox_pending",
            "Outbox rows waiting to be delivered (pending or sending)",
            sum(facts["outbox"][state] for state in WAITING),
        )
        yield _gauge(
            "lapor_sync_outbox_oldest_pending_age_seconds",
            "Age of the oldest waiting outbox row, seconds",
            facts["oldest_pending_age_seconds"] or 0,
        )
        yield _gauge("lapor_sync_health", "Health: 0 ok, 1 degraded, 2 failing", HEALTH_VALUE[report.health])


def _gauge(name: str, documentation: str, value: float | None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation)
    if value is not None:
        family.add_metric([], value)
    return family
