"""The ``runs``, ``log`` and ``outbox`` commands on a seeded database (``status``: test_status.py)."""

from __future__ import annotations

from datetime import timedelta

from lapor_sync.domain.errors import ConfigurationError
from tests.support.cli import PERSONAL, SECRET_CONTENT, SECRET_TITLE, Seeded, cli_env, invoke, invoke_json, seeded, utc
from tests.support.factories import T0

__all__ = ["cli_env", "seeded"]  # fixtures


def test_runs_lists_newest_first_with_counts_and_outcome(seeded: Seeded) -> None:
    runs = invoke_json("runs")

    assert [r["id"] for r in runs] == [seeded.failed_run, seeded.pull_run]
    failed, pull = runs
    assert (failed["job"], failed["trigger"], failed["outcome"]) == ("push", "schedule", "failed")
    assert failed["error"] == "HTTP 401: token expired"
    assert (pull["fetched"], pull["created"], pull["dead_lettered"], pull["outcome"]) == (3, 3, 0, "ok")
    assert utc(pull["started_at"]) == T0 + timedelta(days=3)
    assert pull["duration_seconds"] == 0.0
    assert invoke_json("runs", "--limit", "1")[0]["id"] == seeded.failed_run


def test_runs_table_shows_wib_times(seeded: Seeded) -> None:
    result = invoke("runs")

    assert result.exit_code == 0
    assert "2024-07-04 09:00 WIB" in result.stdout  # 02:00 UTC
    assert "HTTP 401: token expired" in result.stdout


def test_log_tells_the_story_oldest_first_and_filters(seeded: Seeded) -> None:
    events = invoke_json("log")

    assert [e["kind"] for e in events] == ["complaint.created"] * 3 + ["complaint.triage"]
    assert all(e["run_id"] == seeded.pull_run for e in events)
    assert [e["kind"] for e in invoke_json("log", "--level", "warning")] == ["complaint.triage"]
    assert [e["agency_code"] for e in invoke_json("log", "--agency", "dinkes")] == ["DINKES"]
    assert {e["tracking_id"] for e in invoke_json("log", "--tracking-id", "#1900003")} == {"1900003"}
    assert len(invoke_json("log", "--kind", "complaint")) == 4
    assert len(invoke_json("log", "--kind", "complaint.triage")) == 1
    assert len(invoke_json("log", "--run", str(seeded.failed_run))) == 0
    assert [e["kind"] for e in invoke_json("log", "--limit", "1")] == ["complaint.triage"]


def test_log_time_window_takes_wib_days_and_iso_datetimes(seeded: Seeded) -> None:
    # Events were written at 2024-07-04 09:00 WIB.
    assert len(invoke_json("log", "--since", "2024-07-04", "--until", "2024-07-04")) == 4
    assert invoke_json("log", "--until", "2024-07-03") == []
    assert invoke_json("log", "--since", "2024-07-04T09:01") == []  # naive: WIB
    assert len(invoke_json("log", "--since", "2024-07-04T01:59:00Z")) == 4
    bad = invoke("log", "--since", "yesterday")
    assert bad.exit_code == 2 and "--since" in bad.output


def test_log_and_case_list_never_show_personal_data_or_confidential_text(seeded: Seeded) -> None:
    for args in (["log"], ["log", "--json"], ["case", "list"], ["case", "list", "--json"]):
        result = invoke(*args)
        assert result.exit_code == 0
        for secret in (*PERSONAL, SECRET_TITLE, SECRET_CONTENT):
            assert secret not in result.stdout, (args, secret)


def test_outbox_defaults_to_undelivered_rows_and_filters_by_state(seeded: Seeded) -> None:
    rows = invoke_json("outbox")

    assert [(r["id"], r["state"]) for r in rows] == [(seeded.pending_outbox, "pending"), (seeded.dead_outbox, "dead")]
    dead = invoke_json("outbox", "--state", "dead")
    assert [(r["id"], r["attempts"], r["last_error"]) for r in dead] == [
        (seeded.dead_outbox, 8, "HTTP 422: complaint is closed")
    ]
    assert invoke_json("outbox", "--state", "delivered") == []
    assert "payload" not in rows[0]  # follow-up text (possibly confidential) is never listed
    table = invoke("outbox")
    assert "#1900001" in table.stdout and "Petugas akan survei lokasi." not in table.stdout


def test_reading_commands_refuse_a_database_that_does_not_exist(cli_env: str) -> None:
    result = invoke("runs")

    assert isinstance(result.exception, ConfigurationError)
    assert "lapor-sync db upgrade" in str(result.exception)
