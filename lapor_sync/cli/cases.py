"""The ``case`` group: list and show the city's cases, and the agency actions that reach LAPOR!."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lapor_sync.cli.context import operator_name, state
from lapor_sync.cli.output import JSON_OPTION, console, errors, print_json, print_table
from lapor_sync.domain.actions import ActionRefused, AgencyAction
from lapor_sync.domain.reference import strip_reference
from lapor_sync.domain.status import CaseState
from lapor_sync.domain.timezones import display_wib

if TYPE_CHECKING:
    from lapor_sync.adapters.city.builtin import BuiltinCityRecords
    from lapor_sync.domain.routing import AgencyOverride, CityMapping
    from lapor_sync.storage.models import Case, ThreadEntry

SECRET = "(rahasia)"  # shown instead of confidential (is_secret) text
TITLE_WIDTH = 48
REQUESTS = (AgencyAction.RETURN, AgencyAction.FORWARD)  # reject requests: an admin decides (CONTRACT §5)
LABELS = {
    AgencyAction.FOLLOWUP: "Follow-up",
    AgencyAction.COMPLETE: "Completion (selesai)",
    AgencyAction.RETURN: "Return request (data dukung kurang)",
    AgencyAction.FORWARD: "Forward request (bukan wewenang)",
}

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
    """Return the case named by ``ref``: a case id (``12``) or a tracking id (``#1916449``).

    A number without ``#`` is a case id; when no case has that id but one has it as its tracking id,
    that case is meant (a tracking id copied from LAPOR! without its ``#``), and a note on stderr says
    so. When both exist the case id wins, and the note says how to write the tracking id.

    Raises:
        typer.BadParameter: ``ref`` is neither form.
        CaseNotFound: no such case; without ``#``, the message says how a tracking id is written.
    """
    ref = ref.strip()
    if ref.startswith("#") and ref[1:].isdigit():
        return records.get_case(tracking_id=ref)
    if ref.isdigit():
        return _case_by_number(records, ref)
    raise typer.BadParameter(
        f"expected a case id such as 12 or a tracking id such as '#1916449', got {ref!r}", param_hint="CASE"
    )


def _case_by_number(records: BuiltinCityRecords, number: str) -> Case:
    """The case whose id is ``number``, else the one whose tracking id it is (see :func:`find_case`)."""
    from lapor_sync.adapters.city.builtin import CaseNotFound

    try:
        by_tracking_id: Case | None = records.get_case(tracking_id=number)
    except CaseNotFound:
        by_tracking_id = None
    try:
        case = records.get_case(case_id=int(number))
    except CaseNotFound:
        if by_tracking_id is None:
            raise CaseNotFound(
                f"no case with id {number}, nor with tracking id #{number}; a tracking id is written '#{number}'"
            ) from None
        errors.print(f"note: no case has id {number}: taking the case of tracking id #{number}", highlight=False)
        return by_tracking_id
    if by_tracking_id is not None:
        errors.print(
            f"note: {number} is taken as case id {number}; for the case of tracking id #{number}, write '#{number}'",
            highlight=False,
        )
    return case


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


# What ``case show`` prints, in this order; reporter fields are handled apart (``--show-reporter``).
SHOWN_FIELDS = (
    "id",
    "complaint_id",
    "tracking_id",
    "agency_code",
    "agency_name",
    "routing_rule",
    "state",
    "national_status_code",
    "national_status_name",
    "disposition_id",
    "disposition_name",
    "classification_name",
    "category_id",
    "category_name",
    "channel_name",
    "location_name",
    "date_of_incident",
    "is_anonymous",
    "is_secret",
    "is_priority",
    "complaint_created_at",
    "dispositioned_at",
    "received_at",
    "closed_at",
    "purged_at",
    "content_length",
    "title",
    "content",
)


def _case_fields(case: Case, mapping: CityMapping, show_content: bool) -> dict[str, Any]:
    """The case's own fields for ``case show``: no reporter; title and content ``None`` unless shown."""
    agency = mapping.agency(case.agency_code)
    fields = {name: getattr(case, name, None) for name in SHOWN_FIELDS}
    fields["agency_name"] = agency.name if agency else None
    if not show_content:
        fields["title"] = fields["content"] = None
    return fields


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
    from sqlmodel import col, select

    from lapor_sync.storage.models import OutboxItem
    from lapor_sync.sync.admin.reassign import find_override

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
        thread = records.thread(case.id)
        override = find_override(session, case.id)
        outbox = session.exec(
            select(OutboxItem).where(OutboxItem.case_id == case.id).order_by(col(OutboxItem.id))
        ).all()
    show_content = show_confidential or not case.is_secret
    reporter = (
        {"name": case.reporter_name, "email": case.reporter_email, "phone": case.reporter_phone}
        if show_reporter and not case.is_anonymous
        else None
    )
    entries = [_entry(e, visible=show_confidential or not (case.is_secret or e.is_secret)) for e in thread]
    queued = [
        {
            "id": o.id,
            "kind": o.kind,
            "state": o.state,
            "attempts": o.attempts,
            "created_at": o.created_at,
            "delivered_at": o.delivered_at,
            "last_error": o.last_error,
        }
        for o in outbox
    ]
    detail = {
        "case": _case_fields(case, app.mapping, show_content),
        "override": override_fields(override),
        "reporter": reporter,
        "thread": entries,
        "outbox": queued,
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


def _entry(entry: ThreadEntry, *, visible: bool) -> dict[str, Any]:
    """One thread entry; content ``None`` unless ``visible`` (confidential and not asked for)."""
    return {
        "id": entry.id,
        "origin": entry.origin,
        "author_type": entry.author_type,
        "institution_id": entry.institution_id,
        "national_id": entry.national_id,
        "is_secret": entry.is_secret,
        "created_at": entry.created_at,
        "content": strip_reference(entry.content) if visible else None,
    }


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
    is_secret: bool | None = None,
    target_institution_id: int | None = None,
) -> None:
    """Apply ``action`` to the case in one transaction (case change + outbox row) and say what was queued."""
    app = state(ctx).app()
    with app.writable_db().session() as session:
        records = app.city_records(session)
        case = find_case(records, ref)
        item = records.act(
            case,
            action,
            institution_id=app.mapping.acting_institution(case.agency_code),
            content=content,
            is_secret=is_secret,
            target_institution_id=target_institution_id,
        )
        session.commit()
    waits = " The case stays open until a LAPOR! admin approves the request." if action in REQUESTS else ""
    typer.echo(
        f"{LABELS[action]} on #{case.tracking_id} (case {case.id}, state {case.state}) queued as outbox "
        f"#{item.id}; it reaches LAPOR! on the next `lapor-sync sync`.{waits}"
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
    own = _text(text, "--text") if text is not None else None
    content = _from_template(ctx, template.strip(), own) if template is not None else own
    _act(ctx, ref, AgencyAction.FOLLOWUP, content or "", is_secret=secret)


def _from_template(ctx: typer.Context, code: str, own_text: str | None) -> str:
    """The follow-up's text from stored reply template ``code`` (raises ``TemplateRefused``)."""
    from lapor_sync.sync.admin.masters import followup_text

    app = state(ctx).app()
    with app.existing_db().session() as session:
        return followup_text(session, app.institution_id, code, own_text)


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
    mapping = state(ctx).app().mapping
    if to == mapping.institution.id or mapping.agency_for_institution(to):
        raise ActionRefused(f"institution {to} is the city or one of its agencies: a case cannot be forwarded there")
    if mapping.outside_institution(to) is None:
        errors.print(
            f"[yellow]warning:[/yellow] institution {to} is not an outside institution in the mapping "
            "file; forwarding anyway",
            highlight=False,
        )
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
    from lapor_sync.sync.admin.reassign import Reassigner

    app = state(ctx).app()
    with app.existing_db().session() as session:
        case_id = find_case(app.city_records(session), ref).id
    assert case_id is not None  # a stored case
    reassigner = Reassigner(app.db, app.leases(), app.mapping, app.settings.lease_wait_seconds)
    who, now = operator_name(), app.clock.now()
    done = (
        reassigner.clear(case_id, reason=reason, requested_by=who, now=now)
        if clear
        else reassigner.reassign(case_id, agency or "", reason=reason, requested_by=who, now=now)
    )
    result = {
        "case_id": done.case_id,
        "tracking_id": done.tracking_id,
        "previous_agency": done.previous_agency,
        "agency_code": done.routing.agency_code,
        "rule": done.routing.rule,
        "reason": done.routing.reason,
        "override": override_fields(done.override),
    }
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


def override_fields(override: AgencyOverride | None) -> dict[str, Any] | None:
    """An override for ``--json`` (``set_at`` ISO 8601 UTC; ``description`` with WIB, for people), or ``None``."""
    return None if override is None else {**asdict(override), "description": override.describe()}


def register(app: typer.Typer) -> None:
    """Add the ``case`` group to the main CLI ``app``."""
    app.add_typer(case_app)
