"""``lapor-sync resync``: an admin re-reads chosen complaints from LAPOR! and applies the current mapping."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from lapor_sync.cli.context import EXIT_RUN_FAILED, operator_name, state
from lapor_sync.cli.output import JSON_OPTION, console, errors, print_json, print_table, progress_bar
from lapor_sync.cli.periods import parse_instant
from lapor_sync.domain.runs import RunOutcome
from lapor_sync.domain.status import CaseState

if TYPE_CHECKING:
    from lapor_sync.sync.admin.resync import ResyncResult


def complaints(n: int) -> str:
    """``1 complaint``, ``2 complaints``."""
    return f"{n} complaint{'' if n == 1 else 's'}"


def register(app: typer.Typer) -> None:
    """Add ``resync`` to ``app``."""
    app.command("resync")(resync)


def _status(text: str | None) -> tuple[CaseState | None, int | None]:
    """``--status``: a case state name, or a national status code (digits)."""
    if text is None:
        return None, None
    if text.strip().isdigit():
        return None, int(text)
    try:
        return CaseState(text.strip().lower().replace("-", "_")), None
    except ValueError:
        from lapor_sync.sync.admin.selection import SelectionError

        states = ", ".join(s.value for s in CaseState)
        raise SelectionError(
            f"--status: '{text}' is neither a case state ({states}) nor a national status "
            "code (a number, e.g. 2 for Dalam Proses)"
        ) from None


def resync(
    ctx: typer.Context,
    tracking_id: Annotated[
        list[str] | None,
        typer.Option("--tracking-id", help="A complaint the city has a record of, by tracking id (repeatable)."),
    ] = None,
    complaint_id: Annotated[
        list[int] | None,
        typer.Option("--complaint-id", help="A complaint by its national id, known here or not (repeatable)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Cases dispositioned on or after this WIB date (YYYY-MM-DD).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Cases dispositioned on or before this WIB date.")] = None,
    agency: Annotated[str | None, typer.Option(help="Cases of this agency code, e.g. DISHUB.")] = None,
    status: Annotated[
        str | None,
        typer.Option(
            help="Cases in this state (new, in_progress, completed, archived, rejected, forwarded) "
            "or with this national status code (0-5)."
        ),
    ] = None,
    set_aside: Annotated[
        bool,
        typer.Option(
            "--set-aside",
            help="Retry every unresolved set-aside record (malformed, or a complaint whose reads kept "
            "failing); one read in full is stored and its count of failed runs cleared, one whose read "
            "fails again for reasons of its own stays set aside and the others are tried (two such "
            "failures with none read in full fail the run).",
        ),
    ] = False,
    everything: Annotated[bool, typer.Option("--all", help="Every case and every set-aside record.")] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Show what would change; write nothing (only the run and its summary event)."),
    ] = False,
    as_json: bool = JSON_OPTION,
) -> None:
    """Re-read complaints from LAPOR! (detail and thread) and apply the current mapping file.

    After a mapping correction, cases move to the agency the mapping now names; each move is logged
    with the old and the new agency (`lapor-sync log --kind complaint.moved`). A running worker
    follows the corrected file from its next tick. Set-aside records are retried. Named complaints
    (--tracking-id, --complaint-id) are added to the selection; the case
    filters (--since/--until, --agency, --status) must all match. Waits for a running pull to finish
    (up to lease_wait_seconds), then exits 3 naming who holds it. Exits 1 when LAPOR! failed mid-way.

    Example: `lapor-sync resync --agency DISHUB --dry-run`
    """
    from lapor_sync.config.settings import require_national
    from lapor_sync.sync.admin.resync import resync_from_settings
    from lapor_sync.sync.admin.selection import Selection, SelectionError

    try:
        case_state, status_code = _status(status)
        selection = Selection(
            complaint_ids=tuple(complaint_id or ()),
            tracking_ids=tuple(tracking_id or ()),
            dispositioned_from=parse_instant(since, "--since") if since else None,
            dispositioned_before=parse_instant(until, "--until", end_of_day=True) if until else None,
            agency_code=agency.strip().upper() if agency else None,
            state=case_state,
            national_status_code=status_code,
            set_aside=set_aside,
            everything=everything,
        )
        app = state(ctx).app()
        selection.check(app.mapping)
    except SelectionError as exc:
        raise typer.BadParameter(str(exc)) from None
    require_national(app.settings)  # before the progress bar: a missing setting is told alone
    with progress_bar(errors, transient=True, disable=as_json) as progress:
        task = progress.add_task("Re-reading from LAPOR!", total=None)
        result = resync_from_settings(
            app,
            selection,
            requested_by=operator_name(),
            dry_run=dry_run,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    _report(result, as_json=as_json)
    if result.run.outcome != RunOutcome.OK:
        raise typer.Exit(EXIT_RUN_FAILED)


def _report(result: ResyncResult, *, as_json: bool) -> None:
    from lapor_sync.sync.admin.resync import ResyncOutcome

    run = result.run
    if as_json:
        print_json(
            {
                "run_id": run.id,
                "dry_run": result.dry_run,
                "outcome": run.outcome,
                "error": run.error,
                "summary": result.summary(),
                "changes": [
                    {
                        "complaint_id": c.complaint_id,
                        "tracking_id": c.tracking_id,
                        "outcome": c.outcome.value,
                        "old_agency": c.old_agency,
                        "new_agency": c.new_agency,
                        "details": c.details,
                    }
                    for c in result.changes
                ],
            }
        )
        return
    shown = [c for c in result.changes if c.outcome is not ResyncOutcome.UNCHANGED]
    title = f"Resync run #{run.id}" + (" (dry run: nothing written)" if result.dry_run else "")
    print_table(
        f"{title}: {len(shown)} of {complaints(len(result.changes))} changed or need attention",
        ["complaint", "outcome", "agency", "details"],
        [
            [
                f"#{c.tracking_id}" if c.tracking_id else f"id {c.complaint_id}",
                c.outcome.value,
                f"{c.old_agency} → {c.new_agency}" if c.outcome is ResyncOutcome.MOVED else c.new_agency,
                c.details,
            ]
            for c in shown
        ],
        keep_whole=("complaint",),
    )
    verb = "would be" if result.dry_run else "were"
    tally = ", ".join(f"{n} {outcome}" for outcome, n in result.summary().items())
    console.print(f"{complaints(len(result.changes))} {verb}: {tally}.", highlight=False)
    if run.error:
        console.print(f"[red]error:[/red] {escape(run.error)}", highlight=False)
