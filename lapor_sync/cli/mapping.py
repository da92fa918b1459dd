"""The ``mapping`` group: check the city's mapping file, and explain where a complaint is routed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lapor_sync.cli.context import state
from lapor_sync.cli.output import JSON_OPTION, console, errors, print_json, print_table
from lapor_sync.domain.timezones import display_wib

mapping_app = typer.Typer(
    name="mapping",
    no_args_is_help=True,
    help="The city's mapping file: which agency (OPD) handles which complaint. Check it after every edit.",
)


@mapping_app.command(name="check")
def check(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Option("--file", dir_okay=False, help="The mapping TOML to check (default: the configured one)."),
    ] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Load and validate a mapping file, and summarise it; a wrong file exits 2 naming each key and line.

    Without `--file`, checks the configured mapping (LAPOR_SYNC_MAPPING_FILE, else the packaged
    Palangka Raya one) and that it agrees with LAPOR_SYNC_INSTITUTION_ID.

    It also warns about every institution id the file names (the city, the agencies' sub-units,
    the outside institutions) that LAPOR!'s master list of institutions does not hold, or no longer
    holds, as the last `lapor-sync masters pull` stored it; without a pull it says so instead. A
    warning does not change the exit code.

    Example: `lapor-sync mapping check --file mappings/palangka-raya.toml`
    """
    from lapor_sync.config.mapping_file import load_mapping
    from lapor_sync.reports.mapping import check_mapping

    app = state(ctx).app()
    mapping = load_mapping(file) if file is not None else app.mapping
    found = check_mapping(app, mapping)
    if as_json:
        print_json(found.as_dict())
        return
    console.print(
        f"Mapping OK: {mapping.institution.name} (institution {mapping.institution.id}), "
        f"{found.summary['agencies']} agencies, {found.summary['category_routes']} category routes, "
        f"triage at {found.summary['triage_agency']}, {found.summary['outside_institutions']} outside institutions.",
        highlight=False,
        markup=False,
    )
    if found.unknown_institutions is None:
        errors.print(
            f"note: the mapped institution ids were not checked against LAPOR!: {found.not_checked}",
            highlight=False,
            markup=False,
        )
        return
    for u in found.unknown_institutions:
        since = f"no longer listed since {display_wib(u.gone_at)}" if u.gone_at else "not listed"
        errors.print(
            f"[yellow]warning:[/yellow] institution {u.id} ({u.where}) is unknown to LAPOR!: {since} "
            "in its master institutions (`lapor-sync masters list institutions --all`)",
            highlight=False,
        )


@mapping_app.command(name="explain")
def explain(
    ctx: typer.Context,
    category: Annotated[str | None, typer.Option(help="LAPOR category name, e.g. 'Perhubungan'.")] = None,
    category_id: Annotated[int | None, typer.Option(help="LAPOR category id, when known.")] = None,
    institution: Annotated[
        int | None, typer.Option(help="National institution the complaint is dispositioned to (default: none).")
    ] = None,
    complaint_id: Annotated[
        int | None, typer.Option(help="Explain a stored complaint, by its national complaint id, instead.")
    ] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Say which agency a complaint goes to under the current mapping, by which rule, and why.

    Describe the complaint (`--category`, `--category-id`, `--institution`), or name a stored one with
    `--complaint-id`: then its disposition and category come from the database, and its current agency
    is shown beside the one the mapping would choose now; a case reassigned by hand (`lapor-sync case
    reassign`) names its override, who set it, when and why, and stays with it.

    Example: `lapor-sync mapping explain --category Perhubungan --institution 6271`
    """
    described = category is not None or category_id is not None or institution is not None
    if described == (complaint_id is not None):
        raise typer.BadParameter(
            "give --complaint-id, or describe the complaint with --category, "
            "--category-id and/or --institution (not both)"
        )
    from lapor_sync.reports.routing import explain_complaint, explain_routing

    app = state(ctx).app()
    if complaint_id is not None:
        with app.existing_db().session() as session:
            result = explain_complaint(app.city_records(session), app.mapping, complaint_id)
    else:
        result = explain_routing(app.mapping, institution, category_id, category)
    if as_json:
        print_json(result)
        return
    case, override = result["case"], result["override"]
    rows = [
        ["agency", f"{result['agency_code']} ({result['agency_name']})"],
        ["rule", result["rule"]],
        ["why", result["reason"]],
    ]
    if result["leaves_city"]:
        rows.append(
            [
                "note",
                f"institution {result['input']['disposition_id']} is outside the city: a stored case is marked forwarded",
            ]
        )
    if override is not None:
        rows.append(["override", f"{override['description']} (until `lapor-sync case reassign --clear`)"])
    if case is not None:
        rows.append(
            [
                "stored case",
                f"case {case['id']} (#{case['tracking_id']}) is at {case['agency_code']} "
                f"by rule {case['routing_rule']}, state {case['state']}",
            ]
        )
    print_table("Routing", ["", ""], rows)


def register(app: typer.Typer) -> None:
    """Add the ``mapping`` group to the main CLI ``app``."""
    app.add_typer(mapping_app)
