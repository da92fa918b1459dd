"""Administration: the ``db`` group (schema upgrades) and the ``config`` group (effective settings)."""

from __future__ import annotations

import typer

from lapor_sync.cli.context import state
from lapor_sync.cli.output import JSON_OPTION, console, print_json, print_table

db_app = typer.Typer(
    name="db",
    no_args_is_help=True,
    help="The lapor-sync database (LAPOR_SYNC_DATABASE_URL): create or upgrade its schema.",
)
config_app = typer.Typer(
    name="config", no_args_is_help=True, help="The effective settings, and where each one came from."
)


@db_app.command(name="upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Create the database schema, or upgrade it to the newest version; safe to run again.

    Run it after installing a new lapor-sync version (a sync also does it). The URL is printed with
    its password masked.

    Example: `LAPOR_SYNC_DATABASE_URL=postgresql://lapor@127.0.0.1/lapor lapor-sync db upgrade`
    """
    app = state(ctx).app()
    app.writable_db()
    console.print(f"{app.settings.masked()['database_url']}: schema is current.", highlight=False, markup=False)


@config_app.command(name="show")
def show(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Show every setting, its environment variable and where its value came from; secrets masked.

    Sources, highest first: `env` (LAPOR_SYNC_* variables), `env-file` (the file named by
    LAPOR_SYNC_API_KEY_FILE, _API_TOKEN_FILE, _OAUTH_CLIENT_SECRET_FILE or _DATABASE_URL_FILE, for
    container secrets; the variable column then shows that variable), `file` (the `--config` TOML),
    `default`.

    Example: `lapor-sync --config lapor-sync.toml config show`
    """
    from lapor_sync.config.settings import source_variable

    settings = state(ctx).app().settings
    values, sources = settings.masked(), settings.value_sources()
    if as_json:
        print_json(
            {
                name: {"value": value, "source": sources[name], "env": source_variable(name, sources[name])}
                for name, value in values.items()
            }
        )
        return
    print_table(
        "Settings",
        ["setting", "environment variable", "value", "source"],
        [[name, source_variable(name, sources[name]), value, sources[name]] for name, value in values.items()],
    )


def register(app: typer.Typer) -> None:
    """Add the ``db`` and ``config`` groups to the main CLI ``app``."""
    app.add_typer(db_app)
    app.add_typer(config_app)
