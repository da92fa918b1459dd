"""``lapor-sync purge``: remove reporter identity and texts of cases closed longer than the retention period."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from lapor_sync.cli.context import EXIT_CONFIG, EXIT_RUN_FAILED, operator_name, state
from lapor_sync.cli.output import JSON_OPTION, console, errors, print_json, print_table
from lapor_sync.domain.runs import RunOutcome
from lapor_sync.domain.timezones import display_wib

if TYPE_CHECKING:
    from lapor_sync.sync.admin.purge import PurgeResult


def register(app: typer.Typer) -> None:
    """Add ``purge`` to ``app``."""
    app.command("purge")(purge)


def _interactive() -> bool:
    """Whether someone at a terminal can answer the confirmation question."""
    return sys.stdin.isatty()


def _cases(n: int) -> str:
    return f"{n} case{'' if n == 1 else 's'}"


def purge(
    ctx: typer.Context,
    older_than_days: Annotated[
        int | None,
        typer.Option(
            "--older-than-days",
            min=1,
            help="Purge cases closed more than this many days ago (default: the purge_after_days setting, 730).",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be removed; write nothing.")] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", help="Do not ask for confirmation (needed when not run from a terminal, e.g. from cron)."
        ),
    ] = False,
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove the reporter's identity and the words of cases closed longer than the retention period.

    UU 27/2022 (Indonesia's personal data protection law) asks that personal data be kept no longer
    than needed. For each of the city's cases closed (completed, archived, forwarded or rejected)
    more than --older-than-days ago (default: the `purge_after_days` setting, 730 days = two years),
    this removes for good: the reporter's name, e-mail and phone; the title, content and place; the
    text of every thread entry; the texts of its delivered, dead and cancelled outbox rows; the raw
    payloads of its set-aside records.

    Kept: ids, agency, category, states and dates, so `report`, `sla` and `status` still count the
    case. A case with an outbox row still waiting to be sent is skipped. Each purged case is logged
    (`lapor-sync log --kind case.purged`) without the removed values. A purged case stays purged when
    its complaint is read again, unless LAPOR! reopens it (then its content is stored again).

    Asks before removing anything; --yes skips the question. With no one at a terminal to answer
    (cron), it refuses without --yes and exits 2. Waits for a running pull or push (up to
    lease_wait_seconds), then exits 3. Exits 1 when the run failed.

    Example: `lapor-sync purge --dry-run`; from cron: `lapor-sync purge --yes --json`
    """
    from lapor_sync.sync.admin.purge import plan_purge, run_purge
    from lapor_sync.sync.service import JobRunner

    app = state(ctx).app()
    days = older_than_days or app.settings.purge_after_days
    app.existing_db()
    db = app.writable_db()  # an older schema lacks case.purged_at
    if dry_run:
        _report(plan_purge(db, app.institution_id, app.clock.now(), days), as_json=as_json)
        return
    if not yes:
        if not _interactive():
            errors.print(
                "[red]error:[/red] purge removes personal data for good and no one is at a terminal to "
                "confirm: pass --yes (as a cron job does), or --dry-run to see what it would remove.",
                highlight=False,
            )
            raise typer.Exit(EXIT_CONFIG)
        plan = plan_purge(db, app.institution_id, app.clock.now(), days)
        if plan.purged:
            typer.confirm(
                f"Remove for good the reporter's identity and the texts of {_cases(len(plan.purged))} "
                f"closed before {display_wib(plan.cutoff)} (more than {days} days)? Ids, agency, states "
                "and dates stay.",
                default=False,
                abort=True,
                err=True,
            )
    runner = JobRunner(db=db, mapping=app.mapping, clock=app.clock, leases=app.leases())
    result = run_purge(runner, days, requested_by=operator_name(), lease_wait_seconds=app.settings.lease_wait_seconds)
    _report(result, as_json=as_json)
    if result.run is not None and result.run.outcome != RunOutcome.OK:
        raise typer.Exit(EXIT_RUN_FAILED)


def _report(result: PurgeResult, *, as_json: bool) -> None:
    from lapor_sync.sync.admin.purge import REMOVED_KINDS

    run, removed = result.run, result.removed()
    if as_json:
        print_json(
            {
                "run_id": run.id if run else None,
                "dry_run": result.dry_run,
                "outcome": run.outcome if run else None,
                "error": run.error if run else None,
                "older_than_days": result.older_than_days,
                "cutoff": result.cutoff,
                "cases": len(result.purged),
                "removed": removed,
                "tracking_ids": [c.tracking_id for c in result.purged],
                "skipped": [
                    {"tracking_id": c.tracking_id, "agency": c.agency_code, "waiting_outbox_rows": c.waiting}
                    for c in result.skipped
                ],
            }
        )
        return
    scope = (
        f"{_cases(len(result.purged))} closed before {display_wib(result.cutoff)} "
        f"(more than {result.older_than_days} days)"
    )
    console.print(
        f"Purge dry run (nothing written): {scope} would be purged."
        if run is None
        else f"Purge run #{run.id}: {scope} purged.",
        highlight=False,
        markup=False,
    )
    print_table(
        "Would be removed" if run is None else "Removed",
        ["", ""],
        [(REMOVED_KINDS[kind][1], n) for kind, n in removed.items()],
    )
    if result.skipped:
        console.print(
            f"{_cases(len(result.skipped))} skipped: outbox rows still waiting to reach LAPOR!.",
            highlight=False,
            markup=False,
        )
        print_table(
            "Skipped",
            ["tracking id", "agency", "waiting rows"],
            [(f"#{c.tracking_id}", c.agency_code, c.waiting) for c in result.skipped],
            keep_whole=("tracking id",),
        )
    if result.purged:
        listed = (
            "--json lists their tracking ids"
            if run is None
            else f"`lapor-sync log --run {run.id} --kind case.purged` lists them"
        )
        console.print(f"Kept: ids, agency, category, states and dates; {listed}.", highlight=False, markup=False)
    if run is not None and run.error:
        console.print(f"[red]error:[/red] {escape(run.error)}", highlight=False)
