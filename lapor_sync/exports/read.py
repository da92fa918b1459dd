"""Read an admin export (``.xlsx``, ``.csv``, ``.docx``) into rows keyed by tracking id.

A row that cannot be used (no tracking id, an unreadable date, a tracking id seen before) is kept
as a :class:`MalformedRow` with its reason, and the file goes on. The ``User`` column (the
reporter's name) is never read, so it cannot reach a report or a log.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.domain.timezones import WIB
from lapor_sync.exports.columns import ExportField, NationalState, locate_columns, status_of_word

FORMATS = ("xlsx", "csv", "docx")
HEADER_SEARCH_ROWS = 20  # title lines an admin panel may put above the header row
MAX_TRACKING_ID = 32  # the width of the tracking id columns (storage)
_DAY_FORMATS = ("%d-%m-%Y", "%d/%m/%Y", "%Y-%m-%d", "%d.%m.%Y")
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("januari", "jan"),
            ("februari", "feb", "pebruari"),
            ("maret", "mar"),
            ("april", "apr"),
            ("mei",),
            ("juni", "jun"),
            ("juli", "jul"),
            ("agustus", "agu", "agt", "aug"),
            ("september", "sep", "sept"),
            ("oktober", "okt", "oct"),
            ("november", "nov", "nop"),
            ("desember", "des", "dec"),
        ),
        start=1,
    )
    for name in names
}


class ExportFileError(LaporSyncError):
    """The file cannot be read as an export at all (unknown kind, damaged, no header row); names the file."""


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One usable row of an export.

    Attributes:
        line: where it is in the file: the sheet's or the CSV's line number, or the table's row number (1 = header).
        tracking_id: the public tracking id, digits only (a leading ``#`` removed).
        complaint_id: the national complaint id, when the export has that column.
        day: the row's date (Tanggal) as a WIB calendar day; ``None`` without a date column.
        title: Judul, as written.
        stakeholder: the agency or institution named, as written.
        status_text: the status word as written (Status or Keterangan), blank when none.
        state: what ``status_text`` means (:data:`~lapor_sync.exports.columns.STATUS_WORDS`);
            ``None`` for a blank or unknown word.
    """

    line: int
    tracking_id: str
    complaint_id: int | None = None
    day: date | None = None
    title: str = ""
    stakeholder: str = ""
    status_text: str = ""
    state: NationalState | None = None


@dataclass(frozen=True, slots=True)
class MalformedRow:
    """A row that could not be used, and why; its tracking id when it had a readable one."""

    line: int
    reason: str
    tracking_id: str | None = None


@dataclass
class ExportFile:
    """An export as read: its rows, its malformed rows, and the columns found (field → header)."""

    path: Path
    kind: str
    columns: dict[str, str]
    rows: list[ExportRow] = field(default_factory=list)
    malformed: list[MalformedRow] = field(default_factory=list)

    @property
    def first_day(self) -> date | None:
        """The earliest dated row's day, ``None`` when no row is dated."""
        return min((r.day for r in self.rows if r.day), default=None)

    @property
    def last_day(self) -> date | None:
        """The latest dated row's day, ``None`` when no row is dated."""
        return max((r.day for r in self.rows if r.day), default=None)


def read_export(path: Path, overrides: Mapping[str, str] | None = None, kind: str | None = None) -> ExportFile:
    """Read an export file.

    Args:
        path: the file.
        overrides: field name → header name, replacing the defaults
            (:data:`~lapor_sync.exports.columns.DEFAULT_HEADERS`).
        kind: ``xlsx``, ``csv`` or ``docx``; by default the file's suffix.

    Returns:
        The rows, the malformed rows with their reasons, and the columns found.

    Raises:
        ExportFileError: an unknown kind, a file that cannot be opened or parsed, or no header row
            with a tracking id column in its first rows (the message names the headers looked for).
    """
    kind = (kind or path.suffix.lstrip(".")).lower()
    if kind not in FORMATS:
        raise ExportFileError(f"{path.name}: unknown kind of export {kind!r}; expected .xlsx, .csv or .docx")
    try:
        table = list(_TABLE_READERS[kind](path, overrides))
    except ExportFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl, python-docx and zipfile raise many kinds; one line names the file
        raise ExportFileError(f"{path.name}: cannot be read as .{kind} ({type(exc).__name__}: {exc})") from None
    return _parse(path, kind, table, overrides)


def _header(
    path: Path, table: list[tuple[int, Sequence[object]]], overrides: Mapping[str, str] | None
) -> tuple[int, dict[ExportField, int]]:
    """The header row's position in ``table`` and the columns it names; raises ExportFileError without one."""
    for position, (_, cells) in enumerate(table[:HEADER_SEARCH_ROWS]):
        columns = locate_columns(cells, overrides)
        if columns is not None:
            return position, columns
    wanted = (overrides or {}).get(ExportField.TRACKING_ID.value) or "Tracking ID"
    raise ExportFileError(
        f"{path.name}: no header row with a {wanted!r} column in its first {HEADER_SEARCH_ROWS} rows; "
        "name the column with --column tracking_id=HEADER (or the export_columns setting)"
    )


def _parse(
    path: Path, kind: str, table: list[tuple[int, Sequence[object]]], overrides: Mapping[str, str] | None
) -> ExportFile:
    position, columns = _header(path, table, overrides)
    header = table[position][1]
    export = ExportFile(path, kind, {f.value: str(header[i]).strip() for f, i in columns.items()})
    seen: dict[str, int] = {}
    for line, cells in table[position + 1 :]:
        if not any(_text(c) for c in cells):
            continue  # blank lines and trailing empty table rows
        read = _row(line, cells, columns)
        if isinstance(read, ExportRow) and read.tracking_id in seen:
            read = MalformedRow(line, f"tracking id seen before, on line {seen[read.tracking_id]}", read.tracking_id)
        if isinstance(read, ExportRow):
            seen[read.tracking_id] = line
            export.rows.append(read)
        else:
            export.malformed.append(read)
    return export


def _row(line: int, cells: Sequence[object], columns: Mapping[ExportField, int]) -> ExportRow | MalformedRow:
    def cell(which: ExportField) -> object:
        index = columns.get(which)
        return cells[index] if index is not None and index < len(cells) else None

    tracking_id = tracking_id_of(cell(ExportField.TRACKING_ID))
    if tracking_id is None:
        raw = _text(cell(ExportField.TRACKING_ID))
        return MalformedRow(line, f"tracking id {raw!r} is not a number" if raw else "no tracking id")
    day = None
    if ExportField.DATE in columns:
        day = day_of(cell(ExportField.DATE))
        if day is None:
            raw = _text(cell(ExportField.DATE))
            return MalformedRow(line, f"unreadable date {raw!r}" if raw else "no date", tracking_id)
    complaint_id = tracking_id_of(cell(ExportField.COMPLAINT_ID))
    status_text = _text(cell(ExportField.STATUS))
    return ExportRow(
        line=line,
        tracking_id=tracking_id,
        complaint_id=int(complaint_id) if complaint_id else None,
        day=day,
        title=_text(cell(ExportField.TITLE)),
        stakeholder=_text(cell(ExportField.STAKEHOLDER)),
        status_text=status_text,
        state=status_of_word(status_text) if status_text else None,
    )


def _text(value: object) -> str:
    return "" if value is None else " ".join(str(value).split())


def tracking_id_of(value: object) -> str | None:
    """A tracking id as digits: ``#1916449``, ``1916449`` or a spreadsheet's number ``1916449.0``; else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = int(value) if value.is_integer() else -1
    text = str(value) if isinstance(value, int) else _text(value).removeprefix("#").strip()
    return text if text.isdigit() and text.isascii() and len(text) <= MAX_TRACKING_ID else None


def day_of(value: object) -> date | None:
    """A row's date as a WIB day; ``None`` when it is not a date.

    Read: a spreadsheet date or datetime, or text such as ``12-01-2024``, ``12/01/2024 09:30``,
    ``2024-01-12`` or ``12 Januari 2024``. A datetime without an offset is taken as WIB (the panel's time), one with an offset is converted.
    """
    if isinstance(value, datetime):
        return (value.astimezone(WIB) if value.tzinfo else value).date()
    if isinstance(value, date):
        return value
    text = _text(value)
    first = re.split(r"[ T]", text, maxsplit=1)[0]
    for pattern in _DAY_FORMATS:
        try:
            return datetime.strptime(first, pattern).replace(tzinfo=WIB).date()
        except ValueError:
            continue
    words = re.fullmatch(r"(\d{1,2}) ([A-Za-z]+) (\d{4})(?: .*)?", text)
    if words and (month := _MONTHS.get(words[2].lower())):
        try:
            return date(int(words[3]), month, int(words[1]))
        except ValueError:
            return None
    return None


def _xlsx(path: Path, _overrides: Mapping[str, str] | None) -> Iterator[tuple[int, Sequence[object]]]:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = book.active
        if sheet is None:
            raise ExportFileError(f"{path.name}: the workbook has no sheet")
        # Read-only mode trusts the sheet's stated size, which some writers leave at A1: read what is there.
        sheet.reset_dimensions()
        yield from enumerate(sheet.iter_rows(values_only=True), start=1)
    finally:
        book.close()


def _csv(path: Path, _overrides: Mapping[str, str] | None) -> Iterator[tuple[int, Sequence[object]]]:
    """The CSV's rows: UTF-8 (a BOM allowed), else Windows-1252, as Excel on Windows saves "CSV"."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # one odd byte in a title must not stop the file
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel  # one column, or too little to tell: commas
    yield from enumerate(csv.reader(io.StringIO(text, newline=""), dialect), start=1)


def _docx(path: Path, overrides: Mapping[str, str] | None) -> Iterator[tuple[int, Sequence[object]]]:
    """The rows of the document's first table that has a tracking id column (a recap may hold others)."""
    import docx

    for table in docx.Document(str(path)).tables:
        rows = [[c.text for c in row.cells] for row in table.rows]
        if any(locate_columns(r, overrides) is not None for r in rows[:HEADER_SEARCH_ROWS]):
            yield from enumerate(rows, start=1)
            return


_TABLE_READERS = {"xlsx": _xlsx, "csv": _csv, "docx": _docx}
