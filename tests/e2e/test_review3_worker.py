"""Review 3 regressions: log lines for ticks the scheduler dropped, UTC-stamped JSON, and ``log -f`` start-up."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from sqlmodel import select

from lapor_sync.cli.tail import EventTail, newest_id
from lapor_sync.runtime.logs import configure_logging
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import SyncEvent
from tests.e2e.test_worker import spec, worker_lines, worker_on
from tests.support.e2e import harness, small_world
from tests.support.factories import T0

pytestmark = pytest.mark.e2e
sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


@sqlite_only
def test_ticks_dropped_before_a_missed_tick_get_a_coalesced_line_too(database: Database, caplog) -> None:
    # With coalesce=True APScheduler reports only the last of the ticks it was late for; the ones
    # before it vanished without a word.
    caplog.set_level(logging.INFO, logger="lapor_sync")
    with harness(small_world(), database.url, pull_interval_seconds=60) as h, worker_on(h) as w:
        pull = spec(w, "pull")
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


def test_service_log_lines_carry_their_time_in_utc_with_an_offset(capsys) -> None:
    # A log collector must not guess the host's time zone.
    root = logging.getLogger("lapor_sync")
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging(to_stdout=True)
        logging.getLogger("lapor_sync.worker").warning("hello")
    finally:
        root.handlers[:], root.level = handlers, level
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    assert line["message"] == "hello"
    assert line["time"].endswith("+00:00") and "T" in line["time"]


def test_log_follow_started_while_a_lower_id_is_uncommitted_still_shows_it(tmp_path) -> None:
    # On PostgreSQL an event id is taken at insert: `log -f` may start after a higher id committed
    # and before a lower one did; that lower one was in neither the first listing nor the tail.
    db = Database(f"sqlite:///{tmp_path / 'events.db'}")
    db.upgrade()
    with db.session() as session:
        for event_id in (1, 3):
            session.add(
                SyncEvent(
                    id=event_id, run_id=None, at=T0, kind="complaint.updated", level="info", message=f"event {event_id}"
                )
            )
        session.commit()
    tail = EventTail(db, select(SyncEvent), after_id=newest_id(db))
    with db.session() as session:
        session.add(
            SyncEvent(
                id=2, run_id=None, at=T0, kind="complaint.updated", level="info", message="event 2, committed late"
            )
        )
        session.commit()

    assert [e.message for e in tail.poll()] == ["event 2, committed late"]
    assert tail.poll() == []
    db.dispose()
