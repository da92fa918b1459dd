"""The ``sla`` command: open cases' follow-up deadlines and expected auto-closes, per agency."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Annotated

import typer

from lapor_sync.cli.context import state
from lapor_sync.cli.output import JSON_OPTION, print_json, print_table
from lapor_sync.cli.periods import parse_instant
from lapor_sync.domain.timezones import display_wib

if TYPE_CHECKING:
    from lapor_sync.reports.sla import CaseSla

COLUMNS = [
    "status",
    "tracking id",
    "case",
    "state",
    "dispositioned",
    "follow-up due",
    "followed up",
    "auto-close expected",
]


def _row(row: CaseSla) -> list[object]:
    """One table row; instants are shown in WIB."""
    from lapor_sync.reports.sla import LABELS, is_pressing

    result, followup = row.result, row.result.followup
    status = result.status.value.replace("_", " ")
    if is_pressing(result.status):
        status += f" ({LABELS[result.pressing.kind]})"
    followed_up = display_wib(followup.met_at) + (" (late)" if followup.met_late else "") if followup.met_at else ""
    return [
        status,
        f"#{row.tracking_id}",
        row.case_id,
        row.state,
        row.dispositioned_at,
        followup.due_at,
        followed_up,
        result.auto_close.due_at if result.auto_close else None,
    ]


def sla(
    ctx: typer.Context,
    agency: Annotated[str | None, typer.Option(help="Only this agency code, e.g. DISHUB.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every open case, also on track and met.")] = False,
    at: Annotated[
        str | None,
        typer.Option(
            help="Evaluate at this instant instead of now: a WIB day YYYY-MM-DD (its 00:00), "
            "YYYY-MM-DDTHH:MM (WIB) or ISO 8601 with an offset."
        ),
    ] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """List open cases whose follow-up or expected auto-close is overdue or due soon, per agency.

    Deadlines are in working days (Mon–Fri minus Indonesian public holidays, cuti bersama and the
    configured extra days off). By default a follow-up is due 5 working days after disposition, and
    LAPOR! closes a complaint by itself 10 working days after the last agency follow-up left without
    a reply (the `sla_*` settings). "Due soon" means due today or within the next
    `sla_due_soon_working_days` working days. Tables show WIB; `--json` gives UTC.

    Example: `lapor-sync sla --agency DISHUB --at 2024-10-31T16:00`
    """
    from lapor_sync.reports.sla import UnknownAgency, sla_overview

    app = state(ctx).app()
    instant = (parse_instant(at, "--at") if at else app.clock.now()).astimezone(UTC)
    with app.existing_db().session() as session:
        try:
            overview = sla_overview(session, app.mapping, app.settings, instant, agency=agency, everything=all_)
        except UnknownAgency as exc:
            raise typer.BadParameter(str(exc), param_hint="--agency") from None
    if as_json:
        print_json(overview.as_dict())
        return
    if not overview.agencies:
        listed = "open" if all_ else "overdue or due-soon"
        typer.echo(f"No {listed} cases at {display_wib(instant)} ({overview.open_cases} open cases checked).")
        return
    for group in overview.agencies:
        counts = group.counts
        print_table(
            f"{group.agency_code} — {group.agency_name or '?'}: {counts['overdue']} overdue, "
            f"{counts['due_soon']} due soon, {group.open_cases} open, at {display_wib(instant)}",
            COLUMNS,
            [_row(r) for r in group.cases],
        )


def register(app: typer.Typer) -> None:
    """Add the ``sla`` command to the main CLI ``app``."""
    app.command(name="sla")(sla)
