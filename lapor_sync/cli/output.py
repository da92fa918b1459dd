"""Output for people and for machines: rich tables, or JSON with ``--json``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lapor_sync.timezones import display_wib

console = Console()
errors = Console(stderr=True)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table (for scripts and log collectors).")


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()  # aware UTC: machines get UTC, people get WIB
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout (datetimes as ISO 8601 UTC)."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_default))


def cell(value: object) -> str:
    """Render one value for a table: datetimes in WIB, ``None`` as empty."""
    if isinstance(value, datetime):
        return display_wib(value)
    return "" if value is None else escape(str(value))  # data is never rich markup


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Print a rich table with ``columns`` and ``rows`` (values rendered by :func:`cell`)."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(cell(v) for v in row))
    console.print(table)
