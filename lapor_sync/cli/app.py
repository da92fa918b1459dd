"""The ``lapor-sync`` entry point: global options, command groups and clean error exits."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from sqlalchemy.exc import DBAPIError, OperationalError

from lapor_sync.cli import (
    admin,
    cases,
    check,
    logs,
    mapping,
    outbox,
    purge,
    report,
    resync,
    set_aside,
    simulator,
    sla,
    sync,
    worker,
)
from lapor_sync.cli.context import EXIT_BUSY, EXIT_CONFIG, state
from lapor_sync.cli.output import errors
from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.logs import LogLevel, configure_logging
from lapor_sync.redaction import redact
from lapor_sync.storage.lease import LeaseBusy

app = typer.Typer(
    name="lapor-sync",
    help=(
        "Keep the city's complaint records in step with SP4N-LAPOR!.\n\n"
        "Pulls dispositions from the national platform into the city's agency records, and pushes "
        "agency follow-ups and status changes back, with retry and idempotency.\n\n"
        "Start with `lapor-sync demo` (no set-up needed), then see `lapor-sync config show` for "
        "pointing it at the real platform."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", "-c", exists=True, dir_okay=False, envvar="LAPOR_SYNC_CONFIG",
        help="TOML file of settings (keys are the setting names, e.g. database_url). "
             "Environment variables LAPOR_SYNC_* override it."),
    log_level: LogLevel = typer.Option(
        LogLevel.WARNING, "--log-level", envvar="LAPOR_SYNC_LOG_LEVEL", case_sensitive=False,
        help="Service log lines (JSON, on stderr) at this level and above. "
             "The full record of every run stays in `lapor-sync log`."),
) -> None:
    """Global options."""
    state(ctx).config_file = config
    state(ctx).command = ctx.invoked_subcommand
    configure_logging(log_level)


for module in (sync, resync, logs, outbox, set_aside, report, cases, mapping, admin, simulator, sla, worker, check,
               purge):
    module.register(app)


def main() -> None:
    """Run the CLI; a configuration or domain error becomes one line on stderr and exit code 2.

    A job lease held by another runner (a worker, another command) past ``lease_wait_seconds``
    exits 3, naming the holder and since when.
    """
    try:
        app()
    except LeaseBusy as exc:
        errors.print(f"[red]busy:[/red] {escape(str(exc))}; try again later", highlight=False)
        raise SystemExit(EXIT_BUSY) from None
    except LaporSyncError as exc:
        # Redacted like a log line: the text may quote a server's message (personal data masked).
        errors.print(f"[red]error:[/red] {escape(redact(str(exc)))}", highlight=False)
        raise SystemExit(EXIT_CONFIG) from None
    except DBAPIError as exc:
        if exc.statement is not None and not isinstance(exc, OperationalError):
            raise  # a statement that fails is a bug: its traceback is wanted (values hidden: hide_parameters)
        # The driver's first line says what failed (refused, unknown database, an invalid connection
        # option in the URL); no URL, no password.
        reason = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
        errors.print(f"[red]error:[/red] LAPOR_SYNC_DATABASE_URL: cannot use the database: {escape(redact(reason))}",
                     highlight=False)
        raise SystemExit(EXIT_CONFIG) from None
