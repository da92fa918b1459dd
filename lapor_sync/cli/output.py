"""Output for people and for machines: rich tables, or JSON with ``--json``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lapor_sync.domain.timezones import display_wib

console = Console()
errors = Console(stderr=True)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table (for scripts and log collectors).")


def progress_bar(on: Console, *, transient: bool, disable: bool) -> Progress:
    """A progress line for a long command: what it does, a bar, items done of all, time so far.

    Args:
        on: where it is drawn (``errors`` keeps stdout for the result).
        transient: erase it when done.
        disable: draw nothing (with ``--json``: machines read stdout).
    """
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=on,
        transient=transient,
        disable=disable,
    )


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


def print_table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[object]], keep_whole: Sequence[str] = ()
) -> None:
    """Print a rich table with ``columns`` and ``rows`` (values rendered by :func:`cell`).

    Columns named in ``keep_whole`` (ids people copy) are never cut or wrapped on a narrow
    terminal; the other columns wrap to make room. Columns all named ``""`` make a key/value
    table, printed without a header row. A table without rows says so in one line.
    """
    rendered = [[cell(v) for v in row] for row in rows]
    if not rendered:
        console.print(f"{escape(title)}: none.", highlight=False)
        return
    table = Table(title=title, title_justify="left", show_header=any(columns))
    for index, column in enumerate(columns):
        if column in keep_whole:
            width = max((len(row[index]) for row in rendered), default=0)
            table.add_column(column, no_wrap=True, min_width=width)
        else:
            table.add_column(column)
    for row in rendered:
        table.add_row(*row)
    console.print(table)
