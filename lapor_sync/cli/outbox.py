"""``lapor-sync outbox``: list what waits to reach LAPOR!, and (admins) retry or cancel rows."""

from __future__ import annotations

from typing import Annotated

import typer

from lapor_sync.cli.context import operator_name, state
from lapor_sync.cli.output import JSON_OPTION, console, print_json, print_table
from lapor_sync.domain.outbox import WAITING, OutboxState

outbox_app = typer.Typer(rich_markup_mode="markdown")


def register(app: typer.Typer) -> None:
    """Add the ``outbox`` group (listing, ``show``, ``retry``, ``cancel``) to ``app``."""
    app.add_typer(outbox_app, name="outbox")


@outbox_app.callback(invoke_without_command=True)
def outbox(
    ctx: typer.Context,
    state_: Annotated[
        OutboxState | None,
        typer.Option("--state", help="Only rows in this state (default: every row not yet delivered)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many rows, oldest first.")] = 100,
    as_json: bool = JSON_OPTION,
) -> None:
    """List outbox rows: changes made here that must reach LAPOR!, oldest first; or retry/cancel them.

    `pending` waits for its next attempt, `sending` is claimed by a push and in flight (or its worker
    died: it is read back before any retry; `--json` names the claimer), `dead` gave up (see last
    error), `delivered` arrived, `cancelled` was given up by an admin. Follow-up text is not shown.

    `outbox show ID` lists every delivery attempt of one row. Admins: `outbox retry ID|--dead` puts
    rows back in the queue, `outbox cancel ID --reason TEXT` gives one up.

    Example: `lapor-sync outbox --state dead`
    """
    if ctx.invoked_subcommand is not None:
        return
    from lapor_sync.queries.outbox import search_outbox
    from lapor_sync.queries.page import collect
    from lapor_sync.reports.outbox import outbox_row

    app = state(ctx).app()
    with app.existing_db().session() as session:
        items = collect(
            lambda after, wanted: search_outbox(
                session, app.institution_id, state=state_, undelivered=True, oldest=True, after_id=after, limit=wanted
            ),
            limit,
        )
    if as_json:
        print_json([outbox_row(i) for i in items])
        return
    print_table(
        "Outbox",
        ["id", "tracking id", "kind", "state", "attempts", "next attempt", "last error", "created"],
        [
            [
                i.id,
                f"#{i.tracking_id}",
                i.kind,
                i.state,
                i.attempts,
                i.next_attempt_at if i.state in WAITING else None,
                i.last_error or "",
                i.created_at,
            ]
            for i in items
        ],
        keep_whole=("id", "tracking id"),
    )


@outbox_app.command("show")
def show(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(help="The outbox row id (see `lapor-sync outbox`).")],
    as_json: bool = JSON_OPTION,
) -> None:
    """Show one outbox row and every delivery attempt it had, oldest first.

    Each attempt: when (WIB on screen, UTC in `--json`), its outcome, the HTTP status of the answer
    (empty: no answer came, or none was needed) and the error, masked like the log.

    Outcomes: `delivered`; `failed` (tried again later); `ambiguous` (may have reached LAPOR!: read
    back before the next try); `dead_lettered` (refused for good, or out of attempts); `throttled`
    (the gateway's quota refused it: not counted as an attempt); `stopped` (an error that stops the
    whole run, such as a refused key: not counted either). Attempts older than the retention age
    are pruned with the sync events; the row keeps its count and last error. Follow-up text is not
    shown.

    Example: `lapor-sync outbox show 42 --json`
    """
    from lapor_sync.reports.outbox import attempt_row, outbox_row
    from lapor_sync.sync.admin import outbox as outbox_admin

    app = state(ctx).app()
    row, attempts = outbox_admin.attempts(app.existing_db(), app.institution_id, item_id)
    if as_json:
        print_json(outbox_row(row) | {"attempt_history": [attempt_row(a) for a in attempts]})
        return
    print_table(
        f"Outbox row #{row.id}",
        ["", ""],
        [
            ["tracking id", f"#{row.tracking_id}"],
            ["kind", row.kind],
            ["state", row.state],
            ["attempts", row.attempts],
            ["next attempt", row.next_attempt_at if row.state in WAITING else None],
            ["last error", row.last_error],
            ["created", row.created_at],
            ["delivered", row.delivered_at],
        ],
    )
    print_table(
        "Attempts",
        ["at", "outcome", "HTTP status", "error"],
        [[a.at, a.outcome, a.http_status, a.error or ""] for a in attempts],
    )


@outbox_app.command("retry")
def retry(
    ctx: typer.Context,
    item_id: Annotated[int | None, typer.Argument(help="The outbox row id (see `lapor-sync outbox`).")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Every dead row instead of one.")] = False,
    as_json: bool = JSON_OPTION,
) -> None:
    """Put a dead (or waiting) row back in the queue, due now; or every dead row with --dead.

    A dead row starts again from 0 attempts. If it may have reached LAPOR! before it died, LAPOR! is
    read back before anything is posted again, so a retry never sends a follow-up twice. The next
    push (`lapor-sync sync --push-only`, or the worker within a minute) sends it. Logged as
    `outbox.requeued` with your user name.

    Example: `lapor-sync outbox retry --dead`
    """
    if (item_id is None) == (not dead):
        raise typer.BadParameter("give either an outbox row ID or --dead (not both)")
    from lapor_sync.reports.outbox import outbox_row
    from lapor_sync.sync.admin import outbox as outbox_admin

    app = state(ctx).app()
    rows = outbox_admin.requeue(
        app.existing_db(), app.clock.now(), app.institution_id, item_id=item_id, requested_by=operator_name()
    )
    if as_json:
        print_json([outbox_row(row) for row in rows])
        return
    if not rows:
        console.print("No dead outbox rows: nothing to retry.")
        return
    ids = ", ".join(f"#{row.id}" for row in rows)
    console.print(
        f"Requeued {len(rows)} outbox row{'s' if len(rows) > 1 else ''} ({ids}): the next push sends them.",
        highlight=False,
    )


@outbox_app.command("cancel")
def cancel(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(help="The outbox row id (see `lapor-sync outbox`).")],
    reason: Annotated[str, typer.Option("--reason", help="Why: kept on the row and in the log.")],
    as_json: bool = JSON_OPTION,
) -> None:
    """Cancel a pending or dead row: it is never sent. The case keeps what staff did here.

    Refused for a row being sent or already delivered. Safe while a push runs: a push claims a row
    only while it is still pending, so a cancelled row is never sent. Logged as `outbox.cancelled`
    with your user name and the reason. To tell LAPOR! something else, act on the case again.

    Example: `lapor-sync outbox cancel 42 --reason "posted by hand on lapor.go.id"`
    """
    from lapor_sync.reports.outbox import outbox_row
    from lapor_sync.sync.admin import outbox as outbox_admin

    app = state(ctx).app()
    row = outbox_admin.cancel(
        app.existing_db(), app.clock.now(), app.institution_id, item_id, reason=reason, requested_by=operator_name()
    )
    if as_json:
        print_json(outbox_row(row))
        return
    console.print(
        f"Cancelled outbox row #{row.id} ({row.kind} for complaint #{row.tracking_id}); it will not be sent to LAPOR!.",
        highlight=False,
    )
