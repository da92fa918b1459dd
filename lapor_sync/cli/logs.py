"""What sync did: the ``runs`` (sync runs) and ``log`` (sync events) listings, and following the log."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from lapor_sync.cli import status
from lapor_sync.cli.context import state
from lapor_sync.cli.output import JSON_OPTION, console, print_json, print_table
from lapor_sync.cli.periods import parse_instant
from lapor_sync.domain.runs import Level

if TYPE_CHECKING:
    from sqlmodel.sql.expression import SelectOfScalar

    from lapor_sync.app import App
    from lapor_sync.storage.models import SyncEvent

sleep: Callable[[float], None] = time.sleep
"""How ``log --follow`` waits between polls (tests replace it)."""


def runs(
    ctx: typer.Context,
    job: Annotated[
        str | None, typer.Option(help="Only this job: pull, push, sync, reconcile, resync, sla, retention or purge.")
    ] = None,
    trigger: Annotated[str | None, typer.Option(help="Only this trigger: schedule, manual or command.")] = None,
    outcome: Annotated[
        str | None, typer.Option(help="Only this outcome: ok, failed, interrupted, abandoned or running.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many runs to list (the newest).")] = 20,
    as_json: bool = JSON_OPTION,
) -> None:
    """List sync runs, newest first: job, trigger, start (WIB), duration, counts and outcome.

    Counts: fetched from LAPOR!, cases created/updated/unchanged, records set aside, outbox rows
    pushed/failed/dead-lettered. `abandoned`: its process died mid-run (SIGKILL, a crash), found when
    another runner took its lease or a worker started; newest first by id, whatever the clocks said.
    Trigger: `schedule` (the worker), `manual` (an admin's resync), `command` (`lapor-sync sync`).

    Example: `lapor-sync runs --job pull --outcome failed --limit 5`
    """
    from lapor_sync.queries.page import collect
    from lapor_sync.queries.runs import run_dict, search_runs
    from lapor_sync.storage.models import COUNTERS

    app = state(ctx).app()
    with app.existing_db().session() as session:
        rows = collect(
            lambda before, wanted: search_runs(
                session, app.institution_id, job=job, outcome=outcome, trigger=trigger, before_id=before, limit=wanted
            ),
            limit,
        )
    found = [run_dict(run) for run in rows]
    if as_json:
        print_json(found)
        return
    # Only the counters that moved, so the table fits a terminal; --json has them all.
    print_table(
        "Sync runs",
        ["id", "job", "trigger", "started", "secs", "counts", "outcome"],
        [
            [
                r["id"],
                r["job"],
                r["trigger"],
                r["started_at"],
                None if r["duration_seconds"] is None else f"{r['duration_seconds']:.1f}",
                ", ".join(f"{c.replace('_', ' ')} {r[c]}" for c in COUNTERS if r[c]) or "-",
                r["outcome"] + (f": {r['error']}" if r["error"] else ""),
            ]
            for r in found
        ],
    )


def _event_query(
    app: App,
    *,
    run: int | None,
    tracking_id: str | None,
    agency: str | None,
    level: Level,
    kind: str | None,
    since: str | None,
    until: str | None,
) -> SelectOfScalar[SyncEvent]:
    """The events of this institution (and the admins' run-less ones) matching ``log``'s filters.

    The same select as the console's event search (:func:`lapor_sync.queries.events.event_query`).
    """
    from lapor_sync.queries.events import EventFilter, event_query

    wanted = EventFilter(
        run_id=run,
        tracking_id=tracking_id,
        agency_code=agency,
        level=level,
        kind=kind,
        since=parse_instant(since, "--since") if since else None,
        until=parse_instant(until, "--until", end_of_day=True) if until else None,
    )
    return event_query(app.institution_id, wanted)


def log(
    ctx: typer.Context,
    run: Annotated[int | None, typer.Option("--run", help="Only events of this sync run id.")] = None,
    tracking_id: Annotated[
        str | None, typer.Option(help="Only events of this complaint, e.g. 1916449 or '#1916449'.")
    ] = None,
    agency: Annotated[str | None, typer.Option(help="Only events about this agency code, e.g. DISHUB.")] = None,
    level: Annotated[
        Level, typer.Option(help="Lowest level shown: info shows all, warning shows warnings and errors.")
    ] = Level.INFO,
    kind: Annotated[
        str | None, typer.Option(help="Only this kind, e.g. complaint.triage, or a family: complaint.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="From this WIB date (YYYY-MM-DD) or ISO datetime.")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this WIB date (included) or ISO datetime.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many events (the newest) to show.")] = 100,
    follow_: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events as they are written (Ctrl-C to stop).")
    ] = False,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show sync events, the newest LIMIT of them, oldest first so they read as a story.

    One line per event: time (WIB), complaint, agency, level, kind, and what happened and why. Events
    never hold complaint content or reporters' personal data. Filters combine. With --json: a JSON
    array; with --follow --json: one JSON object per line (for a log collector).

    Example: `lapor-sync log --level warning --since 2024-10-01 --agency DISKOMINFO`, `lapor-sync log -f`
    """
    if follow_ and until:
        raise typer.BadParameter("--follow shows new events; --until would hide them all", param_hint="--until")
    from sqlmodel import col

    from lapor_sync.cli.tail import event_line
    from lapor_sync.queries.events import event_dict, event_json
    from lapor_sync.queries.tail import EventTail, follow, newest_id
    from lapor_sync.storage.models import SyncEvent

    app = state(ctx).app()
    db = app.existing_db()
    query = _event_query(
        app, run=run, tracking_id=tracking_id, agency=agency, level=level, kind=kind, since=since, until=until
    )
    start = newest_id(db)
    with db.session() as session:
        events = list(
            reversed(
                session.exec(
                    query.where(col(SyncEvent.id) <= start)
                    .order_by(col(SyncEvent.at).desc(), col(SyncEvent.id).desc())
                    .limit(limit)
                ).all()
            )
        )
    if as_json and not follow_:
        print_json([event_dict(e) for e in events])
        return
    show = (
        (lambda e: typer.echo(event_json(e)))
        if as_json
        else (lambda e: console.print(event_line(e), soft_wrap=True, highlight=False))
    )
    for event in events:
        show(event)
    if not follow_:
        if not events and not as_json:
            console.print("No sync events match these filters.")
        return
    try:
        for event in follow(EventTail(db, query, after_id=start), sleep=sleep):
            show(event)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def register(app: typer.Typer) -> None:
    """Add ``runs``, ``log`` and ``status`` to the main CLI ``app``."""
    app.command(name="runs")(runs)
    app.command(name="log")(log)
    status.register(app)
