"""The ``case`` group: list and show the city's cases, and the agency actions that reach LAPOR!."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from lapor_sync.cli.context import operator_name, state
from lapor_sync.cli.output import JSON_OPTION, console, errors, print_json, print_table
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.status import CaseState
from lapor_sync.domain.timezones import display_wib

if TYPE_CHECKING:
    from lapor_sync.adapters.city.builtin import BuiltinCityRecords
    from lapor_sync.storage.models import Case

SECRET = "(rahasia)"  # shown instead of confidential (is_secret) text
TITLE_WIDTH = 48

case_app = typer.Typer(
    name="case",
    no_args_is_help=True,
    help="The city's cases: list, show, and act on them (follow-up, complete, return, forward). "
    "Actions are queued in the outbox and reach LAPOR! on the next `lapor-sync sync`. "
    "`case reassign` keeps one case with an agency the mapping would not choose.",
)

CaseArg = Annotated[
    str,
    typer.Argument(
        metavar="CASE",
        help="A case id (e.g. 12) or a tracking id (e.g. '#1916449'; without '#' when no case has that id).",
    ),
]


def find_case(records: BuiltinCityRecords, ref: str) -> Case:
    """Return the case named by ``ref`` (:func:`lapor_sync.reports.case_lookup.find_case`); its note goes to stderr.

    Raises:
        typer.BadParameter: ``ref`` is neither a case id nor a tracking id.
        CaseNotFound: no such case; without ``#``, the message says how a tracking id is written.
    """
    from lapor_sync.reports import case_lookup

    with _case_param():
        found = case_lookup.find_case(records, ref)
    _note(found.note)
    return found.case


@contextmanager
def _case_param() -> Iterator[None]:
    """A CASE argument that names no case in either form is a bad parameter (exit 2 with usage)."""
    from lapor_sync.reports.case_lookup import CaseRefInvalid

    try:
        yield
    except CaseRefInvalid as exc:
        raise typer.BadParameter(str(exc), param_hint="CASE") from None


def _note(note: str | None) -> None:
    if note is not None:
        errors.print(f"note: {note}", highlight=False)


@case_app.command(name="list")
def list_cases(
    ctx: typer.Context,
    agency: Annotated[str | None, typer.Option(help="Only this agency code, e.g. DISHUB.")] = None,
    state_: Annotated[CaseState | None, typer.Option("--state", help="Only cases in this state.")] = None,
    open_: Annotated[bool, typer.Option("--open", help="Only open cases (new or in_progress).")] = False,
    search: Annotated[
        str | None,
        typer.Option(help="Only cases with these words in the title or content (never confidential ones)."),
    ] = None,
    tracking_id: Annotated[str | None, typer.Option(help="Only tracking ids starting so, e.g. '#19164'.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many cases, newest first.")] = 50,
    as_json: bool = JSON_OPTION,
) -> None:
    """List the city's cases, newest first (as stored); no reporter data, no confidential titles.

    A confidential (rahasia) complaint shows `(rahasia)` instead of its title, and `--search` never
    finds it by its words. `--search` ignores case and never looks at the reporter's name, e-mail or
    phone. See one case with `lapor-sync case show`.

    Example: `lapor-sync case list --agency DISHUB --open`, `lapor-sync case list --search "lampu jalan"`
    """
    from lapor_sync.queries.cases import CaseFilter, search_cases
    from lapor_sync.queries.page import collect

    app = state(ctx).app()
    wanted = CaseFilter(tracking_id=tracking_id, text=search, agency_code=agency, state=state_, open_only=open_)
    with app.existing_db().session() as session:
        cases = collect(
            lambda before, size: search_cases(session, app.institution_id, wanted, before_id=before, limit=size), limit
        )
    if as_json:
        print_json(
            [
                {
                    "id": c.id,
                    "complaint_id": c.complaint_id,
                    "tracking_id": c.tracking_id,
                    "agency_code": c.agency_code,
                    "state": c.state,
                    "national_status_code": c.national_status_code,
                    "national_status_name": c.national_status_name,
                    "category_name": c.category_name,
                    "dispositioned_at": c.dispositioned_at,
                    "is_secret": c.is_secret,
                    "title": None if c.is_secret else c.title,
                }
                for c in cases
            ]
        )
        return
    print_table(
        "Cases",
        ["case", "tracking id", "agency", "state", "national status", "category", "dispositioned", "title"],
        [
            [
                c.id,
                f"#{c.tracking_id}",
                c.agency_code,
                c.state,
                c.national_status_name,
                c.category_name,
                c.dispositioned_at,
                SECRET if c.is_secret else _truncate(c.title),
            ]
            for c in cases
        ],
        keep_whole=("case", "tracking id", "state"),
    )


def _truncate(text: str) -> str:
    return text if len(text) <= TITLE_WIDTH else text[: TITLE_WIDTH - 1].rstrip() + "…"


@case_app.command(name="show")
def show(
    ctx: typer.Context,
    ref: Annotated[
        str | None,
        typer.Argument(
            metavar="CASE",
            help="A case id (e.g. 12) or a tracking id (e.g. '#1916449'; without '#' when no case has that id).",
        ),
    ] = None,
    tracking_id: Annotated[str | None, typer.Option(help="Find the case by tracking id.")] = None,
    complaint_id: Annotated[int | None, typer.Option(help="Find the case by national complaint id.")] = None,
    show_reporter: Annotated[
        bool,
        typer.Option(
            "--show-reporter", help="Also show the reporter's name, phone and email (not for anonymous complaints)."
        ),
    ] = False,
    show_confidential: Annotated[
        bool,
        typer.Option(
            "--show-confidential", help="Show title, content and thread of a confidential (rahasia) complaint."
        ),
    ] = False,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show one case: its fields, its thread (follow-ups and replies, oldest first) and its outbox rows.

    Name the case by id, tracking id or complaint id. The reporter's identity is shown only with
    `--show-reporter` (and never exists for anonymous complaints); the text of a confidential (rahasia)
    complaint only with `--show-confidential`: both are personal data, so mind where the output goes.
    A case purged by `lapor-sync purge` says when ("purged on ..."): its reporter and texts are gone.

    Example: `lapor-sync case show '#1916449' --show-reporter`
    """
    if sum(x is not None for x in (ref, tracking_id, complaint_id)) != 1:
        raise typer.BadParameter("name the case once: CASE, --tracking-id or --complaint-id")
    from lapor_sync.reports.case_detail import case_detail
    from lapor_sync.reports.routing import override_fields

    app = state(ctx).app()
    with app.existing_db().session() as session:
        records = app.city_records(session)
        case = (
            find_case(records, ref)
            if ref is not None
            else records.get_case(tracking_id=tracking_id)
            if tracking_id is not None
            else records.get_case(complaint_id=complaint_id)
        )
        found = case_detail(app, session, case, show_reporter=show_reporter, show_confidential=show_confidential)
    detail = {
        "case": found.fields,
        "override": override_fields(found.override),
        "reporter": found.reporter,
        "thread": found.thread,
        "outbox": found.outbox,
    }
    if as_json:
        print_json(detail)
    else:
        _print_case(detail)


def _print_case(detail: dict[str, Any]) -> None:
    """Print ``case show``'s tables: the fields (with the reporter line), the thread, the outbox rows."""
    fields, reporter = detail["case"], detail["reporter"]
    if fields["purged_at"] is not None:
        who = f"(purged on {display_wib(fields['purged_at'])})"  # not blank: it was removed on purpose
    elif fields["is_anonymous"]:
        who = "(anonim)"
    elif reporter is None:
        who = "(hidden: add --show-reporter)"
    else:
        who = " / ".join(v or "-" for v in reporter.values())
    hidden = f"{SECRET}: add --show-confidential"
    rows = [
        [
            name.replace("_", " "),
            hidden if value is None and name in ("title", "content") else value if isinstance(value, str) else value,
        ]
        for name, value in fields.items()
    ]
    rows.insert(-2, ["reporter", who])
    if (override := detail["override"]) is not None:
        rows.insert(
            1 + next(i for i, row in enumerate(rows) if row[0] == "routing rule"),
            ["override", override["description"]],
        )
    print_table(f"Case {fields['id']} (#{fields['tracking_id']})", ["", ""], rows)
    if detail["thread"]:
        print_table(
            "Thread",
            ["at", "origin", "author", "institution", "national id", "content"],
            [
                [
                    e["created_at"],
                    e["origin"],
                    e["author_type"],
                    e["institution_id"],
                    e["national_id"],
                    SECRET if e["content"] is None else e["content"],
                ]
                for e in detail["thread"]
            ],
        )
    if detail["outbox"]:
        print_table(
            "Outbox",
            ["id", "kind", "state", "attempts", "created", "delivered", "last error"],
            [
                [
                    o["id"],
                    o["kind"],
                    o["state"],
                    o["attempts"],
                    o["created_at"],
                    o["delivered_at"],
                    o["last_error"] or "",
                ]
                for o in detail["outbox"]
            ],
        )


def _text(value: str, option: str) -> str:
    """Return ``value`` stripped; refuse a blank one."""
    if not value.strip():
        raise typer.BadParameter("must not be empty", param_hint=option)
    return value.strip()


def _act(
    ctx: typer.Context,
    ref: str,
    action: AgencyAction,
    content: str,
    *,
    template: str | None = None,
    is_secret: bool | None = None,
    target_institution_id: int | None = None,
) -> None:
    """Apply ``action`` to the case (:func:`~lapor_sync.sync.admin.case_actions.act_on_case`) and say what was queued."""
    from lapor_sync.sync.admin.case_actions import act_on_case

    with _case_param():
        queued = act_on_case(
            state(ctx).app(),
            ref,
            action,
            content,
            template=template,
            is_secret=is_secret,
            target_institution_id=target_institution_id,
        )
    _note(queued.note)
    if queued.warning is not None:
        errors.print(f"[yellow]warning:[/yellow] {escape(queued.warning)}", highlight=False)
    waits = " The case stays open until a LAPOR! admin approves the request." if queued.waits_for_approval else ""
    typer.echo(
        f"{queued.label} on #{queued.tracking_id} (case {queued.case_id}, state {queued.case_state}) queued as outbox "
        f"#{queued.outbox_id}; it reaches LAPOR! on the next `lapor-sync sync`.{waits}"
    )


@case_app.command(name="followup")
def followup(
    ctx: typer.Context,
    ref: CaseArg,
    text: Annotated[
        str | None,
        typer.Option(help="The follow-up (tindak lanjut) the reporter will read; after the template's text if both."),
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(
            "--template",
            metavar="CODE",
            help="Start from this LAPOR! reply template (its code, see `lapor-sync masters list templates`).",
        ),
    ] = None,
    secret: Annotated[
        bool | None,
        typer.Option(
            "--secret/--public",
            help="Post it as confidential (rahasia) or public; default: as confidential as the complaint.",
        ),
    ] = None,
) -> None:
    """Post a follow-up (tindak lanjut) on a case as its agency; the case becomes in_progress.

    The reporter reads it on LAPOR!, posted by the agency's national sub-unit. Give its text with
    `--text`, or start from one of LAPOR!'s reply templates with `--template CODE` (stored by
    `lapor-sync masters pull`): the template's text is sent as it is, and `--text`, if given too,
    follows it after a blank line. A template LAPOR! no longer lists, or one with `{{...}}`
    placeholders, is refused. On a confidential (rahasia) complaint it is confidential too unless
    `--public` is given; `--secret` makes any follow-up confidential. Refused on a closed case.

    Example: `lapor-sync case followup '#1916449' --template survei_lokasi --text "Jadwal: Senin, 09.00 WIB."`
    """
    if text is None and template is None:
        raise typer.BadParameter("give the follow-up's text with --text, or a reply template with --template CODE")
    own = _text(text, "--text") if text is not None else ""
    _act(
        ctx,
        ref,
        AgencyAction.FOLLOWUP,
        own,
        template=template.strip() if template is not None else None,
        is_secret=secret,
    )


@case_app.command(name="complete")
def complete(
    ctx: typer.Context,
    ref: CaseArg,
    note: Annotated[str, typer.Option(help="What was done, for the status change to Selesai.")],
) -> None:
    """Mark a case completed (Selesai); LAPOR! requires a follow-up on it first.

    The case is completed here at once and the status change goes to LAPOR! with the note. Refused
    for a case without any agency follow-up, or one already closed.

    Example: `lapor-sync case complete 12 --note "Jalan sudah diperbaiki."`
    """
    _act(ctx, ref, AgencyAction.COMPLETE, _text(note, "--note"))


@case_app.command(name="return")
def return_(
    ctx: typer.Context,
    ref: CaseArg,
    reason: Annotated[str, typer.Option(help="What supporting data is missing; the reporter reads it.")],
) -> None:
    """Archive a case and return it to the reporter for lack of supporting data (data dukung kurang).

    This asks LAPOR!: an admin approves it there, and the case stays open until then.

    Example: `lapor-sync case return 12 --reason "Mohon lampirkan foto dan alamat lengkap lokasi."`
    """
    _act(ctx, ref, AgencyAction.RETURN, _text(reason, "--reason"))


@case_app.command(name="forward")
def forward(
    ctx: typer.Context,
    ref: CaseArg,
    to: Annotated[int, typer.Option("--to", min=1, help="National id of the institution to forward to.")],
    reason: Annotated[str, typer.Option(help="Why this is not the city's authority.")],
) -> None:
    """Forward a case to another institution: not the city's authority (bukan wewenang).

    The target should be one of the mapping's outside institutions (see the mapping file); another id
    is accepted with a warning, the city itself and its agencies are refused. This asks LAPOR!: an
    admin approves it there, and the case stays open until then.

    Example: `lapor-sync case forward '#1916449' --to 9001 --reason "Tindak pidana: wewenang kepolisian."`
    """
    _act(ctx, ref, AgencyAction.FORWARD, _text(reason, "--reason"), target_institution_id=to)


@case_app.command(name="reassign")
def reassign(
    ctx: typer.Context,
    ref: CaseArg,
    agency: Annotated[
        str | None, typer.Option(help="The agency code to keep the case with, e.g. DISHUB (see the mapping file).")
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Remove the override: the case goes back to the mapping's routing.")
    ] = False,
    reason: Annotated[str, typer.Option(help="Why (required); kept with the override and in the log.")] = "",
    as_json: bool = JSON_OPTION,
) -> None:
    """Reassign one case to an agency, and keep it there through every later pull and resync.

    The case moves at once, and an override is recorded: who (your OS user), when and why. Pulls,
    rechecks and `lapor-sync resync` keep the case with that agency whatever the mapping says, until
    `--clear` returns it to the agency the mapping routes it to now (no request to LAPOR!). Each
    change is a sync event (`lapor-sync log --kind case.reassigned`); `case show` and
    `mapping explain --complaint-id` name the override. Nothing is sent to LAPOR!: the disposition
    there is unchanged. Waits up to `lease_wait_seconds` for a running pull; exits 3 if still busy.

    Examples: `lapor-sync case reassign '#1916449' --agency DISHUB --reason "jalan provinsi, bukan PUPR"`;
    `lapor-sync case reassign '#1916449' --clear --reason "kategori sudah diperbaiki"`
    """
    if clear == (agency is not None):
        raise typer.BadParameter("give --agency CODE, or --clear (not both)")
    from lapor_sync.reports.routing import reassignment_fields

    app = state(ctx).app()
    with app.existing_db().session() as session:
        case_id = find_case(app.city_records(session), ref).id
    assert case_id is not None  # a stored case
    reassigner = app.reassigner()
    who, now = operator_name(), app.clock.now()
    done = (
        reassigner.clear(case_id, reason=reason, requested_by=who, now=now)
        if clear
        else reassigner.reassign(case_id, agency or "", reason=reason, requested_by=who, now=now)
    )
    result = reassignment_fields(done)
    if as_json:
        print_json(result)
        return
    what = "kept with" if done.override else "back to the mapping's routing:"
    console.print(
        f"Case {done.case_id} (#{done.tracking_id}) {what} {done.routing.agency_code} "
        f"(was {done.previous_agency}): {done.routing.reason}",
        highlight=False,
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Add the ``case`` group to the main CLI ``app``."""
    app.add_typer(case_app)
