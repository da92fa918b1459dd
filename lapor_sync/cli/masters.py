"""The ``masters`` group: the national platform's institutions and reply templates, pulled and listed (CONTRACT §7 G8)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lapor_sync.cli.context import operator_name, state
from lapor_sync.cli.output import JSON_OPTION, console, errors, print_json, print_table

if TYPE_CHECKING:
    from lapor_sync.sync.admin.masters import ListPull

EXIT_NOT_ALL_STORED = 1  # a list failed, was skipped or was refused: what was stored before stays
CONTENT_WIDTH = 60
PULL_FIRST = "none stored yet: run `lapor-sync masters pull`"

masters_app = typer.Typer(
    name="masters",
    no_args_is_help=True,
    help="Master data of SP4N-LAPOR!: the institutions it knows and its reply templates. "
    "`masters pull` reads them into the database; `mapping check` and `case followup --template` use them.",
)


class MasterListName(StrEnum):
    """The lists ``masters list`` shows."""

    INSTITUTIONS = "institutions"
    TEMPLATES = "templates"


@masters_app.command(name="pull")
def pull(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Read the institutions and reply templates from LAPOR! into the database, and show what changed.

    Two requests at least (`GET /masters/institutions/external` and `GET /masters/templates`, a
    page of up to 1,000 rows each). Each list is read whole, then stored in one transaction of its
    own; the changes since the last pull are shown: added, changed (renamed, new text), back
    (listed again) and gone (no longer listed; kept and marked gone, never deleted). A row that
    cannot be read is set aside (shown with its reason) and its stored copy stays as it was.

    Nothing stored is ever wiped: a list that fails to read changes nothing, and an empty list
    while rows are stored is refused with a warning. After refused credentials, or a throttle
    answer again after the quota window, the second list is not asked for. Exit 0 when both lists
    were stored, 1 otherwise.

    Example: `lapor-sync masters pull --json`
    """
    from lapor_sync.config.settings import require_national
    from lapor_sync.sync.admin.masters import pull_masters

    app = state(ctx).app()
    require_national(app.settings)
    db = app.writable_db()
    with app.platform() as platform:
        outcomes = pull_masters(
            db, platform, app.clock, institution_id=app.institution_id, requested_by=operator_name()
        )
    if as_json:
        print_json({o.name.value: _outcome_json(o) for o in outcomes})
    else:
        for outcome in outcomes:
            _print_outcome(outcome)
    if not all(o.ok for o in outcomes):
        raise typer.Exit(EXIT_NOT_ALL_STORED)


def _outcome_json(outcome: ListPull) -> dict[str, Any]:
    return {
        "status": outcome.status.value,
        "listed": outcome.listed,
        "changes": [
            {"kind": c.kind.value, "key": c.key, "name": c.name, "before": c.before, "fields": list(c.fields)}
            for c in outcome.changes
        ],
        "unreadable": [{"key": u.key, "reason": u.reason} for u in outcome.unreadable],
        "error": outcome.error,
    }


def _print_outcome(outcome: ListPull) -> None:
    """One line for the list, then its changes and its unreadable rows as tables; a warning on stderr if not stored."""
    title = "Master institutions" if outcome.name == "institutions" else "Reply templates"
    if not outcome.ok:
        errors.print(f"[yellow]warning:[/yellow] {title.lower()} {outcome.status.value}: ", end="", highlight=False)
        errors.print(outcome.error or "", markup=False, highlight=False)
        return
    what = f"{len(outcome.changes)} changed since the last pull" if outcome.changes else "no change since the last pull"
    console.print(f"{title}: {outcome.listed} listed, {what}.", highlight=False, markup=False)
    if outcome.changes:
        print_table(
            f"{title}: changes",
            ["change", "id" if outcome.name == "institutions" else "code", "name", "before", "fields"],
            [[c.kind, c.key, c.name, c.before, ", ".join(c.fields)] for c in outcome.changes],
            keep_whole=("id", "code"),
        )
    if outcome.unreadable:
        print_table(
            f"{title}: set aside (unreadable; stored copies kept)",
            ["id or code", "reason"],
            [[u.key or "?", u.reason] for u in outcome.unreadable],
        )


@masters_app.command(name="list")
def list_masters(
    ctx: typer.Context,
    which: Annotated[
        MasterListName, typer.Argument(help="Which list: institutions or templates.")
    ] = MasterListName.INSTITUTIONS,
    include_gone: Annotated[bool, typer.Option("--all", help="Also rows the platform no longer lists (gone).")] = False,
    as_json: bool = JSON_OPTION,
) -> None:
    """List the stored master institutions or reply templates, as the last `masters pull` left them.

    Institutions by national id; templates by code, with their text (cut in the table, whole in
    `--json`). Times are WIB in the table and UTC in `--json`. Use a template's code with
    `lapor-sync case followup CASE --template CODE`.

    Example: `lapor-sync masters list templates`
    """
    from lapor_sync.sync.admin.masters import stored_institutions, stored_templates, tables_exist

    app = state(ctx).app()
    db = app.existing_db()
    with db.session() as session:
        if not tables_exist(db.engine):  # not upgraded since master data came: nothing pulled either
            rows = []
        elif which is MasterListName.INSTITUTIONS:
            rows = [_institution(r) for r in sorted(stored_institutions(session, app.institution_id).values(), key=_id)]
        else:
            rows = [_template(r) for r in stored_templates(session, app.institution_id)]
    shown = [row for row in rows if include_gone or row["gone_at"] is None]
    if as_json:
        print_json(shown)
        return
    if not rows:
        console.print(f"{which.value.capitalize()}: {PULL_FIRST}.", highlight=False, markup=False)
        return
    if which is MasterListName.INSTITUTIONS:
        columns = ["id", "name", "first seen", "last seen", "updated", "gone"]
        cells = [
            [r["id"], r["name"], r["first_seen_at"], r["last_seen_at"], r["updated_at"], r["gone_at"]] for r in shown
        ]
        print_table("Master institutions", columns, cells, keep_whole=("id",))
    else:
        columns = ["code", "name", "content", "last seen", "updated", "gone"]
        cells = [
            [r["code"], r["name"], _cut(r["content"]), r["last_seen_at"], r["updated_at"], r["gone_at"]] for r in shown
        ]
        print_table("Reply templates", columns, cells, keep_whole=("code",))


def _id(record: Any) -> int:
    return int(record.national_id)


def _stamps(record: Any) -> dict[str, Any]:
    return {
        "first_seen_at": record.first_seen_at,
        "last_seen_at": record.last_seen_at,
        "updated_at": record.updated_at,
        "gone_at": record.gone_at,
    }


def _institution(record: Any) -> dict[str, Any]:
    return {"id": record.national_id, "name": record.name, **_stamps(record)}


def _template(record: Any) -> dict[str, Any]:
    return {
        "code": record.code,
        "id": record.national_id,
        "name": record.name,
        "content": record.content,
        **_stamps(record),
    }


def _cut(text: str) -> str:
    return text if len(text) <= CONTENT_WIDTH else text[: CONTENT_WIDTH - 1].rstrip() + "…"


def register(app: typer.Typer) -> None:
    """Add the ``masters`` group to the main CLI ``app``."""
    app.add_typer(masters_app)
