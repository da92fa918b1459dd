"""The ``sla`` command: open cases' follow-up deadlines and expected auto-closes, per agency."""

from __future__ import annotations

from collections import Counter
from datetime import UTC
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lapor_sync.cli.context import state
from lapor_sync.cli.output import JSON_OPTION, print_json, print_table
from lapor_sync.cli.periods import parse_instant
from lapor_sync.domain.timezones import display_wib

if TYPE_CHECKING:
    from lapor_sync.config.settings import Settings
    from lapor_sync.domain.sla import Deadline, SlaStatus
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


def _counts(rows: list[CaseSla]) -> dict[str, int]:
    """How many of ``rows`` are in each status, every status named."""
    from lapor_sync.domain.sla import SlaStatus

    found = Counter(r.result.status for r in rows)
    return {status.value: found[status] for status in SlaStatus}


def _pressing(status: SlaStatus) -> bool:
    """Whether a case in ``status`` is listed without ``--all``: overdue or due soon."""
    from lapor_sync.domain.sla import SlaStatus

    return status in (SlaStatus.OVERDUE, SlaStatus.DUE_SOON)


def _deadline(deadline: Deadline | None) -> dict[str, Any] | None:
    """One deadline for ``--json`` (instants aware UTC), or ``None``."""
    if deadline is None:
        return None
    return {
        "due_at": deadline.due_at,
        "status": deadline.status.value,
        "met_at": deadline.met_at,
        "met_late": deadline.met_late,
    }


def _case(row: CaseSla) -> dict[str, Any]:
    """One case for ``--json``: identifiers and deadlines only (no title, content or reporter)."""
    result = row.result
    return {
        "case_id": row.case_id,
        "complaint_id": row.complaint_id,
        "tracking_id": row.tracking_id,
        "state": row.state,
        "status": result.status.value,
        "pressing": result.pressing.kind.value,
        "dispositioned_at": row.dispositioned_at,
        "followup": _deadline(result.followup),
        "auto_close": _deadline(result.auto_close),
    }


def _limits(settings: Settings) -> dict[str, Any]:
    """The limits in force, as their settings name them."""
    names = (
        "sla_followup_working_days",
        "sla_autoclose_working_days",
        "sla_due_soon_working_days",
        "extra_non_working_days",
    )
    return {name: getattr(settings, name) for name in names}


def _row(row: CaseSla) -> list[object]:
    """One table row; instants are shown in WIB."""
    from lapor_sync.reports.sla import LABELS

    result, followup = row.result, row.result.followup
    status = result.status.value.replace("_", " ")
    if _pressing(result.status):
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
    from lapor_sync.reports.sla import by_agency, evaluate_open_cases, sla_policy

    app = state(ctx).app()
    instant = (parse_instant(at, "--at") if at else app.clock.now()).astimezone(UTC)
    code = None
    if agency is not None:
        found = app.mapping.agency(agency)
        if found is None:
            raise typer.BadParameter(f"no agency with code {agency!r} in the mapping file", param_hint="--agency")
        code = found.code
    policy = sla_policy(app.settings)
    with app.existing_db().session() as session:
        rows = evaluate_open_cases(session, app.institution_id, policy, instant, agency_code=code)
    groups = by_agency(rows)
    shown = {c: [r for r in group if all_ or _pressing(r.result.status)] for c, group in groups.items()}
    shown = {c: group for c, group in shown.items() if group}
    names = {c: (a.name if (a := app.mapping.agency(c)) else None) for c in groups}
    if as_json:
        print_json(
            {
                "at": instant,
                "limits": _limits(app.settings),
                "open_cases": len(rows),
                "counts": _counts(rows),
                "agencies": [
                    {
                        "agency_code": c,
                        "agency_name": names[c],
                        "counts": _counts(groups[c]),
                        "cases": [_case(r) for r in group],
                    }
                    for c, group in shown.items()
                ],
            }
        )
        return
    if not shown:
        listed = "open" if all_ else "overdue or due-soon"
        typer.echo(f"No {listed} cases at {display_wib(instant)} ({len(rows)} open cases checked).")
        return
    for c, group in shown.items():
        counts = _counts(groups[c])
        print_table(
            f"{c} — {names[c] or '?'}: {counts['overdue']} overdue, {counts['due_soon']} due soon, "
            f"{len(groups[c])} open, at {display_wib(instant)}",
            COLUMNS,
            [_row(r) for r in group],
        )


def register(app: typer.Typer) -> None:
    """Add the ``sla`` command to the main CLI ``app``."""
    app.command(name="sla")(sla)
