"""The worker and a wall clock that steps: ticks keep firing, runs stamped ahead stop nothing.

The real :class:`Worker` and its APScheduler ``BackgroundScheduler`` run on a clock that the test
steps, as ``date -s`` or NTP's first sync would: the worker's clock and the scheduler's reading
of "now" move together, the monotonic clock does not.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import apscheduler.executors.base
import apscheduler.schedulers.base
import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlmodel import col, select

from lapor_sync.app import App
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.runs import RunOutcome
from lapor_sync.scheduler.jobs import GridTrigger
from lapor_sync.scheduler.worker import Worker
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import SyncRun
from lapor_sync.sync.journal import RunJournal
from tests.e2e.test_worker import add_social_complaint, spec, worker_lines, worker_on
from tests.e2e.test_worker_process import wait_for
from tests.support.e2e import CITY, harness, small_world

pytestmark = pytest.mark.e2e
sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
TWO_HOURS = timedelta(hours=2)


class SteppedClock:
    """The machine's clock plus an offset the test sets: a clock stepped while the worker runs."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        """The real time plus the offset, aware UTC."""
        return datetime.now(UTC) + self.offset


@pytest.fixture
def stepped(monkeypatch: pytest.MonkeyPatch) -> SteppedClock:
    """A :class:`SteppedClock` that APScheduler reads "now" from too (it calls ``datetime.now``)."""
    clock = SteppedClock()

    class SteppedDatetime:
        @staticmethod
        def now(tz: object = None) -> datetime:
            return datetime.now(tz) + clock.offset  # type: ignore[arg-type]

    monkeypatch.setattr(apscheduler.schedulers.base, "datetime", SteppedDatetime)
    monkeypatch.setattr(apscheduler.executors.base, "datetime", SteppedDatetime)
    return clock


def finished_runs_of(db: Database, job: str, *, since: datetime) -> list[SyncRun]:
    """Like :func:`runs_of`, without the run still under way (its outcome is not known yet)."""
    return [run for run in runs_of(db, job, since=since) if run.outcome != RunOutcome.RUNNING]


def runs_of(db: Database, job: str, *, since: datetime) -> list[SyncRun]:
    """Scheduled runs of ``job`` that started at or after ``since`` (as stamped), by id."""
    with db.session() as session:
        return list(
            session.exec(
                select(SyncRun)
                .where(SyncRun.job == job, SyncRun.trigger == "schedule", col(SyncRun.started_at) >= since)
                .order_by(col(SyncRun.id))
            )
        )


@sqlite_only
def test_the_worker_keeps_running_ticks_after_the_clock_steps_forward_and_back_two_hours(
    database: Database, stepped: SteppedClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lapor_sync")
    with harness(small_world(), database.url, pull_interval_seconds=1, push_interval_seconds=1) as h:
        app = App(h.app.settings, clock=stepped, purpose="worker")
        worker = Worker(app, health_port=0)
        thread = threading.Thread(target=worker.run, name="worker-under-test")
        thread.start()
        try:
            wait_for("a first pull", lambda: runs_of(app.db, "pull", since=stepped.now() - timedelta(minutes=1)))

            stepped.offset = TWO_HOURS  # forward: the runs from now on are stamped two hours ahead
            ahead = stepped.now()
            wait_for("pulls after the forward step", lambda: runs_of(app.db, "pull", since=ahead)[2:])
            wait_for("a push after the forward step", lambda: runs_of(app.db, "push", since=ahead))

            stepped.offset = timedelta(0)  # and back: APScheduler alone would now sleep two hours
            back = stepped.now()
            pulls = wait_for(
                "pulls after the step back",
                lambda: [
                    r for r in finished_runs_of(app.db, "pull", since=back) if r.started_at < back + timedelta(hours=1)
                ][2:],
            )
            wait_for(
                "a push after the step back",
                lambda: [r for r in runs_of(app.db, "push", since=back) if r.started_at < back + timedelta(hours=1)],
            )
        finally:
            worker.request_stop("test over")
            thread.join(30)
        app.db.dispose()

    assert all(run.outcome == "ok" for run in pulls)
    assert worker_lines(caplog, "the system clock stepped forward by 2 h 0 min: every job is rescheduled from")
    assert worker_lines(caplog, "the system clock stepped back by 2 h 0 min: every job is rescheduled from")
    # Ticks a step jumped over were never late: none is reported as coalesced.
    assert not [line for line in worker_lines(caplog, "coalesced: ") if int(line.split()[1]) >= 100]


def stamp_run(db: Database, job: str, at: datetime) -> int:
    """Record a finished scheduled run of ``job`` stamped ``at`` (a clock that was ahead); return its id."""
    journal = RunJournal(db, ManualClock(at), CITY, job, "schedule").start()
    journal.finish()
    return journal.run_id


def test_runs_stamped_two_hours_ahead_do_not_stop_the_next_tick(database: Database) -> None:
    with harness(small_world(), database.url, pull_interval_seconds=60) as h, worker_on(h) as w:
        for minutes in range(0, 20, 1):  # the worker ran twenty minutes with its clock two hours ahead
            stamp_run(h.app.writable_db(), "pull", h.clock.now() + TWO_HOURS + timedelta(minutes=minutes))

        run = w.runner.tick(spec(w, "pull"))  # the clock is right again

        assert run is not None and run.outcome == "ok"


def test_a_push_stamped_in_the_future_does_not_hide_new_outbox_rows_from_the_watcher(database: Database) -> None:
    with harness(small_world(), database.url) as h, worker_on(h) as w:
        started: list[datetime] = []
        w.watcher._start_push = lambda: started.append(h.clock.now())  # the scheduler's modify_job
        complaint_id = add_social_complaint(h)
        w.runner.tick(spec(w, "pull"))
        stamp_run(h.app.writable_db(), "push", h.clock.now() + TWO_HOURS)  # pushed while the clock was ahead

        h.advance(timedelta(seconds=1))
        h.act(complaint_id, AgencyAction.FOLLOWUP, "Petugas Dinsos akan berkunjung.")

        assert w.watcher.check() is True and len(started) == 1


def test_jobs_scheduled_while_the_clock_was_ahead_are_rescheduled_even_if_both_steps_fell_between_two_looks(
    stepped: SteppedClock, caplog: pytest.LogCaptureFixture
) -> None:
    from lapor_sync.scheduler.clock_steps import ClockFollower  # the part itself (the others drive the worker)

    caplog.set_level(logging.INFO, logger="lapor_sync")
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(print, GridTrigger(60), id="pull")
    follower = ClockFollower(scheduler, {"pull": timedelta(seconds=60)}, stepped, time.monotonic)
    stepped.offset = TWO_HOURS
    scheduler.start(paused=True)  # the scheduler's pass while the clock was ahead
    stepped.offset = timedelta(0)  # back before the follower looked: the offset seems not to have moved
    try:
        assert scheduler.get_job("pull").next_run_time > stepped.now() + TWO_HOURS - timedelta(minutes=1)

        assert follower.look() is True

        assert scheduler.get_job("pull").next_run_time <= stepped.now() + timedelta(seconds=60)
    finally:
        scheduler.shutdown(wait=False)
    [line] = worker_lines(caplog, "jobs were scheduled up to ")  # 1 h 59 min or so: the step less one period
    assert (
        "further ahead than their triggers allow: the system clock was ahead and stepped back; every job is "
        "rescheduled from" in line
    )
