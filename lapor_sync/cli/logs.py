"""What sync did and what waits: the ``runs``, ``log`` (sync events) and ``outbox`` listings."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy import or_
from sqlmodel import col, select

from lapor_sync.cli import status
from lapor_sync.cli.context import state
from lapor_sync.cli.output import JSON_OPTION, print_json, print_table
from lapor_sync.cli.periods import parse_instant
from lapor_sync.cli.status import OutboxState
from lapor_sync.storage.models import OutboxItem, SyncEvent, SyncRun
from lapor_sync.sync.journal import COUNTERS, Level

_LEVELS = list(Level)  # in rising severity


def _run_dict(run: SyncRun) -> dict[str, Any]:
    """One sync run for ``--json``: times in UTC, duration in seconds (``None`` while running)."""
    duration = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
    return {"id": run.id, "job": run.job, "trigger": run.trigger, "started_at": run.started_at,
            "finished_at": run.finished_at, "duration_seconds": duration,
            **{name: getattr(run, name) for name in COUNTERS}, "outcome": run.outcome, "error": run.error}


def runs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="How many runs to list.")] = 20,
    as_json: bool = JSON_OPTION,
) -> None:
    """List sync runs, newest first: job, trigger, start (WIB), duration, counts and outcome.

    Counts: fetched from LAPOR!, cases created/updated/unchanged, records set aside, outbox rows
    pushed/failed/dead-lettered. A run still `running` long after it started means a worker died.

    Example: `lapor-sync runs --limit 5`
    """
    app = state(ctx).app()
    with app.existing_db().session() as session:
        rows = session.exec(select(SyncRun).where(SyncRun.institution_id == app.institution_id)
                            .order_by(col(SyncRun.started_at).desc(), col(SyncRun.id).desc()).limit(limit)).all()
    found = [_run_dict(run) for run in rows]
    if as_json:
        print_json(found)
        return
    # Only the counters that moved, so the table fits a terminal; --json has them all.
    print_table("Sync runs", ["id", "job", "trigger", "started", "secs", "counts", "outcome"], [
        [r["id"], r["job"], r["trigger"], r["started_at"],
         None if r["duration_seconds"] is None else f"{r['duration_seconds']:.1f}",
         ", ".join(f"{c.replace('_', ' ')} {r[c]}" for c in COUNTERS if r[c]) or "-",
         r["outcome"] + (f": {r['error']}" if r["error"] else "")] for r in found])


def log(
    ctx: typer.Context,
    run: Annotated[int | None, typer.Option("--run", help="Only events of this sync run id.")] = None,
    tracking_id: Annotated[str | None, typer.Option(
        help="Only events of this complaint, e.g. 1916449 or '#1916449'.")] = None,
    agency: Annotated[str | None, typer.Option(help="Only events about this agency code, e.g. DISHUB.")] = None,
    level: Annotated[Level, typer.Option(
        help="Lowest level shown: info shows all, warning shows warnings and errors.")] = Level.INFO,
    kind: Annotated[str | None, typer.Option(
        help="Only this kind, e.g. complaint.triage, or a family: complaint.")] = None,
    since: Annotated[str | None, typer.Option(help="From this WIB date (YYYY-MM-DD) or ISO datetime.")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this WIB date (included) or ISO datetime.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many events (the newest) to show.")] = 100,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show sync events, the newest LIMIT of them, oldest first so they read as a story.

    Events say what happened to which complaint (by tracking id) and why; they never hold complaint
    content or reporters' personal data. Filters combine.

    Example: `lapor-sync log --level warning --since 2024-10-01 --agency DISKOMINFO`
    """
    app = state(ctx).app()
    query = (select(SyncEvent).outerjoin(SyncRun, col(SyncEvent.run_id) == col(SyncRun.id))
             .where(or_(col(SyncEvent.run_id).is_(None), SyncRun.institution_id == app.institution_id)))
    if run is not None:
        query = query.where(SyncEvent.run_id == run)
    if tracking_id:
        query = query.where(SyncEvent.tracking_id == tracking_id.strip().lstrip("#"))
    if agency:
        query = query.where(SyncEvent.agency_code == agency.strip().upper())
    query = query.where(col(SyncEvent.level).in_([lv.value for lv in _LEVELS[_LEVELS.index(level):]]))
    if kind:  # a family name ("complaint") matches its kinds ("complaint.created", ...)
        query = query.where(or_(SyncEvent.kind == kind, col(SyncEvent.kind).startswith(f"{kind}.")))
    if since:
        query = query.where(SyncEvent.at >= parse_instant(since, "--since"))
    if until:
        query = query.where(SyncEvent.at < parse_instant(until, "--until", end_of_day=True))
    with app.existing_db().session() as session:
        events = list(reversed(session.exec(
            query.order_by(col(SyncEvent.at).desc(), col(SyncEvent.id).desc()).limit(limit)).all()))
    if as_json:
        print_json([{"id": e.id, "run_id": e.run_id, "at": e.at, "level": e.level, "kind": e.kind,
                     "complaint_id": e.complaint_id, "tracking_id": e.tracking_id,
                     "agency_code": e.agency_code, "message": e.message} for e in events])
        return
    print_table("Sync events", ["at", "run", "level", "kind", "tracking id", "agency", "message"], [
        [e.at, e.run_id, e.level, e.kind, f"#{e.tracking_id}" if e.tracking_id else None, e.agency_code,
         e.message] for e in events], keep_whole=("tracking id",))


def outbox(
    ctx: typer.Context,
    state_: Annotated[OutboxState | None, typer.Option(
        "--state", help="Only rows in this state (default: every row not yet delivered).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many rows, oldest first.")] = 100,
    as_json: bool = JSON_OPTION,
) -> None:
    """List outbox rows: changes made here that must reach LAPOR!, oldest first.

    `pending` waits for its next attempt, `sending` is in flight (or its worker died: it is read back
    before any retry), `dead` gave up (see last error), `delivered` arrived. Follow-up text is not shown.

    Example: `lapor-sync outbox --state dead`
    """
    app = state(ctx).app()
    query = select(OutboxItem).where(OutboxItem.institution_id == app.institution_id)
    query = query.where(OutboxItem.state == state_.value if state_ else OutboxItem.state != OutboxState.DELIVERED.value)
    with app.existing_db().session() as session:
        items = session.exec(query.order_by(col(OutboxItem.id)).limit(limit)).all()
    if as_json:
        print_json([{"id": i.id, "case_id": i.case_id, "complaint_id": i.complaint_id,
                     "tracking_id": i.tracking_id, "kind": i.kind, "state": i.state, "attempts": i.attempts,
                     "needs_readback": i.needs_readback, "next_attempt_at": i.next_attempt_at,
                     "last_error": i.last_error, "created_at": i.created_at, "delivered_at": i.delivered_at}
                    for i in items])
        return
    print_table("Outbox", ["id", "tracking id", "kind", "state", "attempts", "next attempt", "last error",
                           "created"], [
        [i.id, f"#{i.tracking_id}", i.kind, i.state, i.attempts,
         i.next_attempt_at if i.state in ("pending", "sending") else None, i.last_error or "",
         i.created_at] for i in items], keep_whole=("id", "tracking id"))


def register(app: typer.Typer) -> None:
    """Add ``runs``, ``log``, ``outbox`` and ``status`` to the main CLI ``app``."""
    app.command(name="runs")(runs)
    app.command(name="log")(log)
    app.command(name="outbox")(outbox)
    status.register(app)
