"""The ``lapor-sync`` entry point: global options, command groups and clean error exits."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich.markup import escape

from lapor_sync.cli import (
    admin,
    cases,
    check,
    doctor,
    logs,
    mapping,
    masters,
    outbox,
    purge,
    reconcile,
    report,
    resync,
    set_aside,
    simulator,
    simulator_export,
    sla,
    sync,
    users,
    web,
    worker,
)
from lapor_sync.cli.context import EXIT_BUSY, EXIT_CONFIG, EXIT_INTERNAL, state
from lapor_sync.cli.output import errors
from lapor_sync.domain.errors import LaporSyncError, LeaseBusy
from lapor_sync.runtime.logs import LogFormat, LogLevel, configure_logging
from lapor_sync.runtime.redaction import redact

log = logging.getLogger("lapor_sync.cli")
MAX_ERROR_CHARS = 500  # of an internal error's message on its line; the debug log has all of it

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
        None,
        "--config",
        "-c",
        exists=True,
        dir_okay=False,
        envvar="LAPOR_SYNC_CONFIG",
        help="TOML file of settings (keys are the setting names, e.g. database_url). "
        "Environment variables LAPOR_SYNC_* override it.",
    ),
    log_level: LogLevel = typer.Option(
        LogLevel.WARNING,
        "--log-level",
        envvar="LAPOR_SYNC_LOG_LEVEL",
        case_sensitive=False,
        help="Service log lines (on stderr) at this level and above. "
        "The full record of every run stays in `lapor-sync log`.",
    ),
    log_format: LogFormat = typer.Option(
        LogFormat.AUTO,
        "--log-format",
        envvar="LAPOR_SYNC_LOG_FORMAT",
        case_sensitive=False,
        help="How service log lines are written: `text` (time in WIB, level, message), `json` (one object "
        "a line, for log collectors), or `auto`: text when stderr is a terminal, JSON otherwise. "
        "`worker` writes JSON on stdout unless this is given.",
    ),
) -> None:
    """Global options."""
    state(ctx).config_file = config
    state(ctx).command = ctx.invoked_subcommand
    configure_logging(log_level, log_format=log_format)


for module in (
    sync,
    resync,
    logs,
    outbox,
    set_aside,
    report,
    cases,
    mapping,
    masters,
    admin,
    simulator,
    simulator_export,
    sla,
    worker,
    check,
    doctor,
    purge,
    reconcile,
    users,
    web,
):
    module.register(app)


def main() -> None:
    """Run the CLI; every error ends as one line on stderr, never as a traceback.

    Exit codes: 2 for a configuration or domain error (:data:`EXIT_CONFIG`), 3 for a job lease held
    by another runner past ``lease_wait_seconds``, naming the holder and since when
    (:data:`EXIT_BUSY`), 70 for an internal error (:data:`EXIT_INTERNAL`). Error texts are redacted
    (``lapor_sync.runtime.redaction``): they may quote a server's message, a reporter's contact details or
    a withheld text.
    """
    try:
        app()
    except LeaseBusy as exc:
        _error_line(f"[red]busy:[/red] {escape(str(exc))}; try again later")
        raise SystemExit(EXIT_BUSY) from None
    except LaporSyncError as exc:
        _error_line(f"[red]error:[/red] {escape(redact(str(exc)))}")
        raise SystemExit(EXIT_CONFIG) from None
    except _database_error() as exc:
        # The driver's first line says what failed (refused, unknown database, read-only, full, an
        # invalid connection option in the URL); no URL, no password. Any other failure is a bug.
        from lapor_sync.storage.database import DiskFullError
        from lapor_sync.storage.faults import database_fault

        reason = database_fault(exc, name_the_file=True)
        if reason is None:
            _internal_error(exc)
        if isinstance(exc, DiskFullError):
            reason += "; free space there and run again (the cursor and the outbox are as they were)"
        _error_line(f"[red]error:[/red] LAPOR_SYNC_DATABASE_URL: cannot use the database: {escape(reason)}")
        raise SystemExit(EXIT_CONFIG) from None
    except Exception as exc:  # noqa: BLE001 - whatever else escapes a command is reported, masked, as one line
        _internal_error(exc)


def _database_error() -> type[Exception] | tuple[()]:
    """SQLAlchemy's base error class, or nothing to catch when SQLAlchemy was never imported.

    SQLAlchemy is imported by the commands that open a database, not by the CLI itself (so `--help`
    starts fast); a process that never imported it cannot have raised one of its errors.
    """
    loaded = sys.modules.get("sqlalchemy.exc")
    return loaded.SQLAlchemyError if loaded is not None else ()


def _internal_error(exc: Exception) -> NoReturn:
    """Report a bug or an unforeseen failure: one masked line, the traceback (masked too) at ``--log-level debug``."""
    log.debug("internal error: %s", type(exc).__name__, exc_info=exc)  # the formatter redacts the traceback
    _error_line(
        f"[red]error:[/red] internal error ({type(exc).__name__}): {escape(_one_line(exc))}; "
        "run again with --log-level debug for the details"
    )
    raise SystemExit(EXIT_INTERNAL) from None


def _one_line(exc: Exception) -> str:
    """``exc``'s text, redacted, on one line of at most :data:`MAX_ERROR_CHARS` characters."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not turn the error line into a traceback
        return "(its message cannot be shown)"
    text = " ".join(redact(text).split()) or "(no message)"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def _error_line(markup: str) -> None:
    """Print ``markup`` on stderr as one line, however narrow the terminal (no wrapping)."""
    errors.print(markup, highlight=False, soft_wrap=True)
