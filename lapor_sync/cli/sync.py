"""Commands that move data: ``sync`` (one cycle against the platform) and ``demo`` (the whole replay)."""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from lapor_sync.cli.context import EXIT_RUN_FAILED, exit_with, state
from lapor_sync.cli.output import JSON_OPTION, console, errors, print_json, print_table, progress_bar
from lapor_sync.cli.sync_progress import SyncProgress, sync_status
from lapor_sync.domain.runs import RunOutcome, Verdict, verdict

if TYPE_CHECKING:
    from lapor_sync.storage.models import SyncRun


def register(app: typer.Typer) -> None:
    """Add ``sync`` and ``demo`` to ``app``."""
    app.command("sync")(sync)
    app.command("demo")(demo)


def invoked_as() -> str:
    """The command as the user typed it (``.venv/bin/lapor-sync`` or ``lapor-sync``), for hints."""
    program = Path(sys.argv[0])
    if program.name != "lapor-sync" or program.parent == Path():
        return "lapor-sync"
    try:
        return str(program.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return "lapor-sync" if shutil.which("lapor-sync") == str(program) else str(program)


def run_summary(run: SyncRun) -> dict[str, object]:
    """The run as a JSON-ready dict: id, job, outcome, error, times and counters."""
    from lapor_sync.storage.models import COUNTERS

    return {
        "run_id": run.id,
        "job": run.job,
        "trigger": run.trigger,
        "outcome": run.outcome,
        "error": run.error,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        **{name: getattr(run, name) for name in COUNTERS},
    }


def sync(
    ctx: typer.Context,
    pull_only: bool = typer.Option(False, "--pull-only", help="Only pull dispositions in; push nothing."),
    push_only: bool = typer.Option(False, "--push-only", help="Only drain the outbox; pull nothing."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Run one sync cycle now: pull changed complaints from LAPOR!, then push the outbox.

    On a terminal, a status line on stderr tells what the run has done so far (pages, complaints
    fetched, created, updated, pushed, requests sent, waits on the request quota); piped or with
    `--json`, nothing but the result is printed.

    Safe to repeat: a second run over the same data creates, updates and pushes nothing. Exits 0
    when everything it tried got through; 4 when it delivered some outbox rows and others failed
    (retried later) or became dead letters; 1 when nothing got through: the run failed (the reason
    is printed once, under the table, and kept in `lapor-sync runs`; the cursor stays where the last good run left it), or
    none of the outbox rows it tried was delivered (the national side is down). When a worker or
    another command is running the same job, waits up to `lease_wait_seconds` (default 60), then
    exits 3 naming who holds it and since when. Every exit code: the README's "Exit codes".

    Example: `LAPOR_SYNC_DATABASE_URL=sqlite:///city.db lapor-sync sync --json`
    """
    if pull_only and push_only:
        raise typer.BadParameter("choose at most one of --pull-only and --push-only")
    from lapor_sync.adapters.national.client import LaporClient
    from lapor_sync.config.settings import require_national
    from lapor_sync.storage.models import COUNTERS

    app = state(ctx).app()
    require_national(app.settings)
    if not json_output:
        # A pull under a tight quota may wait minutes at a time: say so while it waits (a log line on stderr).
        logging.getLogger("lapor_sync.quota").setLevel(logging.INFO)
    progress = SyncProgress(app.settings.endpoints.inbox, app.clock.now)
    with app.platform() as platform, _failure_told_once(), sync_status(errors, progress, shown=not json_output):
        if isinstance(platform, LaporClient):
            platform.watch_requests(progress.on_request)
        run = app.sync_service(platform).run(
            pull=not push_only,
            push=not pull_only,
            trigger="command",
            lease_wait_seconds=app.settings.lease_wait_seconds,
            watch=progress.watch,
        )
    summary = run_summary(run)
    came_to = verdict(run.outcome, pushed=run.pushed, failed=run.failed, dead_lettered=run.dead_lettered)
    summary["verdict"] = came_to.value
    if json_output:
        print_json(summary)
    else:
        # A run can end `ok` and still deliver nothing: the title says so beside the outcome.
        said = {Verdict.PARTLY_FAILED: ", partly failed", Verdict.FAILED: ", nothing delivered"}
        title = f"Sync run #{run.id}: {run.outcome}" + (
            said[came_to] if run.outcome == RunOutcome.OK and came_to in said else ""
        )
        print_table(title, ["", ""], [(name, summary[name]) for name in COUNTERS])
        if run.error:
            # The error may quote the server's words: printed as text, never as markup.
            console.print(f"[red]error:[/red] {escape(run.error)}", highlight=False)
        elif came_to is not Verdict.OK:
            console.print(f"[red]{_undelivered(run)}[/red]", highlight=False)
    exit_with(came_to)


def _undelivered(run: SyncRun) -> str:
    """The line under the table of a finished run whose push did not deliver everything it tried."""
    return (
        f"not everything was delivered: {run.pushed} pushed, {run.failed} failed (retried later), "
        f"{run.dead_lettered} dead letters; see `lapor-sync outbox`"
    )


class _NotRunFailed(logging.Filter):
    """Drops the log line of a run's failure: ``sync`` prints that failure in its table (or its JSON) already."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the ``run.failed`` event's line."""
        return getattr(record, "kind", None) != "run.failed"


@contextmanager
def _failure_told_once() -> Iterator[None]:
    """While the block runs, a failed run's event is not also a log line above the table (issue 14, finding 10)."""
    events = logging.getLogger("lapor_sync.sync")
    dropped = _NotRunFailed()
    events.addFilter(dropped)
    try:
        yield
    finally:
        events.removeFilter(dropped)


def demo(
    workdir: Path = typer.Option(
        Path(".lapor-sync-demo"),
        "--workdir",
        help="Folder for the demo's database and the simulator's saved state "
        "(a previous demo's files there are replaced; other files are never touched).",
    ),
    seed: int = typer.Option(2024, help="Seed of the simulated data set and of the staff's choices."),
    verbose: bool = typer.Option(False, "--verbose", help="Also print the sync service's log lines (stderr)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Replay Palangka Raya's January–October 2024 against the built-in simulator, end to end.

    Starts the simulator on a free loopback port, then week by week: pull dispositions, let
    simulated agency staff act on the city's records, push their follow-ups and status changes.
    Prints the national and the city's tallies beside the article's figures (1,983 / 1,924 / 11 /
    48) and exits 1 if any differ. Needs no settings; leaves its database and the simulator's state
    in --workdir, so the result can be inspected (`lapor-sync -c .lapor-sync-demo/lapor-sync.toml runs`).
    """
    from lapor_sync.demo.runner import CONSOLE_USER, SERVE_AGAIN_PORT, WeekReport, run_demo
    from lapor_sync.reports.tallies import ARTICLE

    if not verbose:
        # The progress line is the demo's interface; every event stays in `lapor-sync log`.
        logging.getLogger("lapor_sync").setLevel(logging.ERROR)

    with progress_bar(console, transient=json_output, disable=json_output) as progress:
        task = progress.add_task("Replaying 2024", total=None)

        def on_week(week: WeekReport) -> None:
            progress.update(
                task,
                total=week.weeks,
                completed=week.number,
                description=(
                    f"Week of {week.at:%d %b %Y}: +{week.pull.created} received, {week.staff.followups} follow-ups, "
                    f"{week.staff.completions} completed, {week.push.pushed} pushed"
                ),
            )

        result = run_demo(workdir, seed=seed, on_week=on_week)
    national, city = result.national.as_dict(), result.city.as_dict()
    if json_output:
        print_json(
            {
                "matches": result.matches,
                "article": ARTICLE,
                "national": national,
                "city": city,
                "failed_runs": result.failed_runs,
                "wall_seconds": round(result.wall_seconds, 1),
                "workdir": str(result.workdir),
                "simulator_state": str(result.state_file),
                "config_file": str(result.config_file),
                "console_password_file": str(result.console_password_file),
            }
        )
    else:
        labels = {
            "total": "handled (ditangani)",
            "completed": "completed (selesai)",
            "in_process": "in process (dalam proses)",
            "archived_or_returned": "archived/returned",
        }
        print_table(
            "Palangka Raya, 1 January – 31 October 2024",
            ["figure", "article", "national (LAPOR!)", "city records"],
            [(labels[k], ARTICLE[k], national[k], city[k]) for k in ARTICLE],
        )
        console.print(
            f"  of the archived/returned: {city['archived']} data dukung kurang (archived), "
            f"{city['forwarded']} bukan wewenang (forwarded)"
        )
        console.print(
            f"{'[green]All figures match.' if result.matches else '[red]Figures differ.'}[/] "
            f"Wall time {result.wall_seconds:.0f} s; failed runs: {result.failed_runs}."
        )
        me = invoked_as()
        console.print(
            f"\nTo look around:  {me} -c {result.config_file} runs   (also: status, log, outbox, case list, report)\n"
            "To sync once more against the same national state (reports 0 created, 0 updated, 0 pushed):\n"
            f"  {me} simulator --state {result.state_file} --port {SERVE_AGAIN_PORT} &\n"
            f"  {me} -c {result.config_file} sync --json\n"
            f"To browse it in the web console:  {me} -c {result.config_file} web\n"
            f"  then open http://127.0.0.1:8470/ and sign in as {CONSOLE_USER}, password in {result.console_password_file}",
            highlight=False,
            soft_wrap=True,
        )
    if not result.matches:
        raise typer.Exit(EXIT_RUN_FAILED)
