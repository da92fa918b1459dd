"""The ``status`` command: one health summary of sync, the outbox and the city's open cases."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import typer
from sqlalchemy import func
from sqlmodel import Session, col, select

from lapor_sync.app import App
from lapor_sync.cli.context import state
from lapor_sync.cli.output import JSON_OPTION, cell, print_json, print_table
from lapor_sync.domain.status import CaseState
from lapor_sync.storage.models import Case, Cursor, OutboxItem, SetAsideRecord, SyncRun
from lapor_sync.sync.cursor import cursor_name

_OPEN = [CaseState.NEW.value, CaseState.IN_PROGRESS.value]


class OutboxState(StrEnum):
    """States of an outbox row (see :class:`lapor_sync.storage.models.OutboxItem`)."""

    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    DEAD = "dead"
    CANCELLED = "cancelled"


def _age(instant: datetime | None, now: datetime) -> int | None:
    return None if instant is None else int((now - instant).total_seconds())


def _last_ok(session: Session, institution_id: int, jobs: tuple[str, ...], now: datetime) -> dict[str, Any] | None:
    """The newest successful run doing ``jobs``: its id, finish time (UTC) and age in seconds."""
    run = session.exec(select(SyncRun).where(SyncRun.institution_id == institution_id, SyncRun.outcome == "ok",
                                             col(SyncRun.job).in_(jobs))
                       .order_by(col(SyncRun.finished_at).desc())).first()
    if run is None:
        return None
    return {"run_id": run.id, "finished_at": run.finished_at, "age_seconds": _age(run.finished_at, now)}


def _count(session: Session, *where: Any) -> int:
    return session.exec(select(func.count()).select_from(Case).where(*where)).one()


def health_summary(app: App, session: Session) -> dict[str, Any]:
    """Gather the health summary of ``app``'s institution (datetimes aware UTC, ages in seconds).

    ``health`` is ``failing`` when the newest finished run failed, ``degraded`` when any outbox row
    is dead or any set-aside record is unresolved, else ``ok``. Open cases "in triage" are those the
    triage rule routed (no rule matched), not every case of the triage agency.
    """
    institution, now = app.institution_id, app.clock.now()
    last = session.exec(select(SyncRun).where(SyncRun.institution_id == institution, SyncRun.outcome != "running")
                        .order_by(col(SyncRun.started_at).desc(), col(SyncRun.id).desc())).first()
    cursor = session.get(Cursor, cursor_name(institution))
    per_state = dict(session.exec(select(OutboxItem.state, func.count()).where(OutboxItem.institution_id == institution)
                                  .group_by(OutboxItem.state)).all())
    oldest_pending = session.exec(select(func.min(OutboxItem.created_at)).where(
        OutboxItem.institution_id == institution, OutboxItem.state == OutboxState.PENDING.value)).one()
    set_aside = session.exec(select(func.count()).select_from(SetAsideRecord).where(
        SetAsideRecord.institution_id == institution, col(SetAsideRecord.resolved_at).is_(None))).one()
    outbox = {s.value: per_state.get(s.value, 0) for s in OutboxState}
    open_case = (Case.institution_id == institution, col(Case.state).in_(_OPEN))
    if last is not None and last.outcome == "failed":
        health = "failing"
    elif outbox[OutboxState.DEAD.value] or set_aside:
        health = "degraded"
    else:
        health = "ok"
    return {
        "health": health, "institution_id": institution, "now": now,
        "last_pull": _last_ok(session, institution, ("pull", "sync"), now),
        "last_push": _last_ok(session, institution, ("push", "sync"), now),
        "last_run": None if last is None else {"run_id": last.id, "job": last.job, "outcome": last.outcome,
                                               "finished_at": last.finished_at, "error": last.error},
        "cursor": {"name": cursor_name(institution), "position": cursor.position if cursor else None,
                   "updated_at": cursor.updated_at if cursor else None},
        "outbox": outbox, "oldest_pending_age_seconds": _age(oldest_pending, now),
        "set_aside_unresolved": set_aside,
        "open_cases": _count(session, *open_case),
        "triage": {"agency": app.mapping.triage.agency,
                   "open_cases": _count(session, *open_case, Case.routing_rule == "triage")},
    }


def _ago(seconds: int | None) -> str:
    """Say an age for people: ``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``; ``never`` for none."""
    if seconds is None:
        return "never"
    s = seconds
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _when(last: dict[str, Any] | None) -> str:
    return "never" if last is None else f"{cell(last['finished_at'])} ({_ago(last['age_seconds'])} ago)"


def status(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Show a health summary: last good pull and push, cursor, outbox, set-aside records, open cases.

    Health is `failing` when the last finished run failed, `degraded` when an outbox row is dead or a
    national record is set aside unresolved, else `ok`. Always exits 0 (for now).

    Example: `lapor-sync status --json`
    """
    app = state(ctx).app()
    with app.existing_db().session() as session:
        summary = health_summary(app, session)
    if as_json:
        print_json(summary)
        return
    last, outbox = summary["last_run"], summary["outbox"]
    rows = [
        ["health", summary["health"]],
        ["last successful pull", _when(summary["last_pull"])],
        ["last successful push", _when(summary["last_push"])],
        ["last run", "none yet" if last is None else f"#{last['run_id']} {last['job']}: {last['outcome']}"
                                                   + (f" ({last['error']})" if last["error"] else "")],
        [f"cursor {summary['cursor']['name']}", cell(summary["cursor"]["position"]) or "not set (no pull yet)"],
        ["outbox", ", ".join(f"{name} {n}" for name, n in outbox.items())],
        ["oldest pending outbox row", _ago(summary["oldest_pending_age_seconds"]).replace("never", "none")],
        ["set-aside records unresolved", summary["set_aside_unresolved"]],
        ["open cases", summary["open_cases"]],
        [f"open cases in triage ({summary['triage']['agency']})", summary["triage"]["open_cases"]],
    ]
    print_table(f"lapor-sync status, institution {summary['institution_id']}", ["", ""], rows)


def register(app: typer.Typer) -> None:
    """Add the ``status`` command to the main CLI ``app``."""
    app.command(name="status")(status)
