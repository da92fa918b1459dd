"""Job leases on SQLite and PostgreSQL: one runner per job, waiting, expiry, renewal, real processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from lapor_sync.domain.clock import ManualClock, SystemClock
from lapor_sync.domain.errors import LeaseBusy, LeaseLost
from lapor_sync.storage.database import Database
from lapor_sync.storage.lease import Leases, held_leases, holder_name
from tests.support.leases import end_lock_sessions

CITY = 6271
TTL = 120


def leases(database: Database, clock, holder: str, **options) -> Leases:
    return Leases(database, clock, holder, lease_seconds=options.pop("lease_seconds", TTL), **options)


sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
postgres_only = pytest.mark.parametrize("database", ["postgres"], indirect=True)


def test_holder_name_says_host_pid_purpose_and_incarnation():
    host, rest = holder_name("sync command").split(":", 1)
    pid_and_purpose, incarnation = rest.rsplit(" @", 1)
    assert host and pid_and_purpose == f"{os.getpid()} sync command"
    start, scope = incarnation.split("-")
    assert start.isdigit() and len(scope) == 8


def test_hold_is_listed_and_release_frees_it(database, clock):
    worker = leases(database, clock, "web01:11 worker")
    with worker.hold("pull", institution_id=CITY) as handle:
        assert (handle.job, handle.holder, handle.acquired_at) == ("pull", "web01:11 worker", clock.now())
        assert handle.expires_at == clock.now() + timedelta(seconds=TTL)
        [held] = held_leases(database, clock)
        assert (held.institution_id, held.job, held.holder, held.acquired_at) == (
            CITY,
            "pull",
            "web01:11 worker",
            clock.now(),
        )
    assert held_leases(database, clock) == []
    with leases(database, clock, "web02:22 sync command").hold("pull", institution_id=CITY):
        assert [h.holder for h in held_leases(database, clock)] == ["web02:22 sync command"]


def test_second_holder_is_refused_naming_holder_and_since(database, clock):
    with leases(database, clock, "web01:11 worker").hold("pull", institution_id=CITY):
        clock.advance(timedelta(seconds=30))
        with pytest.raises(LeaseBusy) as refused:
            with leases(database, clock, "web02:22 sync command").hold("pull", institution_id=CITY):
                pytest.fail("two runners inside one job")
    assert (refused.value.job, refused.value.holder) == ("pull", "web01:11 worker")
    assert refused.value.since == datetime(2024, 7, 1, 2, 0, tzinfo=UTC)
    assert str(refused.value).startswith(
        "job 'pull' is already running: held by web01:11 worker since 2024-07-01 09:00 WIB (2024-07-01 02:00 UTC), "
        "silent for 30 s; "
    )


def test_a_live_holder_s_lease_says_how_long_it_has_been_silent_and_when_it_frees(database, clock):
    holder = holder_name("worker")  # this very process: alive, so never taken over
    with leases(database, clock, holder, lease_seconds=300).hold(
        "pull", institution_id=CITY, renew_in_background=False
    ):
        clock.advance(timedelta(seconds=130))
        with pytest.raises(LeaseBusy) as refused:
            leases(database, clock, "web02:22 sync command").hold("pull", institution_id=CITY).__enter__()

    shown = holder.rsplit(" @", 1)[0]
    since = "2024-07-01 09:00 WIB (2024-07-01 02:00 UTC)"
    if database.engine.dialect.name == "sqlite":
        frees = "it frees at 2024-07-01 09:05 WIB, or at once if that process is gone"
    else:  # a session lock: no expiry
        frees = "it frees when that process ends (a PostgreSQL session lock)"
    assert str(refused.value) == (
        f"job 'pull' is already running: held by {shown} since {since}, silent for 2 min 10 s; {frees}"
    )
    assert refused.value.silent_seconds == 130


def test_other_jobs_and_institutions_do_not_block(database, clock):
    worker, command = leases(database, clock, "a:1 worker"), leases(database, clock, "b:2 sync command")
    with (
        worker.hold("pull", institution_id=CITY),
        command.hold("push", institution_id=CITY),
        command.hold("pull", institution_id=62),
    ):
        assert sorted((h.institution_id, h.job) for h in held_leases(database, clock)) == [
            (62, "pull"),
            (CITY, "pull"),
            (CITY, "push"),
        ]


def test_waiting_acquires_once_the_holder_releases(database, clock):
    first = ExitStack()
    first.enter_context(leases(database, clock, "a:1 worker").hold("push", institution_id=CITY))
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(timedelta(seconds=seconds))
        if len(slept) == 2:
            first.close()

    waiting = leases(database, clock, "b:2 resync command", poll_seconds=1.5, sleep=sleep)
    with waiting.hold("push", institution_id=CITY, wait_seconds=10) as handle:
        assert handle.holder == "b:2 resync command"
    assert slept == [1.5, 1.5]


def test_waiting_gives_up_after_wait_seconds(database, clock):
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    with leases(database, clock, "a:1 worker").hold("pull", institution_id=CITY):
        waiting = leases(database, clock, "b:2 sync command", poll_seconds=2, sleep=sleep)
        with pytest.raises(LeaseBusy, match="held by a:1 worker"):
            with waiting.hold("pull", institution_id=CITY, wait_seconds=5):
                pytest.fail("acquired a held lease")
    assert slept == [2, 2, 1]


@sqlite_only
def test_sqlite_lease_of_a_silent_holder_lapses_and_its_late_renewal_fails(database, clock):
    silent = leases(database, clock, "a:1 worker").hold("pull", institution_id=CITY, renew_in_background=False)
    stale = silent.__enter__()
    clock.advance(timedelta(seconds=TTL - 1))
    with pytest.raises(LeaseBusy):
        leases(database, clock, "b:2 worker").hold("pull", institution_id=CITY).__enter__()
    clock.advance(timedelta(seconds=1))
    with leases(database, clock, "b:2 worker").hold("pull", institution_id=CITY):
        with pytest.raises(LeaseLost, match="another runner took it"):
            stale.renew()
        assert stale.lost
        with pytest.raises(LeaseLost):
            stale.ensure_held()
        silent.__exit__(None, None, None)  # the late release must not free the new holder's lease
        assert [h.holder for h in held_leases(database, clock)] == ["b:2 worker"]


@postgres_only
def test_postgres_lease_outlives_lease_seconds_while_its_holder_lives(database, clock):
    with leases(database, clock, "a:1 worker").hold("pull", institution_id=CITY, renew_in_background=False):
        clock.advance(timedelta(seconds=10 * TTL))
        with pytest.raises(LeaseBusy, match="held by a:1 worker"):
            leases(database, clock, "b:2 worker").hold("pull", institution_id=CITY).__enter__()


def test_renew_pushes_expiry(database, clock):
    with leases(database, clock, "a:1 worker").hold("pull", institution_id=CITY, renew_in_background=False) as handle:
        clock.advance(timedelta(seconds=TTL - 20))
        handle.renew()
        assert handle.expires_at == clock.now() + timedelta(seconds=TTL)
        [held] = held_leases(database, clock)
        assert (held.renewed_at, held.expires_at) == (clock.now(), handle.expires_at)
        clock.advance(timedelta(seconds=TTL - 20))  # past the first expiry, not the renewed one
        with pytest.raises(LeaseBusy):
            leases(database, clock, "b:2 worker").hold("pull", institution_id=CITY).__enter__()


def test_background_renewal_keeps_the_lease_and_stops_on_release(database, clock):
    worker = leases(database, clock, "a:1 worker", lease_seconds=0.06)  # renews every 0.02 s
    with worker.hold("reconcile", institution_id=CITY):
        clock.advance(timedelta(minutes=5))
        assert _eventually(lambda: [h.renewed_at for h in held_leases(database, clock)] == [clock.now()])
    assert not [t for t in threading.enumerate() if t.name.startswith("lease-renewer")]
    assert held_leases(database, clock) == []


@postgres_only
def test_postgres_broken_connection_loses_the_lease(database, clock):
    with leases(database, clock, "a:1 worker").hold("push", institution_id=CITY, renew_in_background=False) as handle:
        with database.engine.connect() as admin:
            end_lock_sessions(admin, CITY, "push")
        with pytest.raises(LeaseLost, match="connection holding its lock broke"):
            handle.renew()
        with leases(database, clock, "b:2 worker").hold("push", institution_id=CITY):
            assert [h.holder for h in held_leases(database, clock)] == ["b:2 worker"]


@postgres_only
def test_postgres_row_mode_takes_no_lock_and_expires_by_the_servers_clock(database, clock):
    first = leases(database, clock, "a:1 worker", mode="row")
    with first.hold("push", institution_id=CITY, renew_in_background=False) as handle:
        with database.engine.connect() as conn:
            assert (
                conn.execute(
                    text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
                ).scalar_one()
                == 0
            )
        assert [h.holder for h in held_leases(database, clock)] == ["a:1 worker"]
        clock.advance(timedelta(seconds=10 * TTL))  # our clock says expired; the server's does not
        for mode in ("row", "auto"):  # an advisory holder leaves a live row lease alone too
            with pytest.raises(LeaseBusy, match="held by a:1 worker"):
                leases(database, clock, "b:2 worker", mode=mode).hold("push", institution_id=CITY).__enter__()
        with database.engine.begin() as conn:  # lease_seconds pass on the server
            conn.execute(text("UPDATE lease SET expires_at = clock_timestamp() - interval '1 second'"))
        assert held_leases(database, clock) == []
        with leases(database, clock, "b:2 worker", mode="row").hold(
            "push", institution_id=CITY, renew_in_background=False
        ):
            with pytest.raises(LeaseLost, match="another runner took it"):
                handle.renew()


def test_lease_of_a_killed_process_is_taken_over(database):
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Queue()
    child = spawn.Process(target=_hold_until_killed, args=(database.url, ready))
    child.start()
    try:
        holder = ready.get(timeout=15)
        clock = ManualClock(datetime.now(UTC))
        with pytest.raises(LeaseBusy, match=f"held by {holder.rsplit(' @', 1)[0]} since"):
            leases(database, clock, "me:1 sync command").hold("pull", institution_id=CITY).__enter__()
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join()
    if database.engine.dialect.name == "sqlite":
        clock.advance(timedelta(seconds=TTL))  # nobody renews it any more
        taker = leases(database, clock, "me:1 sync command")
    else:  # the server frees the lock once it sees the connection gone
        taker = leases(database, SystemClock(), "me:1 sync command", poll_seconds=0.05)
    with taker.hold("pull", institution_id=CITY, wait_seconds=10) as handle:
        assert handle.holder == "me:1 sync command"


@pytest.mark.parametrize("mode", ["auto", "row"])
def test_a_killed_holder_s_lease_on_this_host_is_taken_over_at_once(database, mode, caplog):
    if mode == "row" and database.engine.dialect.name == "sqlite":
        pytest.skip("SQLite holds every lease by its row: the auto case is this one")
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Queue()
    child = spawn.Process(target=_hold_until_killed, args=(database.url, ready, mode))
    child.start()
    try:
        holder = ready.get(timeout=15)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join()
    advisory = mode == "auto" and database.engine.dialect.name == "postgresql"
    caplog.set_level("WARNING", logger="lapor_sync.storage.lease")

    if advisory:  # the server frees a killed session's lock once it sees the connection gone: a short wait
        taker = leases(database, SystemClock(), "me:1 sync command", mode=mode, poll_seconds=0.05)
    else:  # no time passes: the lease row is far from lapsing, and one attempt must take it
        taker = leases(database, ManualClock(datetime.now(UTC)), "me:1 sync command", mode=mode)
    with taker.hold("pull", institution_id=CITY, wait_seconds=5 if advisory else 0) as handle:
        assert handle.holder == "me:1 sync command"

    if not advisory:
        [taken] = [r.getMessage() for r in caplog.records if "taken over" in r.getMessage()]
        assert taken.startswith(f"lease of job 'pull' taken over from {holder}: that process has ended")


@pytest.mark.parametrize("rounds", [15])
def test_two_processes_never_run_the_same_job_at_once(database, tmp_path, rounds):
    spawn = multiprocessing.get_context("spawn")
    markers = tmp_path / "markers.log"
    start = spawn.Barrier(2)
    workers = [spawn.Process(target=_contend, args=(database.url, rounds, str(markers), start)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert [worker.exitcode for worker in workers] == [0, 0]
    lines = [line.split() for line in markers.read_text().splitlines()]
    assert len(lines) == 2 * 2 * rounds
    for enter, leave in zip(lines[::2], lines[1::2], strict=True):  # strictly enter, exit, enter, exit...
        assert (enter[1], leave[1], enter[0]) == ("enter", "exit", leave[0])
    assert {pid for pid, _ in lines} == {str(worker.pid) for worker in workers}


def _eventually(condition, seconds: float = 5.0) -> bool:
    """Poll ``condition`` while a background thread works; True as soon as it holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def _hold_until_killed(url: str, ready, mode: str = "auto") -> None:
    """Child process: take the pull lease, say so, then wait to be killed without releasing it."""
    holder = holder_name("worker")
    with Leases(Database(url), SystemClock(), holder, lease_seconds=TTL, mode=mode).hold("pull", institution_id=CITY):
        ready.put(holder)
        threading.Event().wait()


def _contend(url: str, rounds: int, markers: str, start) -> None:
    """Child process: run the pull job ``rounds`` times under its lease, marking entry and exit."""
    db = Database(url)
    runner = Leases(db, SystemClock(), holder_name("worker"), lease_seconds=TTL, poll_seconds=0.002)
    start.wait()
    for _ in range(rounds):
        with runner.hold("pull", institution_id=CITY, wait_seconds=30):
            _mark(markers, "enter")
            time.sleep(0.002)  # widen the critical section so an overlap would show
            _mark(markers, "exit")
    db.dispose()


def _mark(markers: str, what: str) -> None:
    with Path(markers).open("a") as log:
        log.write(f"{os.getpid()} {what}\n")


def test_a_holder_on_another_host_is_not_said_to_free_at_once_if_gone_only_at_its_expiry(database, clock):
    if database.engine.dialect.name != "sqlite":
        pytest.skip("a PostgreSQL session lock frees when its session ends, wherever its holder runs")
    with leases(database, clock, "kantor-lain:4242 worker @8812345-1f2e3d4c", lease_seconds=300).hold(
        "pull", institution_id=CITY, renew_in_background=False
    ):
        clock.advance(timedelta(seconds=130))
        with pytest.raises(LeaseBusy) as refused:
            leases(database, clock, "web02:22 sync command").hold("pull", institution_id=CITY).__enter__()

    assert str(refused.value).endswith(
        "silent for 2 min 10 s; it frees at 2024-07-01 09:05 WIB (whether that process still runs cannot be "
        "seen from this host: its lease is taken over only then)"
    ), str(refused.value)
