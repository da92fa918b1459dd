"""``lapor-sync reconcile-export``: compare a LAPOR! admin panel export with the city's records."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from lapor_sync.cli.context import operator_name, state
from lapor_sync.cli.output import JSON_OPTION, console, errors, print_json, print_table, progress_bar
from lapor_sync.cli.periods import parse_day

if TYPE_CHECKING:
    from lapor_sync.app import App
    from lapor_sync.exports.pull_missing import PullMissing
    from lapor_sync.exports.read import ExportFile
    from lapor_sync.exports.reconcile import Reconciliation

EXIT_DIFFERENCES = 1  # the export and the records differ (or rows could not be read); 2 is an error, as `status`


def register(app: typer.Typer) -> None:
    """Add ``reconcile-export`` to ``app``."""
    app.command("reconcile-export")(reconcile_export)


def _columns(pairs: list[str] | None) -> dict[str, str]:
    """``--column FIELD=HEADER`` options as field → header."""
    from lapor_sync.exports.columns import check_overrides

    chosen: dict[str, str] = {}
    for pair in pairs or ():
        name, sep, header = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"expected FIELD=HEADER, got {pair!r}", param_hint="--column")
        chosen[name.strip()] = header.strip()
    try:
        return dict(check_overrides(chosen))
    except ValueError as refused:
        raise typer.BadParameter(str(refused), param_hint="--column") from None


def reconcile_export(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="The export: .xlsx or .csv (Excel export), .docx (recap)."),
    ],
    kind: Annotated[
        str | None, typer.Option("--format", help="xlsx, csv or docx, when the file's suffix does not say.")
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            help="FIELD=HEADER: the header of a field in this file (repeatable). Fields: tracking_id, "
            "complaint_id, date, title, stakeholder, status. Overrides the export_columns setting.",
        ),
    ] = None,
    first: Annotated[
        str | None, typer.Option("--from", help="First WIB day the export covers (default: its earliest row).")
    ] = None,
    last: Annotated[
        str | None, typer.Option("--to", help="Last WIB day the export covers (default: its latest row).")
    ] = None,
    pull_missing: Annotated[
        bool,
        typer.Option(
            "--pull-missing",
            help="Find the complaints the export lists and the records lack in LAPOR!'s inbox, store "
            "them (as `resync` does), then compare again.",
        ),
    ] = False,
    as_json: bool = JSON_OPTION,
) -> None:
    """Compare a LAPOR! admin panel export with the city's records, matched by tracking id.

    Reads the Excel export (.xlsx, or a .csv saved from it) or the monthly Word recap (.docx, its
    table No, Tanggal, Tracking ID, User, Judul, Stakeholder, Tanggapan, Keterangan). Headers looked
    for, first match wins: tracking_id "Tracking ID"; complaint_id "ID Laporan"; date "Tanggal";
    title "Judul"; stakeholder "Stakeholder"; status "Status", else "Keterangan" (README lists
    the alternatives); change them with --column or the `export_columns` setting. The User column
    (the reporter) is never read.

    Reports: rows the records lack; cases created within the export's period (its first to last
    day, or --from/--to) that it does not list; rows whose status names another national state than
    the case's last read (Selesai, Dalam Proses, Diarsipkan, Dialihkan, ...: README, "Reconciling
    with LAPOR!'s exports"), or another complaint id; and rows that cannot be read (no tracking id,
    an unreadable date, a repeated tracking id), each with its reason. Exits 0 when there is no
    difference, 1 when there are differences or unreadable rows, 2 on an error (a file that cannot
    be read, a setting).

    --pull-missing walks LAPOR!'s inbox from the earliest day of the rows the records lack (there
    is no lookup by tracking id), stops once all are met, reads each by detail and stores it through
    the normal pull; those not met have left the inbox (forwarded away) and are listed.

    Example: `lapor-sync reconcile-export rekap-oktober-2024.docx --json`
    """
    from lapor_sync.exports.read import read_export

    app = state(ctx).app()
    overrides = {**app.settings.export_columns, **_columns(column)}
    period = (parse_day(first, "--from") if first else None, parse_day(last, "--to") if last else None)
    if period[0] and period[1] and period[1] < period[0]:
        raise typer.BadParameter(f"--to {period[1]} is before --from {period[0]}", param_hint="--to")
    export = read_export(file, overrides, kind)
    pulled = None
    if pull_missing:
        pulled = _pull_missing(app, export, period, quiet=as_json)
    result = _compare(app, export, period, writable=pull_missing)
    if as_json:
        print_json({**result.as_dict(), "pull_missing": _pulled_dict(pulled) if pulled else None})
    else:
        _print(result, pulled)
    if result.differences:
        raise typer.Exit(EXIT_DIFFERENCES)


def _compare(
    app: App, export: ExportFile, period: tuple[date | None, date | None], *, writable: bool
) -> Reconciliation:
    from lapor_sync.exports.reconcile import reconcile

    db = app.writable_db() if writable else app.existing_db()
    return reconcile(db, app.mapping, export, first=period[0], last=period[1])


def _pull_missing(
    app: App, export: ExportFile, period: tuple[date | None, date | None], *, quiet: bool
) -> PullMissing | None:
    from lapor_sync.config.settings import require_national
    from lapor_sync.exports.pull_missing import pull_missing

    missing = _compare(app, export, period, writable=True).not_in_records
    if not missing:
        return None
    require_national(app.settings)
    with progress_bar(errors, transient=True, disable=quiet) as progress:
        task = progress.add_task("Reading the missing complaints from LAPOR!", total=None)
        with app.platform() as platform:
            return pull_missing(
                app.sync_service(platform),
                {row.tracking_id: row.day for row, _ in missing},
                fallback_since=app.settings.initial_since,
                requested_by=operator_name(),
                lease_wait_seconds=app.settings.lease_wait_seconds,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )


def _pulled_dict(pulled: PullMissing) -> dict[str, object]:
    run = pulled.resync.run if pulled.resync else None
    return {
        "since": pulled.since,
        "inbox_pages": pulled.search.pages,
        "read_by_detail": len(pulled.resync.changes) if pulled.resync else 0,
        "run_id": run.id if run else None,
        "outcome": run.outcome if run else None,
        "error": run.error if run else None,
        "stored": [
            {
                "tracking_id": c.tracking_id,
                "complaint_id": c.complaint_id,
                "outcome": c.outcome.value,
                "agency": c.new_agency,
            }
            for c in pulled.stored
        ],
        "others_stored": [{"tracking_id": c.tracking_id, "complaint_id": c.complaint_id} for c in pulled.others],
        "refused": [
            {
                "tracking_id": c.tracking_id,
                "complaint_id": c.complaint_id,
                "outcome": c.outcome.value,
                "details": c.details,
            }
            for c in pulled.refused
        ],
        "not_met": pulled.not_met,
    }


def _print(result: Reconciliation, pulled: PullMissing | None) -> None:
    export = result.export
    if pulled is not None:
        _print_pulled(pulled)
    period = (
        f"{result.period[0]} to {result.period[1]} (WIB)" if result.period else "unknown (no dated row; --from/--to)"
    )
    print_table(
        f"Reconciliation of {export.path.name} ({export.kind}) with the city's records",
        ["", ""],
        [
            ["columns", ", ".join(f"{name}: {header}" for name, header in export.columns.items())],
            ["period", period],
            ["rows", len(export.rows) + len(export.malformed)],
            ["matched", result.matched],
            ["in the export, not in the records", len(result.not_in_records)],
            ["in the records, not in the export", len(result.not_in_export)],
            ["state differences", len(result.differs)],
            ["unreadable rows", len(export.malformed)],
        ],
    )
    print_table(
        "In the export, not in the records",
        ["tracking id", "line", "date", "title", "status", "note"],
        [[f"#{r.tracking_id}", r.line, r.day, r.title, r.status_text, hint] for r, hint in result.not_in_records],
        keep_whole=("tracking id",),
    )
    print_table(
        "In the records, not in the export",
        ["tracking id", "complaint id", "date", "title", "agency", "state"],
        [
            [
                f"#{c.tracking_id}",
                c.complaint_id,
                c.day,
                c.title,
                c.agency_code,
                c.state.value if c.state else c.status_name,
            ]
            for c in result.not_in_export
        ],
        keep_whole=("tracking id", "complaint id"),
    )
    print_table(
        "State differences",
        ["tracking id", "complaint id", "line", "agency", "difference"],
        [
            [f"#{d.row.tracking_id}", d.case.complaint_id, d.row.line, d.case.agency_code, d.detail]
            for d in result.differs
        ],
        keep_whole=("tracking id", "complaint id"),
    )
    print_table(
        "Unreadable rows",
        ["line", "tracking id", "reason"],
        [[m.line, f"#{m.tracking_id}" if m.tracking_id else "", m.reason] for m in export.malformed],
    )
    verdict = "no differences" if not result.differences else f"{result.differences} to look at"
    console.print(f"{result.matched} row{'' if result.matched == 1 else 's'} matched; {verdict}.", highlight=False)


def _print_pulled(pulled: PullMissing) -> None:
    run = pulled.resync.run if pulled.resync else None
    console.print(
        f"--pull-missing: walked the inbox from {pulled.since.date()} ({pulled.search.pages} pages"
        f"{', stopped once all were met' if pulled.search.stopped_early else ''}); "
        f"{len(pulled.stored)} stored, {len(pulled.refused)} refused, {len(pulled.not_met)} not met"
        + (f", {len(pulled.others)} other missing complaints stored" if pulled.others else "")
        + (f" (resync run #{run.id})" if run else "")
        + ".",
        highlight=False,
    )
    if run is not None and run.error:
        console.print(f"[red]error:[/red] {escape(run.error)}", highlight=False)
    print_table(
        "Not met in the inbox (forwarded away, or not the city's)",
        ["tracking id"],
        [[f"#{t}"] for t in pulled.not_met],
        keep_whole=("tracking id",),
    )
    print_table(
        "Met but not stored",
        ["tracking id", "complaint id", "outcome", "details"],
        [
            [f"#{c.tracking_id}" if c.tracking_id else "", c.complaint_id, c.outcome.value, c.details]
            for c in pulled.refused
        ],
    )
