"""The scheduled worker in-process: job configuration, ticks (skipped and coalesced), the outbox watcher, and
runs stopped by the stop event or by Ctrl-C on a manual sync (interrupted, never failed)."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.triggers.cron import CronTrigger
from sqlmodel import select

from lapor_sync.app import App
from lapor_sync.cli.app import main
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.clock import SystemClock
from lapor_sync.domain.complaint import ComplaintSnapshot
from lapor_sync.domain.errors import TransientError
from lapor_sync.domain.ports import NationalPlatform
from lapor_sync.domain.runs import Job, RunOutcome
from lapor_sync.reports.health import Health, assess
from lapor_sync.scheduler.jobs import GridTrigger, JobSpec, job_specs
from lapor_sync.scheduler.worker import Worker
from lapor_sync.simulator.catalog import category_id
from lapor_sync.storage.database import Database
from lapor_sync.storage.lease import Leases, held_leases
from lapor_sync.storage.models import SyncRun
from tests.support.e2e import DINSOS, KILLED, Harness, PlatformWrapper, harness, run_push_that_dies, small_world

pytestmark = pytest.mark.e2e
sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
SOCIAL = "Sosial dan Kesejahteraan"


def spec(worker: Worker, name: str) -> JobSpec:
    return next(s for s in worker.specs if s.name == name)


@contextmanager
def worker_on(h: Harness) -> Iterator[Worker]:
    """A worker (not started) for the harness's app, named as a worker holds leases.

    Its monotonic clock follows the harness's manual clock: moving that clock is time passing, not a
    step of the clock.
    """
    app = App(h.app.settings, clock=h.clock, purpose="worker")
    worker = Worker(app, health_port=0, monotonic=lambda: h.clock.now().timestamp())
    try:
        yield worker
    finally:
        worker.runner.close()
        app.db.dispose()


def add_social_complaint(h: Harness) -> int:
    return h.add_complaint(disposition_id=DINSOS, category_id=category_id(SOCIAL)).complaint_id


def worker_lines(caplog: pytest.LogCaptureFixture, start: str) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "lapor_sync.worker" and r.getMessage().startswith(start)
    ]


# -- configuration -----------------------------------------------------------------------------------


def test_every_job_has_one_instance_coalesces_and_has_the_configured_misfire_grace(tmp_path) -> None:
    with harness(small_world(), f"sqlite:///{tmp_path / 'w.db'}", misfire_grace_seconds=42) as h, worker_on(h) as w:
        jobs = {job.id: job for job in w.scheduler.get_jobs()}

        assert set(jobs) == {"pull", "push", "reconcile", "sla", "retention", "outbox-watch"}
        assert {(j.max_instances, j.coalesce, j.misfire_grace_time) for j in jobs.values()} == {(1, True, 42)}
        assert str(w.scheduler.timezone) == "UTC"


def test_daily_jobs_are_cron_triggers_in_jakarta_time(tmp_path) -> None:
    with (
        harness(small_world(), f"sqlite:///{tmp_path / 'w.db'}", sla_check_time="07:00", retention_time="02:30") as h,
        worker_on(h) as w,
    ):
        sla, retention = spec(w, "sla").trigger, spec(w, "retention").trigger

        assert isinstance(sla, CronTrigger) and sla.timezone == ZoneInfo("Asia/Jakarta")
        # 07:00 WIB is midnight UTC; 02:30 WIB is 19:30 UTC the day before.
        after = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
        assert sla.get_next_fire_time(None, after).astimezone(UTC) == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
        assert retention.get_next_fire_time(None, after).astimezone(UTC) == datetime(2026, 3, 2, 19, 30, tzinfo=UTC)
        assert spec(w, "sla").tick(after) == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


def test_interval_jobs_fire_on_a_shared_grid_and_reconcile_is_shifted_off_the_pulls(tmp_path) -> None:
    with harness(
        small_world(), f"sqlite:///{tmp_path / 'w.db'}", pull_interval_seconds=300, reconcile_interval_seconds=3600
    ) as h:
        specs = {s.name: s for s in job_specs(h.app.settings)}
    pull, reconcile = specs[Job.PULL].trigger, specs[Job.RECONCILE].trigger
    now = datetime(2026, 3, 2, 1, 3, 7, tzinfo=UTC)

    assert pull.get_next_fire_time(None, now) == datetime(2026, 3, 2, 1, 5, tzinfo=UTC)
    assert reconcile.get_next_fire_time(None, now) == datetime(2026, 3, 2, 2, 2, 30, tzinfo=UTC)
    # A push started early (off the grid) falls back onto the grid for its next run.
    grid = GridTrigger(60)
    off_grid = datetime(2026, 3, 2, 1, 3, 7, tzinfo=UTC)
    assert grid.get_next_fire_time(off_grid, now) == datetime(2026, 3, 2, 1, 4, tzinfo=UTC)
    assert specs[Job.PULL].tick(now) == datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


# -- ticks ---------------------------------------------------------------------------------------------


@sqlite_only
def test_a_tick_whose_lease_is_held_elsewhere_is_skipped_with_a_log_line(database: Database, caplog) -> None:
    caplog.set_level(logging.INFO, logger="lapor_sync")
    with harness(small_world(), database.url) as h, worker_on(h) as w:
        other = Leases(h.app.writable_db(), h.clock, "web02:77 sync")
        with other.hold("pull", institution_id=6271):
            assert w.runner.tick(spec(w, Job.PULL)) is None

        [line] = worker_lines(caplog, "skipped: pull")
        assert "held by web02:77 sync since" in line
        assert w.metrics.runs.labels("pull", "skipped")._value.get() == 1
        assert h.sync().id == 1  # the skipped tick left no run behind


@sqlite_only
def test_a_tick_already_run_by_another_worker_is_skipped_and_a_late_start_is_reported_as_coalesced(
    database: Database, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="lapor_sync")
    with harness(small_world(), database.url, pull_interval_seconds=60) as h, worker_on(h) as w, worker_on(h) as twin:
        assert w.runner.tick(spec(w, Job.PULL)).outcome == "ok"
        assert twin.runner.tick(spec(twin, Job.PULL)) is None  # same tick, same database
        assert "already ran for this tick" in worker_lines(caplog, "skipped: pull")[0]

        h.advance(timedelta(minutes=3))  # two ticks went by without a run
        assert w.runner.tick(spec(w, Job.PULL)).outcome == "ok"
        assert worker_lines(caplog, "coalesced: 2 pull tick(s)")


@sqlite_only
def test_ticks_dropped_before_a_missed_tick_get_a_coalesced_line_too(database: Database, caplog) -> None:
    # With coalesce=True APScheduler reports only the last of the ticks it was late for; the ones
    # before it vanished without a word.
    caplog.set_level(logging.INFO, logger="lapor_sync")
    with harness(small_world(), database.url, pull_interval_seconds=60) as h, worker_on(h) as w:
        pull = spec(w, Job.PULL)
        assert w.runner.tick(pull).outcome == "ok"
        h.advance(timedelta(minutes=5))  # the worker was held up: five ticks went by
        missed = pull.tick(h.clock.now())
        w.runner.on_event(JobExecutionEvent(EVENT_JOB_MISSED, "pull", "default", missed))

        assert worker_lines(caplog, "skipped: pull tick")
        [line] = worker_lines(caplog, "coalesced: 4 pull tick(s)")
        assert "none of them ran" in line
        assert w.metrics.runs.labels("pull", "coalesced")._value.get() == 4

        # The next run starts from the missed tick: nothing is counted twice.
        h.advance(timedelta(minutes=1))
        assert w.runner.tick(pull).outcome == "ok"
        assert len(worker_lines(caplog, "coalesced:")) == 1


@sqlite_only
def test_the_outbox_watcher_starts_the_push_as_soon_as_a_row_is_written(database: Database) -> None:
    with harness(small_world(), database.url) as h, worker_on(h) as w:
        started: list[datetime] = []
        w.watcher._start_push = lambda: started.append(h.clock.now())  # the scheduler's modify_job
        complaint_id = add_social_complaint(h)
        assert w.runner.tick(spec(w, Job.PULL)).created == 1
        assert w.runner.tick(spec(w, Job.PUSH)).pushed == 0
        assert w.watcher.check() is False  # nothing new since that push

        h.advance(timedelta(seconds=1))
        item = h.act(complaint_id, AgencyAction.FOLLOWUP, "Petugas Dinsos akan berkunjung.")
        assert w.watcher.check() is True and len(started) == 1

        h.advance(timedelta(seconds=5))
        run = w.runner.tick(spec(w, Job.PUSH))  # what the scheduler runs next: not skipped as "already run"
        assert run is not None and run.pushed == 1 and h.outbox(item.id).state == "delivered"
        assert w.watcher.check() is False and len(started) == 1


@sqlite_only
def test_the_outbox_watcher_waits_for_a_retry_to_be_due_and_ignores_rows_queued_behind_it(database: Database) -> None:
    with harness(small_world(), database.url) as h, worker_on(h) as w:
        w.watcher._start_push = lambda: None
        complaint_id = add_social_complaint(h)
        w.runner.tick(spec(w, Job.PULL))
        first = h.act(complaint_id, AgencyAction.FOLLOWUP, "Pertama.")
        h.act(complaint_id, AgencyAction.FOLLOWUP, "Kedua.")  # waits behind the first one
        h.faults.fail("POST", r"/complaints/followup/add$", status=503)
        h.advance(timedelta(seconds=1))
        failing = App(h.app.settings, clock=h.clock).sync_service(h.platform).run(pull=False)
        assert failing.failed == 1
        assert w.watcher.check() is False  # the retry is not due yet; the second row is held back

        h.advance(h.outbox(first.id).next_attempt_at - h.clock.now())
        assert w.watcher.check() is True


# -- the stop event ------------------------------------------------------------------------------------


class StopsAfterFirstDetail(PlatformWrapper):
    """Sets the stop event while the first complaint's detail is being read (SIGTERM mid-item)."""

    def __init__(self, inner: Any, stop: threading.Event) -> None:
        super().__init__(inner)
        self.stop, self.details = stop, 0

    def fetch_complaint(self, complaint_id: int, *, unchanged_since: datetime | None = None) -> ComplaintSnapshot:
        self.details += 1
        if self.details == 1:
            self.stop.set()
        return self.inner.fetch_complaint(complaint_id, unchanged_since=unchanged_since)


def test_a_stop_request_finishes_the_item_in_flight_and_leaves_the_cursor_where_it_was(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        for _ in range(3):
            add_social_complaint(h)
        stop = threading.Event()
        platform = StopsAfterFirstDetail(h.platform, stop)
        service = h.app.sync_service(platform, stop=stop)

        run = service.run(trigger="schedule")

        assert (run.outcome, run.created, platform.details) == (RunOutcome.INTERRUPTED, 1, 1)
        assert "stopped on request" in run.error
        assert h.cursor() is None and len(h.cases()) == 1
        assert held_leases(h.app.db, h.clock) == []
        assert h.events("run.interrupted")

        stop.clear()
        again = service.run(trigger="schedule")
        assert (again.outcome, again.created) == ("ok", 2) and h.cursor() is not None


class CtrlCOnSecondDetail(PlatformWrapper):
    """The admin presses Ctrl-C while the second complaint's detail is being read."""

    details = 0

    def fetch_complaint(self, complaint_id: int, *, unchanged_since: datetime | None = None) -> ComplaintSnapshot:
        self.details += 1
        if self.details == 2:
            raise KeyboardInterrupt
        return self.inner.fetch_complaint(complaint_id, unchanged_since=unchanged_since)


def test_ctrl_c_on_a_manual_sync_is_an_interruption_and_does_not_make_health_failing(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
        assert h.sync().outcome == "ok"
        for _ in range(2):
            h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))

        with pytest.raises(KeyboardInterrupt):
            h.sync(platform=CtrlCOnSecondDetail(h.platform))

        with h.app.db.session() as session:
            [run] = session.exec(select(SyncRun).where(SyncRun.outcome != "ok")).all()
        assert run.outcome == RunOutcome.INTERRUPTED and "Ctrl-C" in run.error
        assert h.events("run.interrupted")
        assert held_leases(h.app.db, h.clock) == []
        assert assess(h.app.db, h.app.mapping, h.app.settings, h.app.clock).health is not Health.FAILING


class PlatformHangsUntilStopped(PlatformWrapper):
    """LAPOR! stops answering; SIGTERM arrives while the client waits on it."""

    def __init__(self, inner: NationalPlatform, stop: threading.Event) -> None:
        super().__init__(inner)
        self.stop = stop

    def fetch_complaint(self, complaint_id: int, *, unchanged_since: datetime | None = None) -> ComplaintSnapshot:
        self.stop.set()
        raise TransientError("transport failure (ReadTimeout) talking to the platform")


def test_a_stop_during_a_failing_call_is_an_interruption_not_a_platform_failure(h: Harness) -> None:
    h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
    stop = threading.Event()
    service = h.app.sync_service(PlatformHangsUntilStopped(h.platform, stop), stop=stop)

    run = service.run(push=False)

    assert run.outcome == "interrupted" and "stopped on request" in (run.error or "")
    [event] = h.events("run.interrupted")
    assert "ReadTimeout" in event.message
    assert h.events("run.failed") == []


# -- retention and manual commands ------------------------------------------------------------------------


@sqlite_only
def test_retention_prunes_old_sync_events_and_keeps_the_runs(database: Database) -> None:
    with harness(small_world(), database.url, retention_days=30) as h, worker_on(h) as w:
        add_social_complaint(h)
        old = h.sync()
        assert h.events("complaint.created")
        h.advance(timedelta(days=31))
        recent = h.sync()

        run = w.runner.tick(spec(w, "retention"))

        assert run is not None and run.outcome == "ok"
        assert h.events("complaint.created") == []
        [pruned] = h.events("retention.pruned")
        assert pruned.message == (
            "Pruned 1 sync event and 0 outbox attempts recorded before 2024-01-03 09:00 WIB (older than 30 days); "
            "sync runs and outbox rows are kept."
        )
        with h.app.db.session() as session:
            assert {session.get(SyncRun, old.id).id, session.get(SyncRun, recent.id).id} == {old.id, recent.id}


@sqlite_only
def test_a_manual_sync_meeting_a_busy_job_exits_3_naming_the_holder(database: Database, monkeypatch, capsys) -> None:
    with harness(small_world(), database.url) as h:
        for name, value in {
            "DATABASE_URL": database.url,
            "API_BASE_URL": h.base_url,
            "INSTITUTION_ID": "6271",
            "API_KEY": "sim-api-key",
            "API_TOKEN": "{00000000-0000-4000-8000-000000006271}",
            "LEASE_WAIT_SECONDS": "0",
        }.items():
            monkeypatch.setenv(f"LAPOR_SYNC_{name}", value)
        monkeypatch.setattr(sys, "argv", ["lapor-sync", "sync"])
        with Leases(h.app.writable_db(), SystemClock(), "web01:4242 worker").hold("pull", institution_id=6271):
            with pytest.raises(SystemExit) as exited:
                main()

    assert exited.value.code == 3
    assert "job 'pull' is already running: held by web01:4242 worker since" in capsys.readouterr().err


def test_a_corrected_mapping_file_is_followed_by_the_running_worker(tmp_path) -> None:
    mapping_file = tmp_path / "city.toml"
    packaged = (resources.files("lapor_sync.mappings") / "palangka-raya.toml").read_text(encoding="utf-8")
    mapping_file.write_text(packaged, encoding="utf-8")
    with harness(small_world(), f"sqlite:///{tmp_path / 'w.db'}", mapping_file=mapping_file) as h, worker_on(h) as w:
        complaint_id = h.add_complaint(disposition_id=6271, category_id=category_id("Perhubungan")).complaint_id
        w.runner.tick(spec(w, Job.PULL), claim=False)
        assert h.case(complaint_id).agency_code == "DISHUB"
        corrected = packaged.replace(
            'category = "Perhubungan"\nagency = "DISHUB"', 'category = "Perhubungan"\nagency = "SATPOLPP"'
        )
        assert corrected != packaged
        mapping_file.write_text(corrected, encoding="utf-8")  # the admin's correction, worker running
        h.world.add_followup(complaint_id, 627103, "Mohon ditindaklanjuti.")  # the next change pulled in
        h.advance(timedelta(minutes=10))

        w.runner.tick(spec(w, Job.PULL), claim=False)

        assert h.case(complaint_id).agency_code == "SATPOLPP"
        assert w.app.mapping.agency("SATPOLPP") is not None


# -- runs left by a dead process ----------------------------------------------------------------------------


@sqlite_only
def test_a_starting_worker_closes_the_run_a_killed_worker_left_running_and_health_counts_it(
    database: Database, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="lapor_sync")
    with harness(small_world(), database.url) as h, worker_on(h) as w:
        h.act(h.new_case(), AgencyAction.FOLLOWUP, "Petugas akan berkunjung.")
        assert run_push_that_dies(h.base_url, database.url, h.clock.now()) == KILLED
        with h.app.db.session() as session:
            [left] = session.exec(select(SyncRun).where(SyncRun.outcome == "running")).all()

        w.run_once()

        with h.app.db.session() as session:
            assert session.get(SyncRun, left.id).outcome == "abandoned"
        [line] = worker_lines(caplog, "closed 1 run(s) left running by a process that has ended")
        assert f"#{left.id}" in line and "lapor-sync runs --outcome abandoned" in line
        verdict = w.assess()
        assert verdict.facts["abandoned_runs_24h"] == 1
        assert (
            "1 run abandoned in the last 24 h: their process died mid-run (lapor-sync runs --outcome abandoned)"
            in verdict.reasons
        )
