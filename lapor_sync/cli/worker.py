"""The ``worker`` command: run the scheduled service until SIGTERM/SIGINT (or ``--run-for``, ``--once``)."""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from lapor_sync.cli.context import EXIT_RUN_FAILED, exit_with, state
from lapor_sync.runtime.logs import LogFormat, LogLevel, configure_logging

if TYPE_CHECKING:
    from lapor_sync.app import App
    from lapor_sync.web.server import ConsoleServer


def worker(
    ctx: typer.Context,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Run pull, reconcile and push once each, then exit: 0 all got through, 4 the push "
            "delivered some rows and not others, 1 a run failed, a job crashed, the database failed "
            "or the push delivered none of the rows it tried.",
        ),
    ] = False,
    run_for: Annotated[
        float | None,
        typer.Option(
            "--run-for", min=0, metavar="SECONDS", help="Stop by itself after this many seconds, as on SIGTERM."
        ),
    ] = None,
    web: Annotated[
        bool,
        typer.Option(
            "--web", help="Also serve the web console on web_host:web_port (127.0.0.1:8470), as `lapor-sync web` does."
        ),
    ] = False,
) -> None:
    """Run the scheduled service: pull, push, reconcile, the daily SLA check and retention.

    Intervals come from the settings (`pull_interval_seconds` 300, `push_interval_seconds` 60,
    `reconcile_interval_seconds` 3600, `outbox_watch_seconds` 5; `sla_check_time` 07:00 and
    `retention_time` 02:30 WIB). Ticks fall on whole multiples of the interval (UTC), so several
    workers on one database share them and each tick runs once; a tick whose job is held by another
    runner is skipped with a log line. New outbox rows are pushed within `outbox_watch_seconds`.

    Logs one JSON object per line on stdout (one per sync event, with its run id), at INFO unless
    `--log-level` says otherwise (text lines with `--log-format text` or `auto`); a database that fails (read-only, unreachable) is one line when it
    starts failing and one when it works again, and a step of the system clock is one line (every
    job is then rescheduled from the new time). Serves `/healthz` and `/metrics` on
    `health_host:health_port` (127.0.0.1:9464; port 0 turns them off; a port in use stops the start
    with one line naming `LAPOR_SYNC_HEALTH_PORT`). SIGTERM/SIGINT: the runs in flight end after
    their current item and release their leases; exits 0, or 1 if a run was still going after
    `shutdown_timeout_seconds` (its leases are released before the exit).

    Example: `LAPOR_SYNC_PULL_INTERVAL_SECONDS=60 lapor-sync -c city.toml worker`
    """
    from lapor_sync.config.settings import require_national
    from lapor_sync.scheduler.worker import Worker

    root = ctx.find_root()
    # The worker's stdout is a collector's log: INFO and JSON unless the user chose otherwise.
    level = LogLevel(root.params["log_level"]) if _chosen(root, "log_level") else LogLevel.INFO
    log_format = LogFormat(root.params["log_format"]) if _chosen(root, "log_format") else LogFormat.JSON
    configure_logging(level, to_stdout=True, log_format=log_format)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # its skips are logged by the worker, as JSON
    app = state(ctx).app()
    require_national(app.settings)
    app.writable_db()
    service = Worker(app, health_port=0 if once else None)
    if once:
        exit_with(service.run_once())
        return
    service.install_signal_handlers()
    console = _console(app) if web else None
    try:
        clean = service.run(run_for=run_for)
    finally:
        if console is not None:
            console.stop()
    if not clean:
        # Threads of the runs left behind would hold the interpreter open: leave now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_RUN_FAILED)


def _console(app: App) -> ConsoleServer:
    """The web console, started (``--web``); a port in use stops the start, before any job ran."""
    from lapor_sync.web.server import ConsoleServer

    console = ConsoleServer(app)
    console.start()
    return console


def _chosen(root: typer.Context, option: str) -> bool:
    """Whether the user gave the global ``option`` (on the command line or in its environment variable)."""
    source = root.get_parameter_source(option)  # typer vendors click: compare by name
    return source is not None and source.name != "DEFAULT"


def register(app: typer.Typer) -> None:
    """Add the ``worker`` command to the main CLI ``app``."""
    app.command(name="worker")(worker)
