"""``lapor-sync set-aside``: the malformed records kept aside, with their reasons and raw payloads."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from lapor_sync.cli.context import state
from lapor_sync.cli.output import JSON_OPTION, console, print_json, print_table


def set_aside(
    ctx: typer.Context,
    include_resolved: Annotated[bool, typer.Option("--all", help="Also records already resolved.")] = False,
    show_raw: Annotated[
        bool,
        typer.Option(
            "--show-raw", help="Also print each raw payload as received (reporters' identity already removed)."
        ),
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="How many records, newest first.")] = 100,
    as_json: bool = JSON_OPTION,
) -> None:
    """List records from LAPOR! that could not be read and were set aside, with the reason for each.

    A record is set aside when it is malformed, when LAPOR! refuses its detail, or when reading it
    failed `set_aside_after_failures` pull runs in a row (default 3; `{"results": null}` or a 5xx
    for that complaint: "reading it failed 3 pull runs in a row (...)"). The rest of their run went on; each is tried again by the open-case recheck and by
    `lapor-sync resync --set-aside`, and resolved once its complaint is stored. `--show-raw` prints
    the payload as it came (the reporter's name, e-mail and phone are removed before it is kept).

    Example: `lapor-sync set-aside --json --show-raw`
    """
    from lapor_sync.queries.page import collect
    from lapor_sync.queries.set_aside import search_set_aside
    from lapor_sync.reports.set_aside import set_aside_row

    app = state(ctx).app()
    with app.existing_db().session() as session:
        records = collect(
            lambda before, wanted: search_set_aside(
                session, app.institution_id, include_resolved=include_resolved, before_id=before, limit=wanted
            ),
            limit,
        )
    rows = [set_aside_row(record, show_raw=show_raw) for record in records]
    if as_json:
        print_json(rows)
        return
    print_table(
        "Set-aside records",
        ["id", "complaint", "reason", "first seen", "resolved"],
        [[r["id"], r["complaint_id"], r["reason"], r["first_seen_at"], r["resolved_at"]] for r in rows],
    )
    if show_raw:
        for r in rows:
            console.print(
                f"#{r['id']}: {json.dumps(r['raw'], ensure_ascii=False)[:2000]}", highlight=False, markup=False
            )


def register(app: typer.Typer) -> None:
    """Add ``set-aside`` to the main CLI ``app``."""
    app.command(name="set-aside")(set_aside)
