"""The ``status`` command: health of sync, the outbox and the city's open cases, as an exit code too."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer

from lapor_sync.cli.context import state
from lapor_sync.cli.output import JSON_OPTION, cell, print_json, print_table
from lapor_sync.domain.timezones import WIB

__all__ = ["register", "status"]


def _when(last: dict[str, Any] | None) -> str:
    from lapor_sync.reports.health import say_age

    if last is None:
        return "never"
    age = last["age_seconds"]
    return (
        f"{cell(last['finished_at'])} ({say_age(age)} ago)"
        if age >= 0
        else f"{cell(last['finished_at'])} ({say_age(-age)} in the future: check this host's clock)"
    )


def _attempted(attempt: dict[str, Any] | None) -> str:
    """When the last push that tried rows ended, and what became of them."""
    if attempt is None:
        return "never"
    return (
        f"{_when(attempt)}, run #{attempt['run_id']}: {attempt['pushed']} delivered, "
        f"{attempt['failed']} failed, {attempt['dead_lettered']} dead letters"
    )


def _run(run: dict[str, Any] | None) -> str:
    if run is None:
        return "none yet"
    return f"#{run['run_id']} {run['job']}: {run['outcome']}" + (f" ({run['error']})" if run["error"] else "")


def _failing(failing: dict[str, Any]) -> str:
    runs = failing["failed_runs_in_a_row"]
    state = "set aside" if failing["set_aside"] else "not set aside yet"
    return f"reading it failed {runs} pull run{'' if runs == 1 else 's'} in a row, {state}: {failing['reason']}"


def _wib_time(instant: datetime) -> str:
    """``14:02:05 WIB``: the time of day a wait ends, to the second."""
    return f"{instant.astimezone(WIB):%H:%M:%S} WIB"


def status(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Show health: last good pull, last push attempt and push that delivered, outbox, cases, leases.

    Exits 0 when `ok`, 1 when `degraded`, 2 when `failing`, and lists the reasons. Failing: the
    database cannot be written (a write is tried and rolled back, so run this with the worker's
    settings) or not read, no successful pull yet, the last pull failed, the last good pull is older
    than `status_pull_failing_seconds` or finished in the future (this clock is behind the one that
    stamped it: a step back, NTP). Degraded: a pull older than `status_pull_degraded_seconds`, outbox
    rows waiting with nothing delivered for `status_push_degraded_seconds`, a waiting row older than
    `status_outbox_oldest_degraded_seconds`, a push or outbox row stamped in the future, a failed
    push, a push that delivered none of the rows it tried while rows still wait (the national side down: a push run is
    not a good push unless it delivered), runs abandoned by a dead process in the last 24 h, dead
    letters, set-aside records, a complaint whose reads keep failing, or open cases in triage. The
    worker's `/healthz` says the same (its `last_push_age_seconds` is the last push that delivered).

    A complaint whose detail or follow-ups LAPOR! keeps answering with garbage (`{"results": null}`,
    a 5xx) is listed under the set-aside records with the pull runs it failed in a row and the last
    reason; after `set_aside_after_failures` runs (default 3) it is set aside so the pull goes on, and
    `lapor-sync resync --set-aside` tries it again. A run whose requests wait on the SPLP request
    quota (`LAPOR_SYNC_REQUESTS_PER_MINUTE`) is shown with the time the wait ends (`quota_waits` in
    `--json`); waiting is not a fault.

    Example: `lapor-sync status --json; echo "exit $?"`
    """
    from lapor_sync.reports.health import Health, assess, say_age

    app = state(ctx).app()
    report = assess(app.existing_db(), app.mapping, app.settings, app.clock)
    summary = report.as_dict()
    if as_json:
        print_json(summary)
    else:
        leases = summary["leases"]
        rows = [
            ["health", summary["health"]],
            *[["  reason", reason] for reason in summary["reasons"]],
            ["database writable", f"no: {fault}" if (fault := summary["database"]["write_fault"]) else "yes"],
            ["last successful pull", _when(summary["last_pull"])],
            ["last push attempt", _attempted(summary["last_push_attempt"])],
            ["last push that delivered", _when(summary["last_push_delivered"])],
            ["last pull run", _run(summary["last_pull_run"])],
            ["last run", _run(summary["last_run"])],
            ["runs abandoned (last 24 h)", summary["abandoned_runs_24h"]],
            [f"cursor {summary['cursor']['name']}", cell(summary["cursor"]["position"]) or "not set (no pull yet)"],
            ["outbox", ", ".join(f"{name} {n}" for name, n in summary["outbox"].items())],
            ["oldest waiting outbox row", say_age(summary["oldest_pending_age_seconds"]).replace("never", "none")],
            ["set-aside records unresolved", summary["set_aside_unresolved"]],
            *[[f"  complaint {failing['complaint_id']}", _failing(failing)] for failing in summary["read_failures"]],
            ["open cases", summary["open_cases"]],
            [f"open cases in triage ({summary['triage']['agency']})", summary["triage"]["open_cases"]],
            ["open cases overdue (SLA)", summary["sla_overdue_cases"]],
            [
                "waiting on the SPLP quota",
                "; ".join(
                    f"run #{w['run_id']} {w['job']} until {_wib_time(w['until'])}" for w in summary["quota_waits"]
                )
                or "no",
            ],
            [
                "jobs running (leases)",
                "; ".join(
                    f"{lease['job']} by {lease['holder']} since {cell(lease['since'])}"
                    + (" (its process has ended: the next run takes it over at once)" if lease["ended"] else "")
                    for lease in leases
                )
                or "none",
            ],
        ]
        print_table(f"lapor-sync status, institution {summary['institution_id']}", ["", ""], rows)
    if report.health is not Health.OK:
        raise typer.Exit(report.health.exit_code)


def register(app: typer.Typer) -> None:
    """Add the ``status`` command to the main CLI ``app``."""
    app.command(name="status")(status)
