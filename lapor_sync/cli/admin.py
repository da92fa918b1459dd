"""Administration: the ``db`` group (schema upgrades) and the ``config`` group (effective settings)."""

from __future__ import annotations

from typing import Any

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
    LAPOR_SYNC_API_KEY_FILE, _API_TOKEN_FILE, _SPLP_KEY_FILE, _OAUTH_CLIENT_SECRET_FILE,
    _OAUTH_PASSWORD_FILE or _DATABASE_URL_FILE, for container secrets; the variable column then
    shows that variable), `file` (the `--config` TOML), `default`.

    The endpoints (`[national.endpoints]` in the TOML file) are listed one per row as
    `endpoints.<call>` with their variables (`LAPOR_SYNC_ENDPOINTS__<CALL>`). Then the national
    connection the settings make: the auth mode, the headers each request carries, whether the
    base URL is the production API or the sandbox, the SPLP key's claims (type, issued, expires,
    in WIB; never the key) and warnings (a SANDBOX key on the production API or the other way
    round, an expired key). With `--json`, the settings by name, each `{value, source, env}`,
    and `national`: that connection.

    Example: `lapor-sync --config lapor-sync.toml config show`
    """
    from lapor_sync.reports.config import config_view

    app = state(ctx).app()
    view = config_view(app.settings, app.clock.now())
    if as_json:
        print_json(view.settings | {"national": view.national})
        return
    print_table(
        "Settings",
        ["setting", "environment variable", "value", "source"],
        [[name, shown["env"], shown["value"], shown["source"]] for name, shown in view.settings.items()],
    )
    _print_connection(view.national)


_CLAIM_LABELS = {
    "keytype": "SPLP key type",
    "token_type": "SPLP key token_type",
    "issued_at": "SPLP key issued",
    "expires_at": "SPLP key expires",
}


def _print_connection(national: dict[str, Any]) -> None:
    """The national connection of ``config show`` as a key/value table, then one line per warning."""
    rows: list[list[object]] = [
        ["auth mode", national["auth_mode"]],
        ["API", national["base_url_kind"]],
        ["proxy", national["proxy"]],
    ]
    rows += [[f"header {name}", carries] for name, carries in national["headers"].items()]
    claims = national["key_claims"] or {}
    rows += [[_CLAIM_LABELS[claim], "(absent)" if value is None else value] for claim, value in claims.items()]
    print_table("National connection", ["", ""], rows)
    for warning in national["warnings"]:
        console.print(f"warning: {warning}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``db`` and ``config`` groups to the main CLI ``app``."""
    app.add_typer(db_app)
    app.add_typer(config_app)
