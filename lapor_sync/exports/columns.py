"""The columns of an admin export and the status words in it: what each means, and the defaults.

The monthly Word recap's table has the columns No, Tanggal, Tracking ID, User, Judul, Stakeholder,
Tanggapan, Keterangan (CONTRACT §7 G11, seen). The Excel export's headers are not public; the
defaults below accept the recap's names and a few usual alternatives. A deployment whose export
names a column otherwise sets it (setting ``export_columns``, or ``--column FIELD=HEADER``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum


class ExportField(StrEnum):
    """A column reconcile reads. ``User`` (the reporter's name) is personal data: never read."""

    TRACKING_ID = "tracking_id"
    COMPLAINT_ID = "complaint_id"
    DATE = "date"
    TITLE = "title"
    STAKEHOLDER = "stakeholder"
    STATUS = "status"


DEFAULT_HEADERS: dict[ExportField, tuple[str, ...]] = {
    ExportField.TRACKING_ID: ("Tracking ID", "No. Tracking", "Nomor Tracking", "ID Tracking"),
    ExportField.COMPLAINT_ID: ("ID Laporan", "Complaint ID", "lapor_complaint_id"),
    ExportField.DATE: ("Tanggal", "Tanggal Laporan", "Tanggal Dibuat"),
    ExportField.TITLE: ("Judul", "Judul Laporan"),
    ExportField.STAKEHOLDER: ("Stakeholder", "Instansi", "Disposisi"),
    ExportField.STATUS: ("Status", "Keterangan", "Status Laporan"),
}
"""Header names tried for each field, first match wins (case and surrounding blanks ignored).

``status`` tries ``Status`` before ``Keterangan``: the Excel export's status column, else the Word
recap's Keterangan. Only ``tracking_id`` is required; without ``date`` no row is dated and the
records' side of the comparison needs ``--from``/``--to``.
"""


class NationalState(StrEnum):
    """Where a complaint stands on SP4N-LAPOR! as both sides can say it (CONTRACT §3), plus forwarded.

    ``forwarded``: dispositioned away from the city (bukan wewenang); its status code says nothing
    the recap shows.
    """

    UNVERIFIED = "Belum Terverifikasi"
    VERIFIED = "Terverifikasi"
    IN_PROCESS = "Dalam Proses"
    COMPLETED = "Selesai"
    ARCHIVED = "Diarsipkan"
    REJECTED = "Ditolak"
    FORWARDED = "Dialihkan"


STATE_OF_CODE: dict[int, NationalState] = {
    0: NationalState.UNVERIFIED,
    1: NationalState.VERIFIED,
    2: NationalState.IN_PROCESS,
    3: NationalState.COMPLETED,
    4: NationalState.ARCHIVED,
    5: NationalState.REJECTED,
}
"""National status code → state (CONTRACT §3: the names are seen, the codes assumed)."""

STATUS_WORDS: dict[str, NationalState] = {
    "belum terverifikasi": NationalState.UNVERIFIED,
    "belum diverifikasi": NationalState.UNVERIFIED,
    "terverifikasi": NationalState.VERIFIED,
    "diverifikasi": NationalState.VERIFIED,
    "dalam proses": NationalState.IN_PROCESS,
    "proses": NationalState.IN_PROCESS,
    "diproses": NationalState.IN_PROCESS,
    "ditindaklanjuti": NationalState.IN_PROCESS,
    "selesai": NationalState.COMPLETED,
    "tuntas": NationalState.COMPLETED,
    "diarsipkan": NationalState.ARCHIVED,
    "arsip": NationalState.ARCHIVED,
    "dikembalikan": NationalState.ARCHIVED,
    "ditolak": NationalState.REJECTED,
    "dialihkan": NationalState.FORWARDED,
    "diteruskan": NationalState.FORWARDED,
    "bukan wewenang": NationalState.FORWARDED,
}
"""The status words of an export (lower case) → state. The six names are LAPOR!'s (CONTRACT §3); the
others are the usual words of admin recaps for the same states (assumed: the recap's vocabulary is
not public). A word not listed is reported as such, never guessed."""


def status_of_word(text: str) -> NationalState | None:
    """Return the state an export's status word names, ``None`` for a word not in :data:`STATUS_WORDS`."""
    return STATUS_WORDS.get(" ".join(text.split()).lower())


def _key(header: object) -> str:
    return " ".join(str(header or "").split()).lower()


def locate_columns(
    headers: Sequence[object], overrides: Mapping[str, str] | None = None
) -> dict[ExportField, int] | None:
    """Find each field's column in a header row.

    Args:
        headers: the header row's cells, in order.
        overrides: field name → the header to use instead of :data:`DEFAULT_HEADERS` for it.

    Returns:
        Field → 0-based column index, for the fields found; ``None`` when the row has no tracking id
        column (it is not the header row).
    """
    keys = [_key(h) for h in headers]
    found: dict[ExportField, int] = {}
    for export_field, defaults in DEFAULT_HEADERS.items():
        names = (overrides[export_field.value],) if overrides and export_field.value in overrides else defaults
        index = next((keys.index(_key(name)) for name in names if _key(name) in keys), None)
        if index is not None:
            found[export_field] = index
    return found if ExportField.TRACKING_ID in found else None


REPORTER_HEADERS = frozenset({"user", "pelapor", "nama pelapor"})
"""Headers of the reporter's name (the recap's User column, CONTRACT §7 G11): personal data, no field reads them."""


def check_overrides(overrides: Mapping[str, str]) -> Mapping[str, str]:
    """Return ``overrides`` when each key is an :class:`ExportField` and each header non-blank, not the reporter's.

    Raises:
        ValueError: naming the wrong key and the known ones, or the field given a reporter's header
            (:data:`REPORTER_HEADERS`: it would print reporters' names).
    """
    known = {f.value for f in ExportField}
    for name, header in overrides.items():
        if name not in known:
            raise ValueError(f"unknown export column {name!r}; known: {', '.join(sorted(known))}")
        if not str(header).strip():
            raise ValueError(f"export column {name!r}: the header name is blank")
        if _key(header) in REPORTER_HEADERS:
            raise ValueError(
                f"export column {name!r}: {header.strip()!r} holds reporters; the reporter's name is never read"
            )
    return overrides
