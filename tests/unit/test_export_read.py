"""Reading LAPOR! admin exports: the three formats, header search, column names, dates, malformed rows."""

from __future__ import annotations

import csv
import re
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest

from lapor_sync.exports.columns import NationalState, check_overrides, status_of_word
from lapor_sync.exports.read import ExportFileError, day_of, read_export, tracking_id_of
from lapor_sync.exports.write import RECAP_COLUMNS, ExportRecord, write_export

RECORDS = [
    ExportRecord("1916449", 3100001, date(2024, 1, 2), "Jalan berlubang", "Dinas PUPR", "Selesai", "Budi Contoh"),
    ExportRecord("1916450", 3100002, date(2024, 1, 3), "Lampu mati", "Dinas Perhubungan", "Dalam Proses"),
]


@pytest.mark.parametrize("kind", ["xlsx", "csv", "docx"])
def test_each_format_reads_back_what_was_written(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"export.{kind}"
    write_export(path, RECORDS, title="Rekap Januari 2024")

    export = read_export(path)

    assert export.malformed == []
    assert [(r.tracking_id, r.day, r.title, r.stakeholder, r.state) for r in export.rows] == [
        ("1916449", date(2024, 1, 2), "Jalan berlubang", "Dinas PUPR", NationalState.COMPLETED),
        ("1916450", date(2024, 1, 3), "Lampu mati", "Dinas Perhubungan", NationalState.IN_PROCESS),
    ]
    assert (export.first_day, export.last_day) == (date(2024, 1, 2), date(2024, 1, 3))
    # The recap has no complaint id column; its status is Keterangan. Its User column is never read.
    assert export.columns["status"] == ("Keterangan" if kind == "docx" else "Status")
    assert ("complaint_id" in export.columns) is (kind != "docx")
    assert "Budi Contoh" not in repr(export)


def test_the_recap_table_has_the_columns_the_panel_uses(tmp_path: Path) -> None:
    import docx

    path = tmp_path / "rekap.docx"
    write_export(path, RECORDS)

    header = [c.text for c in docx.Document(str(path)).tables[0].rows[0].cells]
    assert tuple(header) == RECAP_COLUMNS == (
        "No", "Tanggal", "Tracking ID", "User", "Judul", "Stakeholder", "Tanggapan", "Keterangan",
    )  # fmt: skip


def _csv(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return path


def test_malformed_rows_are_listed_with_their_reason_and_the_file_goes_on(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "export.csv",
        [
            ["Laporan SP4N-LAPOR! Kota Palangka Raya"],  # a title line above the header
            [],
            ["No", "Tracking ID", "Tanggal", "Judul", "Status"],
            ["1", "#1916449", "02-01-2024", "Jalan", "Selesai"],
            ["2", "", "02-01-2024", "Tanpa nomor", "Selesai"],
            ["3", "19164X", "02-01-2024", "Nomor rusak", "Selesai"],
            ["4", "1916451", "31-02-2024", "Tanggal rusak", "Selesai"],
            ["5", "1916452", "", "Tanpa tanggal", "Selesai"],
            ["6", "1916449", "03-01-2024", "Lagi", "Selesai"],
            ["", "", "", "", ""],
            ["7", "1916453", "5 Januari 2024", "Tanggal kata", "Ditindaklanjuti"],
        ],
    )

    export = read_export(path)

    assert [(r.line, r.tracking_id, r.day) for r in export.rows] == [
        (4, "1916449", date(2024, 1, 2)),
        (11, "1916453", date(2024, 1, 5)),
    ]
    assert [(m.line, m.tracking_id, m.reason) for m in export.malformed] == [
        (5, None, "no tracking id"),
        (6, None, "tracking id '19164X' is not a number"),
        (7, "1916451", "unreadable date '31-02-2024'"),
        (8, "1916452", "no date"),
        (9, "1916449", "tracking id seen before, on line 4"),
    ]


def test_column_names_can_be_changed(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "export.csv",
        [["Nomor Tiket", "Tgl", "Keadaan"], ["1916449", "2024-01-02", "Diarsipkan"]],
        delimiter=";",
    )
    with pytest.raises(ExportFileError, match="no header row with a 'Tracking ID' column"):
        read_export(path)

    export = read_export(path, {"tracking_id": "nomor tiket", "date": "Tgl", "status": "Keadaan"})

    assert [(r.tracking_id, r.day, r.state) for r in export.rows] == [
        ("1916449", date(2024, 1, 2), NationalState.ARCHIVED)
    ]


def test_a_file_that_is_not_an_export_is_one_error_naming_it(tmp_path: Path) -> None:
    broken = tmp_path / "rekap.docx"
    broken.write_bytes(b"not a zip file")
    with pytest.raises(ExportFileError, match=r"rekap\.docx: cannot be read as \.docx"):
        read_export(broken)
    with pytest.raises(ExportFileError, match="unknown kind of export 'pdf'"):
        read_export(tmp_path / "rekap.pdf")


def test_a_sheet_whose_stated_size_is_wrong_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    write_export(path, RECORDS)
    spoilt = tmp_path / "spoilt.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(spoilt, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                data = re.sub(rb"<dimension [^>]*>", b"", data)
                data = data.replace(b"</sheetPr>", b'</sheetPr><dimension ref="A1"/>', 1)  # as some writers state it
            target.writestr(item, data)

    export = read_export(spoilt)

    assert [r.tracking_id for r in export.rows] == [r.tracking_id for r in RECORDS] and export.malformed == []


@pytest.mark.parametrize("header", ["User", " user ", "Nama Pelapor"])
def test_no_field_can_be_read_from_the_reporters_column(header: str) -> None:
    with pytest.raises(ValueError, match="the reporter's name is never read"):
        check_overrides({"title": header})


def test_a_csv_saved_by_excel_on_windows_is_read(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    rows = "No;Tracking ID;Tanggal;Judul;Status\n1;1916449;02-01-2024;Kafe berisik \u2013 malam;Selesai\n"
    path.write_bytes(rows.encode("cp1252"))  # Excel's "CSV" on Windows: the ANSI code page, not UTF-8

    export = read_export(path)

    assert [(r.tracking_id, r.title) for r in export.rows] == [("1916449", "Kafe berisik \u2013 malam")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1916449, "1916449"),
        (1916449.0, "1916449"),
        ("#1916449", "1916449"),
        (" 1916449 ", "1916449"),
        (1916449.5, None),
        ("١٢٣", None),  # digits, but not ASCII ones
        (True, None),
        ("1" * 33, None),
        (10**33, None),  # a spreadsheet's number as wide as no tracking id is
        (1e40, None),
    ],
)
def test_tracking_ids(value: object, expected: str | None) -> None:
    assert tracking_id_of(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2024, 1, 2, 23, 30), date(2024, 1, 2)),  # noqa: DTZ001 - naive: the panel's WIB
        (datetime.fromisoformat("2024-01-02T17:30:00+00:00"), date(2024, 1, 3)),  # 00:30 WIB
        ("02/01/2024 09:30", date(2024, 1, 2)),
        ("2024-01-02T09:30:00", date(2024, 1, 2)),
        ("2 Agustus 2024", date(2024, 8, 2)),
        ("30 Februari 2024", None),
        ("kemarin", None),
    ],
)
def test_dates(value: object, expected: date | None) -> None:
    assert day_of(value) == expected


def test_status_words() -> None:
    assert status_of_word("  SELESAI ") is NationalState.COMPLETED
    assert status_of_word("Bukan   Wewenang") is NationalState.FORWARDED
    assert status_of_word("Menunggu") is None
