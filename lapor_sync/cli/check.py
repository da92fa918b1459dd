"""``lapor-sync check invariants``: compare a saved simulator state with the city's records, as an exit code too."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lapor_sync.cli.context import state
from lapor_sync.cli.output import JSON_OPTION, console, print_json, print_table

if TYPE_CHECKING:
    from lapor_sync.checks.report import InvariantReport

EXIT_VIOLATED = 1  # at least one invariant does not hold

check_app = typer.Typer(rich_markup_mode="markdown", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``check`` group (``invariants``) to the main CLI ``app``."""
    app.add_typer(check_app, name="check", help="Check lapor-sync's records against the national side.")


@check_app.command("invariants")
def invariants(
    ctx: typer.Context,
    simulator_state: Annotated[
        Path,
        typer.Option(
            "--simulator-state",
            exists=True,
            dir_okay=False,
            help="The simulator's saved world (`lapor-sync simulator --save-state FILE`).",
        ),
    ],
    final: Annotated[
        bool,
        typer.Option(
            "--final/--not-final",
            help="After a final sync, outbox rows still pending or sending are violations; "
            "--not-final lists them without failing.",
        ),
    ] = True,
    examples: Annotated[int, typer.Option(min=0, help="Example ids shown per finding.")] = 5,
    as_json: bool = JSON_OPTION,
) -> None:
    """Check that nothing was lost or duplicated between the simulator and the city's records.

    Every complaint dispositioned to the city is stored once with its latest national status and
    thread; every agency follow-up is on LAPOR! exactly once, in order, and every status change is in
    effect; every outbox row is delivered, or dead or cancelled with a reason; every set-aside record
    has a reason; the cursor has not passed anything unstored. Run it after a final sync, with the
    simulator stopped and its world saved. Exits 0 when every invariant holds, 1 otherwise.

    Example: `lapor-sync check invariants --simulator-state world.json --json`
    """
    from lapor_sync.checks import check_invariants
    from lapor_sync.simulator import Simulator

    app = state(ctx).app()
    try:
        simulator = Simulator.load(simulator_state, rate_limit=None)
    except (ValueError, KeyError, TypeError) as exc:
        raise typer.BadParameter(f"not a simulator state file: {exc}", param_hint="--simulator-state") from None
    report = check_invariants(
        simulator,
        app.existing_db(),
        app.institution_id,
        overlap=timedelta(seconds=app.settings.overlap_seconds),
        final=final,
        examples=examples,
    )
    if as_json:
        print_json(report.as_dict())
    else:
        _show(report)
    if not report.ok:
        raise typer.Exit(EXIT_VIOLATED)


def _show(report: InvariantReport) -> None:
    """Print the report for people: the counts, what was found, and the open set-aside records."""
    print_table(
        "Invariants",
        ["", ""],
        [
            ["complaints (LAPOR! / city)", f"{report.complaints_national} / {report.complaints_city}"],
            ["follow-ups (expected / found)", f"{report.followups_expected} / {report.followups_found}"],
            ["status changes delivered", report.status_changes_expected],
            ["outbox", ", ".join(f"{name} {n}" for name, n in sorted(report.outbox_by_state.items())) or "empty"],
            ["set-aside records (unresolved)", f"{report.set_aside} ({len(report.unresolved_set_aside)})"],
            ["cursor", report.cursor or "not set (no pull yet)"],
            ["lost / duplicated", f"{report.lost} / {report.duplicated}"],
        ],
    )
    found = [f for f in report.findings if f.count]
    print_table(
        "Findings",
        ["invariant", "finding", "count", "breaks it", "what", "examples"],
        [
            [
                f.kind.invariant,
                f.key,
                f.count,
                "yes" if f.violation else "no",
                f.kind.words,
                f"{f.kind.ids} {', '.join(map(str, f.examples))}" if f.examples else "",
            ]
            for f in found
        ],
    )
    print_table(
        "Unresolved set-aside records",
        ["id", "complaint", "since", "reason"],
        [[r.id, r.complaint_id or "(unreadable)", r.first_seen_at, r.reason] for r in report.unresolved_set_aside],
    )
    console.print(
        "Every invariant holds." if report.ok else f"{len(report.violations)} invariant check(s) failed.",
        highlight=False,
    )
