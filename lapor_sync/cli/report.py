"""The ``report`` command: the city's complaint tallies for a period, in total and per agency."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lapor_sync.cli.context import state
from lapor_sync.cli.output import JSON_OPTION, print_json, print_table
from lapor_sync.cli.periods import parse_day, today_wib
from lapor_sync.domain.status import CaseState

if TYPE_CHECKING:
    from sqlmodel import Session

    from lapor_sync.domain.routing import CityMapping
    from lapor_sync.reports.tallies import Tallies

ARTICLE_PERIOD = (date(2024, 1, 1), date(2024, 10, 31))  # the news item in docs/domain.md: January to October 2024

_ROWS = (  # (label, Tallies.as_dict key)
    ("total dispositioned", "total"),
    ("completed (selesai)", "completed"),
    ("in process (dalam proses)", "in_process"),
    ("archived or returned", "archived_or_returned"),
    ("  of which archived (data dukung kurang)", "archived"),
    ("  of which forwarded (bukan wewenang)", "forwarded"),
)


def agency_tallies(session: Session, institution_id: int, start: date, end: date) -> dict[str, Tallies]:
    """Count the cases dispositioned between WIB days ``start`` and ``end`` (inclusive), per agency code.

    Same buckets as :func:`lapor_sync.reports.tallies.city_tallies`; agencies without cases are left out.
    """
    from sqlalchemy import func
    from sqlmodel import select

    from lapor_sync.reports.tallies import Tallies, period_bounds
    from lapor_sync.storage.models import Case

    low, high = period_bounds(start, end)
    rows = session.exec(
        select(Case.agency_code, Case.state, func.count())
        .where(Case.institution_id == institution_id, Case.dispositioned_at >= low, Case.dispositioned_at < high)
        .group_by(Case.agency_code, Case.state)
    ).all()
    counts: dict[str, dict[str, int]] = {}
    for code, case_state, n in rows:
        counts.setdefault(code, {})[case_state] = n
    return {
        code: Tallies(
            total=sum(by_state.values()),
            completed=by_state.get(CaseState.COMPLETED.value, 0),
            in_process=by_state.get(CaseState.NEW.value, 0) + by_state.get(CaseState.IN_PROGRESS.value, 0),
            archived=by_state.get(CaseState.ARCHIVED.value, 0),
            forwarded=by_state.get(CaseState.FORWARDED.value, 0),
        )
        for code, by_state in counts.items()
    }


def _agency_rows(mapping: CityMapping, per_agency: dict[str, Tallies]) -> list[dict[str, Any]]:
    """Per-agency tallies, largest first, with the agency's name from the mapping."""
    rows = []
    for code, tallies in sorted(per_agency.items(), key=lambda item: (-item[1].total, item[0])):
        agency = mapping.agency(code)
        rows.append({"agency": code, "name": agency.name if agency else None, **tallies.as_dict()})
    return rows


def report(
    ctx: typer.Context,
    from_: Annotated[
        str | None, typer.Option("--from", help="First WIB day, YYYY-MM-DD (default: 1 January of this year).")
    ] = None,
    to: Annotated[str | None, typer.Option(help="Last WIB day, included (default: today).")] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Count the complaints dispositioned to the city in a period, by outcome, in total and per agency.

    A complaint counts in the period of its disposition (WIB days, both ends included). "Archived or
    returned" adds archived (data dukung kurang) and forwarded (bukan wewenang), as the city's
    published figures do; for January to October 2024 the published figures are shown beside.

    Example: `lapor-sync report --from 2024-01-01 --to 2024-10-31`
    """
    from lapor_sync.reports.tallies import ARTICLE, city_tallies

    app = state(ctx).app()
    end = parse_day(to, "--to") if to else today_wib(app.clock)
    start = parse_day(from_, "--from") if from_ else date(end.year, 1, 1)
    if start > end:
        raise typer.BadParameter(f"{start} is after --to {end}", param_hint="--from")
    with app.existing_db().session() as session:
        city = city_tallies(session, app.institution_id, start, end)
        agencies = _agency_rows(app.mapping, agency_tallies(session, app.institution_id, start, end))
    article = ARTICLE if (start, end) == ARTICLE_PERIOD else None
    if as_json:
        print_json(
            {
                "from": start,
                "to": end,
                "timezone": "Asia/Jakarta",
                "city": city.as_dict(),
                "agencies": agencies,
                "article": article,
            }
        )
        return
    figures = city.as_dict()
    columns = ["", "city records"] + (["published (Oct 2024)"] if article else [])
    print_table(
        f"Complaints dispositioned {start} to {end} (WIB days)",
        columns,
        [[label, figures[key], *([article.get(key, "")] if article else [])] for label, key in _ROWS],
    )
    print_table(
        "Per agency",
        ["agency", "name", "total", "completed", "in process", "archived", "forwarded"],
        [
            [a["agency"], a["name"], a["total"], a["completed"], a["in_process"], a["archived"], a["forwarded"]]
            for a in agencies
        ],
    )


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to the main CLI ``app``."""
    app.command(name="report")(report)
