"""Write an admin export in the panel's shapes: what the simulator exports and the tests build.

``.docx`` is the monthly recap (a title, then one table with the columns of CONTRACT §7 G11);
``.xlsx`` and ``.csv`` are the Excel export, one header row then one row per complaint, with the
default headers of :mod:`lapor_sync.exports.columns`.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from lapor_sync.exports.read import FORMATS, ExportFileError

RECAP_COLUMNS = ("No", "Tanggal", "Tracking ID", "User", "Judul", "Stakeholder", "Tanggapan", "Keterangan")
"""The Word recap's table (CONTRACT §7 G11, seen)."""

SHEET_COLUMNS = ("No", "Tracking ID", "ID Laporan", "Tanggal", "Judul", "Stakeholder", "Status")
"""The Excel and CSV export's header row as written here (the real one's is not public)."""

DAY_FORMAT = "%d-%m-%Y"  # the panel's date form (CONTRACT §2)


@dataclass(frozen=True, slots=True)
class ExportRecord:
    """One complaint as an export lists it.

    ``user`` is the reporter's name as the recap shows it (``Anonim`` for an anonymous complaint);
    only the ``.docx`` recap has the column. ``response`` is the recap's Tanggapan.
    """

    tracking_id: str
    complaint_id: int | None
    day: date
    title: str
    stakeholder: str
    status: str
    user: str = "Anonim"
    response: str = ""


def write_export(path: Path, records: Sequence[ExportRecord], kind: str | None = None, *, title: str = "") -> None:
    """Write ``records`` to ``path`` as ``kind`` (``xlsx``, ``csv``, ``docx``; by default the suffix).

    Args:
        path: the file, replaced if it exists.
        records: the rows, in the order given.
        kind: the format.
        title: the recap's heading (``.docx``) or the sheet's title line above the header (``.xlsx``);
            none when blank.

    Raises:
        ExportFileError: an unknown kind.
    """
    kind = (kind or path.suffix.lstrip(".")).lower()
    if kind not in FORMATS:
        raise ExportFileError(f"{path.name}: unknown kind of export {kind!r}; expected .xlsx, .csv or .docx")
    {"xlsx": _xlsx, "csv": _csv, "docx": _docx}[kind](path, records, title)


def _sheet_row(number: int, r: ExportRecord, day: object) -> list[object]:
    return [number, r.tracking_id, r.complaint_id, day, r.title, r.stakeholder, r.status]


def _xlsx(path: Path, records: Sequence[ExportRecord], title: str) -> None:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Laporan")
    if title:
        sheet.append([title])
    sheet.append(list(SHEET_COLUMNS))
    for number, record in enumerate(records, start=1):
        sheet.append(_sheet_row(number, record, record.day))  # a date cell, as the panel's sheet has
    book.save(path)


def _csv(path: Path, records: Sequence[ExportRecord], _title: str) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SHEET_COLUMNS)
        for number, record in enumerate(records, start=1):
            writer.writerow(_sheet_row(number, record, record.day.strftime(DAY_FORMAT)))


def _docx(path: Path, records: Sequence[ExportRecord], title: str) -> None:
    import docx

    document = docx.Document()
    if title:
        document.add_heading(title, level=1)
    table = document.add_table(rows=1, cols=len(RECAP_COLUMNS))
    for cell, name in zip(table.rows[0].cells, RECAP_COLUMNS, strict=True):
        cell.text = name
    for number, r in enumerate(records, start=1):
        values = (str(number), r.day.strftime(DAY_FORMAT), r.tracking_id, r.user, r.title, r.stakeholder, r.response)
        for cell, value in zip(table.add_row().cells, (*values, r.status), strict=True):
            cell.text = value
    document.save(str(path))
