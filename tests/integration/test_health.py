"""Health shared by ``status`` and ``/healthz``: thresholds, and the worker's /healthz and /metrics endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from lapor_sync.adapters.city.builtin import BuiltinCityRecords
from lapor_sync.app import App
from lapor_sync.config.settings import Settings
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.status import CaseState
from lapor_sync.reports.health import Health, HealthReport, assess
from lapor_sync.scheduler.http import HealthServer
from lapor_sync.scheduler.metrics import WorkerMetrics
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import SyncRun
from lapor_sync.sync.admin.outbox import cancel
from lapor_sync.sync.cursor import advance_cursor
from lapor_sync.sync.journal import RunJournal
from lapor_sync.sync.service import sync_agencies
from tests.support.factories import snapshot

pytestmark = pytest.mark.postgres
NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
CITY = 6271


@pytest.fixture
def app(database: Database) -> Iterator[App]:
    """The App on a migrated SQLite file or PostgreSQL schema, at :data:`NOW`."""
    app = App(Settings(database_url=database.url, institution_id=CITY), clock=ManualClock(NOW))
    yield app
    app.db.dispose()


def run(app: App, job: str, *, ago: timedelta, outcome: str = "ok", pushed: int = 0, failed: int = 0) -> SyncRun:
    journal = RunJournal(app.db, ManualClock(NOW - ago), CITY, job, "schedule").start()
    journal.counts.pushed, journal.counts.failed = pushed, failed
    return journal.finish(error="HTTP 503" if outcome == "failed" else None, interrupted=outcome == "interrupted")


def queue(app: App, *, created_ago: timedelta) -> None:
    """Receive a Dinas Sosial complaint and queue a follow-up on it, ``created_ago`` before now."""
    records_clock = ManualClock(NOW - created_ago)
    with app.db.session() as session:
        sync_agencies(session, app.mapping)
        records = BuiltinCityRecords(session, mapping=app.mapping, clock=records_clock)
        received = records.receive(snapshot(), agency_code="DINSOS", routing_rule="disposition", state=CaseState.NEW)
        records.act(
            records.get_case(case_id=received.case_id),
            AgencyAction.FOLLOWUP,
            institution_id=627104,
            content="Petugas akan survei lokasi.",
        )
        session.commit()


def report(app: App) -> HealthReport:
    return assess(app.db, app.mapping, app.settings, app.clock)


def test_waiting_rows_without_a_recent_delivery_and_an_old_row_are_degraded(app: App) -> None:
    run(app, "pull", ago=timedelta(minutes=1))
    run(app, "push", ago=timedelta(minutes=11), pushed=1)
    run(app, "push", ago=timedelta(minutes=5))  # found nothing due: no delivery, no attempt
    assert report(app).health is Health.OK  # nothing waits: an idle push is fine

    queue(app, created_ago=timedelta(minutes=31))
    verdict = report(app)

    assert verdict.health is Health.DEGRADED and verdict.health.exit_code == 1
    assert verdict.reasons == [
        "1 outbox row waiting and nothing delivered for 11 min "
        "(degraded after 10 min; the last push that delivered was 11 min ago)",
        "oldest waiting outbox row is 31 min old (degraded after 30 min)",
    ]


def test_a_push_whose_every_attempt_failed_is_an_attempt_not_a_delivery(app: App) -> None:
    run(app, "pull", ago=timedelta(minutes=1))
    delivered = run(app, "push", ago=timedelta(minutes=20), pushed=2)
    queue(app, created_ago=timedelta(minutes=3))
    down = run(app, "push", ago=timedelta(seconds=15), failed=1)  # the national side is down

    verdict = report(app)

    assert verdict.health is Health.DEGRADED
    assert verdict.reasons == [
        f"last push attempt (run #{down.id}) delivered nothing: 1 attempt failed, 0 dead letters (lapor-sync outbox)"
    ]
    attempt, last_delivery = verdict.facts["last_push_attempt"], verdict.facts["last_push_delivered"]
    assert (attempt["run_id"], attempt["age_seconds"], attempt["pushed"], attempt["failed"]) == (down.id, 15, 0, 1)
    assert (last_delivery["run_id"], last_delivery["age_seconds"]) == (delivered.id, 1200)


def test_a_push_that_delivered_nothing_stops_degrading_once_its_rows_are_cancelled(app: App) -> None:
    run(app, "pull", ago=timedelta(minutes=1))
    queue(app, created_ago=timedelta(minutes=3))
    run(app, "push", ago=timedelta(minutes=2), failed=1)  # the row was refused: nothing delivered
    assert report(app).health is Health.DEGRADED

    cancel(app.db, NOW, CITY, 1, reason="salah kasus", requested_by="admin")  # what status told them to do

    assert report(app).reasons == []


def test_a_new_row_after_an_idle_outbox_is_not_stuck(app: App) -> None:
    run(app, "pull", ago=timedelta(minutes=1))
    run(app, "push", ago=timedelta(days=2), pushed=1)  # the outbox was idle over a weekend
    queue(app, created_ago=timedelta(minutes=1))

    assert report(app).reasons == []


def test_an_interrupted_pull_is_not_a_failure_but_a_failed_push_is_degraded(app: App) -> None:
    run(app, "pull", ago=timedelta(minutes=2))
    run(app, "pull", ago=timedelta(minutes=1), outcome="interrupted")
    failed = run(app, "push", ago=timedelta(seconds=30), outcome="failed")

    verdict = report(app)

    assert verdict.health is Health.DEGRADED
    assert verdict.reasons == [f"last push run #{failed.id} failed: HTTP 503"]


# -- the worker's endpoints ----------------------------------------------------------------------------


def serve(assess_now: Any, metrics: WorkerMetrics | None = None) -> HealthServer:
    metrics = metrics or WorkerMetrics(assess_now)
    server = HealthServer(
        "127.0.0.1", 0, assess=assess_now, worker_state=lambda: {"running": []}, registry=metrics.registry
    )
    server.start()
    return server


def test_healthz_answers_200_when_degraded_and_503_when_failing_or_when_the_database_is_down(app: App) -> None:
    run(app, "pull", ago=timedelta(minutes=20))
    server = serve(lambda: report(app))
    try:
        degraded = httpx.get(f"http://127.0.0.1:{server.port}/healthz")
        assert degraded.status_code == 200
        assert degraded.json()["status"] == "degraded" and degraded.json()["last_pull_age_seconds"] == 1200

        app.clock.advance(timedelta(hours=1))
        failing = httpx.get(f"http://127.0.0.1:{server.port}/healthz")
        assert failing.status_code == 503 and failing.json()["status"] == "failing"
        assert httpx.get(f"http://127.0.0.1:{server.port}/other").status_code == 404
    finally:
        server.stop()

    def database_down() -> HealthReport:
        raise ConnectionRefusedError

    server = serve(database_down)
    try:
        down = httpx.get(f"http://127.0.0.1:{server.port}/healthz")
        assert down.status_code == 503
        assert down.json() == {"status": "failing", "reasons": ["cannot read the database (ConnectionRefusedError)"]}
    finally:
        server.stop()


def test_metrics_count_runs_by_job_and_outcome_and_read_lag_and_backlog_from_the_database(app: App) -> None:
    pull = run(app, "pull", ago=timedelta(seconds=5))
    pull.created, pull.updated, pull.set_aside = 3, 2, 1
    push = run(app, "push", ago=timedelta(seconds=2))
    push.pushed, push.failed, push.dead_lettered = 4, 2, 1
    queue(app, created_ago=timedelta(minutes=2))
    with app.db.session() as session:
        advance_cursor(session, CITY, NOW - timedelta(seconds=90), NOW)
        session.commit()
    metrics = WorkerMetrics(lambda: report(app))
    metrics.record(pull)
    metrics.record(push)
    metrics.skipped("pull", "skipped")
    server = serve(lambda: report(app), metrics)
    try:
        text = httpx.get(f"http://127.0.0.1:{server.port}/metrics").text
    finally:
        server.stop()

    for sample in (
        'lapor_sync_runs_total{job="pull",outcome="ok"} 1.0',
        'lapor_sync_runs_total{job="pull",outcome="skipped"} 1.0',
        'lapor_sync_complaints_pulled_total{job="pull"} 5.0',
        'lapor_sync_set_aside_total{job="pull"} 1.0',
        'lapor_sync_outbox_delivered_total{job="push"} 4.0',
        'lapor_sync_push_retries_total{job="push"} 2.0',
        'lapor_sync_dead_letters_total{job="push"} 1.0',
        'lapor_sync_run_duration_seconds_count{job="push"} 1.0',
        "lapor_sync_outbox_pending 1.0",
        "lapor_sync_outbox_oldest_pending_age_seconds 120.0",
        "lapor_sync_lag_seconds 90.0",
        "lapor_sync_health 0.0",
    ):
        assert sample in text, sample
    labels = {
        part.split("=")[0]
        for line in text.splitlines()
        if "{" in line and not line.startswith("#")
        for part in line[line.index("{") + 1 : line.index("}")].split(",")
    }
    assert labels <= {"job", "outcome", "le"}


def test_healthz_fails_on_a_pull_that_finished_in_the_future_and_says_why(app: App) -> None:
    ahead = run(app, "pull", ago=-timedelta(hours=2))  # stamped before the clock stepped back two hours
    server = serve(lambda: report(app))
    try:
        answer = httpx.get(f"http://127.0.0.1:{server.port}/healthz")
    finally:
        server.stop()

    assert answer.status_code == 503 and answer.json()["status"] == "failing"
    assert answer.json()["reasons"] == [
        f"last successful pull (run #{ahead.id}) finished 2 h 0 min in the future: the clock here is behind the "
        "one that stamped it (stepped back? check NTP: timedatectl timesync-status)"
    ]
