"""Runs left ``running`` by a process that is gone are closed as ``abandoned``: on lease takeover, and at worker start."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.clock import ManualClock
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import SyncEvent, SyncRun
from lapor_sync.sync.journal import RunJournal
from tests.support.e2e import CITY, KILLED, Harness, harness, run_push_that_dies, small_world

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
ELSEWHERE = "web02:4242 worker @8812345-0a1b2c3d"  # a holder on another host


def _runs(db: Database) -> dict[int, SyncRun]:
    with db.session() as session:
        return {run.id: run for run in session.exec(select(SyncRun))}  # type: ignore[misc]


def _kill_a_push(h: Harness, database: Database) -> SyncRun:
    """Queue a follow-up, then let a push in a child process die (SIGKILL-like) in its POST; return its run."""
    complaint_id = h.new_case()
    h.act(complaint_id, AgencyAction.FOLLOWUP, "Petugas akan berkunjung.")
    assert run_push_that_dies(h.base_url, database.url, h.clock.now()) == KILLED
    [left] = [run for run in _runs(database).values() if run.outcome == "running"]
    return left


def test_a_run_left_running_by_a_killed_worker_is_abandoned_when_its_lease_is_taken_over(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        left = _kill_a_push(h, database)
        h.advance(timedelta(seconds=h.app.settings.lease_seconds))  # SQLite: its push lease lapses unrenewed

        taker = h.sync(pull=False)

        closed = _runs(database)[left.id]  # type: ignore[index]
        assert (closed.outcome, closed.finished_at) == ("abandoned", h.clock.now())
        assert left.holder and left.holder in (closed.error or "") and "has ended" in (closed.error or "")
        assert taker.outcome == "ok" and taker.pushed == 1
        with h.app.db.session() as session:
            [event] = session.exec(select(SyncEvent).where(SyncEvent.kind == "run.abandoned")).all()
        assert event.run_id == left.id and event.level == "warning"


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_run_left_running_by_a_killed_worker_is_abandoned_at_worker_start(database: Database) -> None:
    from lapor_sync.storage.holders import holder_name
    from lapor_sync.sync.abandoned import abandon_runs_of_ended_processes

    with harness(small_world(), database.url) as h:
        left = _kill_a_push(h, database)
        alive = _running(database, h.clock, holder_name("worker"), "pull")
        remote = _running(database, h.clock, ELSEWHERE, "push")

        closed = abandon_runs_of_ended_processes(database, h.clock, CITY)

        assert closed == [left.id]
        runs = _runs(database)
        assert [runs[i].outcome for i in (left.id, alive, remote)] == ["abandoned", "running", "running"]  # type: ignore[index]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_taking_a_lease_abandons_the_runs_that_lost_it_unless_their_holder_runs_here(
    database: Database, clock: ManualClock
) -> None:
    from lapor_sync.storage.holders import holder_name
    from lapor_sync.sync.abandoned import abandon_runs_lost_to

    lost_elsewhere = _running(database, clock, ELSEWHERE, "pull,push")
    other_lease = _running(database, clock, ELSEWHERE, "pull")
    alive_here = _running(database, clock, holder_name("worker"), "push")

    closed = abandon_runs_lost_to(database, clock, CITY, ["push"], "web01:7 sync")

    assert closed == [lost_elsewhere]
    runs = _runs(database)
    assert [runs[i].outcome for i in (lost_elsewhere, other_lease, alive_here)] == ["abandoned", "running", "running"]
    assert runs[lost_elsewhere].error == (
        f"abandoned: {ELSEWHERE} held the push lease; web01:7 sync took it over "
        "(it lost it and cannot be seen from here)"
    )


def _running(database: Database, clock: ManualClock, holder: str, leases: str) -> int:
    with database.session() as session:
        run = SyncRun(
            institution_id=CITY, job="push", trigger="schedule", started_at=clock.now(), holder=holder, leases=leases
        )
        session.add(run)
        session.commit()
        return run.id  # type: ignore[return-value]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_run_of_another_host_closed_as_abandoned_that_still_ran_ends_with_its_own_outcome(
    database: Database, clock: ManualClock
) -> None:
    from lapor_sync.sync.abandoned import abandon_runs_lost_to

    journal = RunJournal(database, clock, CITY, "push", "schedule").start()
    with database.engine.begin() as conn:  # as run by a worker on another host, under the push lease
        conn.execute(update(SyncRun).where(col(SyncRun.id) == journal.run_id).values(holder=ELSEWHERE, leases="push"))
    assert abandon_runs_lost_to(database, clock, CITY, ["push"], "web01:7 sync") == [journal.run_id]

    clock.advance(timedelta(seconds=5))
    journal.finish(error="lease of job 'push' lost: the database connection holding its lock broke")

    run = _runs(database)[journal.run_id]
    assert (run.outcome, run.finished_at) == ("failed", clock.now())
    assert run.error == "lease of job 'push' lost: the database connection holding its lock broke"
