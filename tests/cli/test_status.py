"""``lapor-sync status``: the health verdict, its reasons and its exit code (0 ok, 1 degraded, 2 failing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from click.testing import Result

from lapor_sync.domain.clock import ManualClock
from lapor_sync.storage.database import Database
from lapor_sync.storage.holders import holder_name
from lapor_sync.storage.models import Lease, SyncRun
from lapor_sync.sync.journal import RunJournal
from tests.support.cli import CITY, Seeded, cli_env, invoke, seeded, utc
from tests.support.factories import T0

__all__ = ["cli_env", "seeded"]  # fixtures


def record_run(url: str, job: str, *, ago: timedelta, error: str | None = None) -> int:
    """Record a finished run of ``job`` that ended ``ago`` before now; return its id."""
    db = Database(url)
    db.upgrade()
    journal = RunJournal(db, ManualClock(datetime.now(UTC) - ago), CITY, job, "schedule").start()
    journal.finish(error=error)
    db.dispose()
    return journal.run_id


def status_json() -> tuple[int, dict]:
    result: Result = invoke("status", "--json")
    return result.exit_code, json.loads(result.stdout)


def test_healthy_exits_0_with_no_reasons(cli_env: str) -> None:
    record_run(cli_env, "pull", ago=timedelta(minutes=2))
    record_run(cli_env, "push", ago=timedelta(minutes=1))

    code, summary = status_json()

    assert (code, summary["health"], summary["reasons"]) == (0, "ok", [])
    assert summary["last_pull"]["age_seconds"] >= 120 and summary["leases"] == []
    table = invoke("status")
    assert table.exit_code == 0 and "ok" in table.stdout and "jobs running (leases)" in table.stdout


def test_a_stale_pull_is_degraded_exit_1(cli_env: str) -> None:
    record_run(cli_env, "pull", ago=timedelta(minutes=20))

    code, summary = status_json()

    assert (code, summary["health"]) == (1, "degraded")
    assert summary["reasons"] == ["last successful pull 20 min ago (degraded after 15 min)"]


def test_a_failed_last_pull_or_no_pull_at_all_is_failing_exit_2(cli_env: str) -> None:
    assert invoke("db", "upgrade").exit_code == 0
    assert status_json()[1]["reasons"] == ["no successful pull yet"]
    record_run(cli_env, "pull", ago=timedelta(minutes=3))
    failed = record_run(cli_env, "pull", ago=timedelta(minutes=1), error="HTTP 503: service unavailable")
    record_run(cli_env, "push", ago=timedelta(seconds=30))  # a later push does not hide the failed pull

    code, summary = status_json()

    assert (code, summary["health"]) == (2, "failing")
    assert summary["reasons"] == [f"last pull run #{failed} failed: HTTP 503: service unavailable"]
    table = invoke("status")
    assert table.exit_code == 2 and "HTTP 503" in table.stdout


def test_an_old_pull_is_failing(cli_env: str) -> None:
    record_run(cli_env, "sync", ago=timedelta(hours=2))

    code, summary = status_json()

    assert code == 2 and summary["reasons"] == ["last successful pull 2 h 0 min ago (failing after 1 h 0 min)"]


def test_status_lists_every_fact_and_reason_of_the_seeded_records(seeded: Seeded) -> None:
    code, summary = status_json()

    assert code == 2 and summary["health"] == "failing"
    assert summary["reasons"][0].startswith("last successful pull ")  # seeded in July 2024
    assert summary["reasons"][1:] == [
        f"last push run #{seeded.failed_run} failed: HTTP 401: token expired",
        summary["reasons"][2],  # how long nothing was delivered: the waiting row's age, checked below
        summary["reasons"][3],  # the oldest waiting row's age, which grows with the real clock
        "1 dead letter in the outbox (lapor-sync outbox --state dead)",
        "1 set-aside national record unresolved",
        "1 open case in triage at DISKOMINFO (no mapping rule matched)",
    ]
    assert summary["reasons"][2].startswith("1 outbox row waiting and nothing delivered for ")
    assert summary["reasons"][2].endswith("(degraded after 10 min; no push has delivered yet)")
    assert summary["reasons"][3].startswith("oldest waiting outbox row is ")
    assert summary["last_pull"]["run_id"] == seeded.pull_run and summary["last_push_delivered"] is None
    assert summary["last_run"]["run_id"] == seeded.failed_run
    assert summary["cursor"]["name"] == "inbox:6271"
    assert utc(summary["cursor"]["position"]) == T0 + timedelta(days=2)
    assert summary["outbox"] == {"pending": 1, "sending": 0, "delivered": 0, "dead": 1, "cancelled": 0}
    assert summary["set_aside_unresolved"] == 1 and summary["open_cases"] == 3
    assert summary["triage"] == {"agency": "DISKOMINFO", "open_cases": 1}
    assert summary["sla_overdue_cases"] == 3  # dispositioned in July 2024, never followed up
    assert sum(summary["sla_overdue_by_agency"].values()) == 3 and "DISKOMINFO" in summary["sla_overdue_by_agency"]
    table = invoke("status")
    assert table.exit_code == 2 and "failing" in table.stdout and "inbox:6271" in table.stdout


def test_a_pull_that_finished_in_the_future_is_failing_and_points_at_the_clock(cli_env: str) -> None:
    # The clock stepped back two hours after this pull: its age is negative and says nothing.
    future = record_run(cli_env, "pull", ago=-timedelta(hours=2))
    record_run(cli_env, "push", ago=timedelta(minutes=1))

    code, summary = status_json()

    assert (code, summary["health"]) == (2, "failing")
    [reason] = summary["reasons"]
    assert reason.startswith(f"last successful pull (run #{future}) finished ")  # 1 h 59 min or so
    assert " in the future: the clock here is behind the one that stamped it (stepped back? check NTP" in reason
    table = invoke("status")
    assert table.exit_code == 2 and "in the future: check this host's clock" in table.stdout


def test_the_last_run_is_the_newest_by_id_not_the_one_with_the_latest_stamp(cli_env: str) -> None:
    record_run(cli_env, "pull", ago=-timedelta(hours=2))  # stamped while the clock was two hours ahead
    failed = record_run(cli_env, "pull", ago=timedelta(minutes=1), error="HTTP 503: service unavailable")

    code, summary = status_json()

    assert code == 2
    assert summary["last_pull_run"]["run_id"] == failed and summary["last_run"]["run_id"] == failed
    assert f"last pull run #{failed} failed: HTTP 503: service unavailable" in summary["reasons"]


def abandon_run(url: str, *, ago: timedelta) -> None:
    """Leave a pull run as a dead process leaves it once it is found: ``abandoned``, closed ``ago`` before now."""
    db = Database(url)
    with db.session() as session:
        at = datetime.now(UTC) - ago
        session.add(
            SyncRun(
                institution_id=CITY,
                job="pull",
                trigger="schedule",
                started_at=at - timedelta(minutes=1),
                finished_at=at,
                outcome="abandoned",
                error="its process died mid-run",
            )
        )
        session.commit()
    db.dispose()


def test_runs_abandoned_in_the_last_day_are_counted_and_degraded(cli_env: str) -> None:
    record_run(cli_env, "pull", ago=timedelta(minutes=2))
    abandon_run(cli_env, ago=timedelta(hours=3))
    abandon_run(cli_env, ago=timedelta(hours=5))
    abandon_run(cli_env, ago=timedelta(days=2))  # older than a day: in `runs`, no longer in the verdict

    code, summary = status_json()

    assert (code, summary["health"]) == (1, "degraded")
    assert summary["reasons"] == [
        "2 runs abandoned in the last 24 h: their process died mid-run (lapor-sync runs --outcome abandoned)"
    ]
    assert summary["abandoned_runs_24h"] == 2
    table = invoke("status")
    assert "runs abandoned (last 24 h)" in table.stdout


def test_a_lease_left_by_a_process_of_this_host_that_ended_is_said_to_be_taken_over_by_the_next_run(
    cli_env: str,
) -> None:
    record_run(cli_env, "pull", ago=timedelta(minutes=2))
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # its pid is free now: a holder that has ended
    own = holder_name("worker")
    ended = own.replace(f":{os.getpid()} ", f":{child.pid} ").rsplit(" @", 1)[0] + " @1-" + own.rsplit("-", 1)[1]
    now = datetime.now(UTC)
    db = Database(cli_env)
    with db.session() as session:
        session.add(
            Lease(
                institution_id=CITY,
                job="pull",
                holder=ended,
                token="t",
                acquired_at=now,
                expires_at=now + timedelta(minutes=2),
                renewed_at=now,
            )
        )
        session.commit()
    db.dispose()

    code, summary = status_json()
    table = invoke("status").stdout

    assert summary["leases"][0]["ended"] is True
    assert "(its process has ended: the next run takes it over at once)" in table.replace("\n│", "").replace("  ", "")
