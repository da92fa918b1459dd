"""The ``web`` command: serve the console (pages and the JSON API) until Ctrl-C."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from lapor_sync.cli.context import state


def web(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(
            help="Address to listen on (default: web_host, 127.0.0.1). Reach it from other machines "
            "through a reverse proxy with TLS (README, 'Behind a reverse proxy')."
        ),
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="TCP port (default: web_port, 8470; 0 picks a free one).")
    ] = None,
) -> None:
    """Serve the web console: dashboard, cases, runs, events, outbox, set-aside records, SLA, mapping, settings.

    Pages speak Bahasa Indonesia by default (English by the browser's Accept-Language, the language
    chooser, or `web_language`), and every page has a JSON twin under `/api/v1` (OpenAPI at
    `/api/v1/openapi.json`; a program signs in with `lapor-sync user token NAME`). Sign in with a
    user made by `lapor-sync user add NAME --role admin|operator|viewer`. The console runs alongside the
    worker (or inside it: `lapor-sync worker --web`), on the same database.

    Example: `lapor-sync user add siti --role admin && lapor-sync web`, then open http://127.0.0.1:8470/
    """
    from lapor_sync.accounts.users import Accounts
    from lapor_sync.web.server import ConsoleServer

    app = state(ctx).app()
    server = ConsoleServer(app, host=host, port=port)
    server.start()
    typer.echo(f"lapor-sync console {server.notice()}. Ctrl-C to stop.")
    if not Accounts(app.db, app.clock).list():
        typer.secho(
            "No console users yet: create one with `lapor-sync user add NAME --role admin`.",
            fg=typer.colors.YELLOW,
            err=True,
        )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        typer.echo("stopping")
    finally:
        server.stop()


def register(app: typer.Typer) -> None:
    """Add the ``web`` command to the main CLI ``app``."""
    app.command(name="web")(web)
