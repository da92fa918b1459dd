"""``lapor-sync simulator-export``: write the simulator's world as a LAPOR! admin panel export (.xlsx, .csv, .docx)."""

from __future__ import annotations

import calendar
import re
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

PERIOD_HELP = (
    "Complaints created in these WIB days: 'YYYY-MM..YYYY-MM' (whole months), 'YYYY-MM-DD..YYYY-MM-DD', "
    "or one month 'YYYY-MM'."
)


def register(app: typer.Typer) -> None:
    """Add ``simulator-export`` to ``app``."""
    app.command("simulator-export")(simulator_export)


def parse_period(text: str) -> tuple[date, date]:
    """``2024-01..2024-10`` → (1 Jan, 31 Oct 2024); days as written; one month alone is that month.

    Raises:
        typer.BadParameter: another form, or a period that ends before it starts.
    """
    first_text, _, last_text = text.partition("..")
    try:
        first, last = _bound(first_text, end=False), _bound(last_text or first_text, end=True)
    except ValueError:
        raise typer.BadParameter(f"expected YYYY-MM..YYYY-MM or YYYY-MM-DD..YYYY-MM-DD, got {text!r}") from None
    if last < first:
        raise typer.BadParameter(f"the period ends before it starts: {text!r}")
    return first, last


def _bound(text: str, *, end: bool) -> date:
    text = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}", text):
        year, month = map(int, text.split("-"))
        return date(year, month, calendar.monthrange(year, month)[1] if end else 1)
    return date.fromisoformat(text)


def simulator_export(
    out: Annotated[Path, typer.Argument(dir_okay=False, help="The file to write (replaced if it exists).")],
    kind: Annotated[
        str | None, typer.Option("--format", help="xlsx, csv or docx (the recap); default: OUT's suffix.")
    ] = None,
    period: Annotated[str, typer.Option(help=PERIOD_HELP)] = "2024-01..2024-10",
    state: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="A saved simulator world (--save-state; the demo's is .lapor-sync-demo/simulator-state.json). "
            "Without it: the generated data set at the end of its period.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generated data set (ignored with --state).")] = 2024,
    complaints: Annotated[
        int, typer.Option(min=1, help="Size of the generated data set (ignored with --state).")
    ] = 1983,
) -> None:
    """Write the simulator's complaints of a period as LAPOR!'s admin panel exports them.

    `.xlsx`/`.csv`: the Excel export (No, Tracking ID, ID Laporan, Tanggal, Judul, Stakeholder,
    Status); `.docx`: the monthly recap (No, Tanggal, Tracking ID, User, Judul, Stakeholder,
    Tanggapan, Keterangan). Every complaint dispositioned to the city and created in the period
    is listed, forwarded ones as Dialihkan; the reporters are the simulator's fictitious ones.
    `lapor-sync reconcile-export` reads it back.

    Example: `lapor-sync simulator-export --state .lapor-sync-demo/simulator-state.json rekap.docx`
    """
    from lapor_sync.exports.write import write_export
    from lapor_sync.simulator import END_OF_DATA, Simulator
    from lapor_sync.simulator.export import export_records

    first, last = parse_period(period)
    if state is not None:
        simulator = Simulator.load(state)
    else:
        from lapor_sync.domain.clock import ManualClock

        simulator = Simulator.generate(seed=seed, complaints=complaints, clock=ManualClock(END_OF_DATA))
    records = export_records(simulator.world, first, last)
    write_export(out, records, kind, title=f"Rekap laporan SP4N-LAPOR! {first:%d-%m-%Y} s.d. {last:%d-%m-%Y}")
    typer.echo(f"{len(records)} complaints created {first} to {last} written to {out}.")
