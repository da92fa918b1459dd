"""The ``doctor`` command: is the way to LAPOR! clear, layer by layer, and if not, what fixes it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from lapor_sync.cli.context import state
from lapor_sync.cli.output import JSON_OPTION, console, print_json

if TYPE_CHECKING:
    from lapor_sync.checks.doctor import Check

__all__ = ["doctor", "register"]

_MARKS = {True: "[green]✓[/green]", False: "[red]✗[/red]", None: "[dim]-[/dim]"}
_LABEL_WIDTH = 13  # the longest step names ("gateway key", "institution") and two spaces


def doctor(
    ctx: typer.Context,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=1,
            max=120,
            help="The longest each step may take, seconds (a request: also at most LAPOR_SYNC_REQUEST_DEADLINE_SECONDS).",
        ),
    ] = 10.0,
    as_json: bool = JSON_OPTION,
) -> None:
    """Check the way to LAPOR!, one layer a line, and stop at the first that fails, with its fix.

    The layers, in order: **settings** (they load and validate, the mapping file agrees, the
    database answers: read only), **DNS** (the base URL's host), **TCP** (a connection to its
    port), **TLS** (the certificate, verified with LAPOR_SYNC_TLS_CA_BUNDLE or the default CAs;
    its name and expiry in WIB), **gateway key** (the SPLP key against the base URL, read without
    a request), **gateway** and **LAPOR!** (one authenticated GET of the institution list: a WSO2
    fault fails the gateway, LAPOR!'s own 401/403 fails LAPOR!), **institution**
    (LAPOR_SYNC_INSTITUTION_ID is among those the key sees), **inbox** (page 1, one row), and
    **quota** (the requests doctor spent, the client-side quota, a throttling answer and how long to wait).

    It never writes to the national side: two GETs (one more per further page of the institution
    list; in OAuth2 mode a token request first), each sent once, never retried, each counted
    against the gateway's per-minute quota. No secret is printed: header names only.

    Exits 0 when every step passed, 1 when one failed (degraded), 2 when the settings are wrong
    and nothing could be checked (failing): as `lapor-sync status` does. `--json` gives the same
    steps as a list of `{step, ok, detail, fix}` (`ok` is null for a step not checked).

    Example: `lapor-sync doctor`, or `lapor-sync -c city.toml doctor --json`
    """
    from lapor_sync.checks.doctor import run_doctor

    report = run_doctor(state(ctx).config_file, timeout=timeout)
    if as_json:
        print_json(report.as_list())
    else:
        for check in report.checks:
            _print_line(check)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def _print_line(check: Check) -> None:
    """``✓ DNS         host → address``, and for a failure an indented ``fix:`` line under it."""
    label = check.step.value.ljust(_LABEL_WIDTH)
    console.print(f"{_MARKS[check.ok]} {escape(label)}{escape(check.detail)}", highlight=False, soft_wrap=True)
    if check.fix:
        console.print(f"  {' ' * _LABEL_WIDTH}fix: {escape(check.fix)}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the ``doctor`` command to the main CLI ``app``."""
    app.command(name="doctor")(doctor)
