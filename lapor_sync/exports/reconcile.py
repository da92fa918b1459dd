"""Reconcile an admin export with the city's records: what one side has and the other lacks, and state differences.

Rows are matched by the public tracking id; the national complaint id is shown beside it, since
integrators mix the two up (CONTRACT §7 G11). A tracking id the records lack but that equals a
case's complaint id is pointed out as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlmodel import Session, col, select

from lapor_sync.domain.routing import CityMapping
from lapor_sync.domain.timezones import WIB
from lapor_sync.exports.columns import STATE_OF_CODE, ExportField, NationalState
from lapor_sync.exports.read import ExportFile, ExportRow
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import Case

SECRET_TITLE = "(rahasia)"
"""Shown instead of a confidential complaint's title (``is_secret``: its content is not public, CONTRACT §4)."""


@dataclass(frozen=True, slots=True)
class RecordedCase:
    """What the reconciliation reads of one case: ids, day (the complaint's creation, WIB), title, agency, state.

    ``title`` is :data:`SECRET_TITLE` for a confidential complaint.

    ``state`` is the complaint's national state as last read: its status code through
    :data:`~lapor_sync.exports.columns.STATE_OF_CODE`, or ``forwarded`` once its disposition left
    the city; ``None`` for a code outside the table.
    """

    tracking_id: str
    complaint_id: int
    day: date
    title: str
    agency_code: str
    state: NationalState | None
    status_name: str


@dataclass(frozen=True, slots=True)
class StateDifference:
    """A row whose status (or complaint id) differs from the case's.

    ``kind`` is ``status`` (the export's word names another state, or a word not in the table) or
    ``complaint_id`` (the export names another national complaint id for this tracking id).
    """

    kind: str
    row: ExportRow
    case: RecordedCase
    detail: str


@dataclass
class Reconciliation:
    """The outcome of comparing one export with the city's records.

    Attributes:
        export: the file as read (its rows and malformed rows).
        period: the WIB days whose cases the export must list (inclusive), ``None`` when unknown
            (no dated row and no ``--from``/``--to``): then no case is reported missing from the export.
        not_in_records: rows whose tracking id the city has no case of, each with a hint or ``""``.
        not_in_export: cases created within ``period`` that no row names.
        differs: matched rows whose state or complaint id differ.
        matched: how many rows matched a case.
    """

    export: ExportFile
    period: tuple[date, date] | None
    not_in_records: list[tuple[ExportRow, str]] = field(default_factory=list)
    not_in_export: list[RecordedCase] = field(default_factory=list)
    differs: list[StateDifference] = field(default_factory=list)
    matched: int = 0

    @property
    def differences(self) -> int:
        """Everything an admin must look at: rows missing on either side, differences, malformed rows."""
        return len(self.not_in_records) + len(self.not_in_export) + len(self.differs) + len(self.export.malformed)

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` shape: ids, WIB days, states by their LAPOR! names; never the reporter."""
        export = self.export
        return {
            "file": export.path.name,
            "kind": export.kind,
            "columns": export.columns,
            "period": {"from": self.period[0], "to": self.period[1]} if self.period else None,
            "rows": len(export.rows) + len(export.malformed),
            "matched": self.matched,
            "differences": self.differences,
            "not_in_records": [{**_row(row), "hint": hint or None} for row, hint in self.not_in_records],
            "not_in_export": [_case(case) for case in self.not_in_export],
            "differs": [
                {"kind": d.kind, "detail": d.detail, "export": _row(d.row), "records": _case(d.case)}
                for d in self.differs
            ],
            "malformed": [{"line": m.line, "tracking_id": m.tracking_id, "reason": m.reason} for m in export.malformed],
        }


def _row(row: ExportRow) -> dict[str, Any]:
    return {
        "line": row.line,
        "tracking_id": row.tracking_id,
        "complaint_id": row.complaint_id,
        "date": row.day,
        "title": row.title,
        "stakeholder": row.stakeholder,
        "status": row.status_text,
    }


def _case(case: RecordedCase) -> dict[str, Any]:
    return {
        "tracking_id": case.tracking_id,
        "complaint_id": case.complaint_id,
        "date": case.day,
        "title": case.title,
        "agency": case.agency_code,
        "state": case.state.value if case.state else case.status_name,
    }


def reconcile(
    db: Database, mapping: CityMapping, export: ExportFile, *, first: date | None = None, last: date | None = None
) -> Reconciliation:
    """Compare ``export`` with the city's cases of ``mapping``'s institution.

    Args:
        db: the city's records.
        mapping: the city's mapping (its institution, and which dispositions keep a complaint in the city).
        export: the export as read.
        first: the period's first WIB day; by default the export's earliest row.
        last: the period's last WIB day; by default the export's latest row.

    Returns:
        The reconciliation; nothing is written.
    """
    start, end = first or export.first_day, last or export.last_day
    period = (start, end) if start and end else None
    with db.session() as session:
        cases = _cases(session, mapping, [r.tracking_id for r in export.rows], period)
    by_tracking = {case.tracking_id: case for case in cases}
    by_complaint = {case.complaint_id: case for case in cases}
    result = Reconciliation(export, period)
    compares_status = ExportField.STATUS.value in export.columns
    for row in export.rows:
        case = by_tracking.get(row.tracking_id)
        if case is None:
            result.not_in_records.append((row, _hint(row, by_complaint)))
            continue
        result.matched += 1
        result.differs.extend(_differences(row, case, compares_status=compares_status))
    if period is not None:
        listed = {r.tracking_id for r in export.rows} | {m.tracking_id for m in export.malformed if m.tracking_id}
        result.not_in_export = [c for c in cases if c.tracking_id not in listed and period[0] <= c.day <= period[1]]
    return result


def _differences(row: ExportRow, case: RecordedCase, *, compares_status: bool) -> list[StateDifference]:
    found = []
    if row.complaint_id is not None and row.complaint_id != case.complaint_id:
        found.append(
            StateDifference(
                "complaint_id", row, case, f"export: complaint id {row.complaint_id}, records: {case.complaint_id}"
            )
        )
    if compares_status and row.status_text and row.state is None:
        found.append(StateDifference("status", row, case, f"status word {row.status_text!r} is not in the table"))
    elif compares_status and row.state is not None and row.state != case.state:
        here = case.state.value if case.state else f"code outside the table ({case.status_name})"
        found.append(StateDifference("status", row, case, f"export: {row.state.value}, records: {here}"))
    return found


def _hint(row: ExportRow, by_complaint: dict[int, RecordedCase]) -> str:
    """Say so when a tracking id the records lack is the complaint id of a case (the two mixed up)."""
    mixed = by_complaint.get(int(row.tracking_id))
    if mixed is None:
        return ""
    return f"this is the complaint id of #{mixed.tracking_id}: the export's tracking id column may hold complaint ids"


def _cases(
    session: Session, mapping: CityMapping, tracking_ids: list[str], period: tuple[date, date] | None
) -> list[RecordedCase]:
    """The institution's cases named by the export or created within the period (WIB days)."""
    institution = mapping.institution.id
    columns = (
        Case.tracking_id,
        Case.complaint_id,
        Case.complaint_created_at,
        Case.title,
        Case.agency_code,
        Case.national_status_code,
        Case.national_status_name,
        Case.disposition_id,
        Case.is_secret,
    )
    found: dict[str, tuple[Any, ...]] = {}
    if period is not None:
        since = datetime.combine(period[0], time(0), WIB)
        before = datetime.combine(period[1] + timedelta(days=1), time(0), WIB)
        query = select(*columns).where(
            Case.institution_id == institution,
            col(Case.complaint_created_at) >= since,
            col(Case.complaint_created_at) < before,
        )
        found.update((row[0], tuple(row)) for row in session.exec(query))
    wanted = [t for t in dict.fromkeys(tracking_ids) if t not in found]
    # A tracking id mixed up with a complaint id (see _hint); complaint ids fit an INTEGER column.
    numbers = [n for n in map(int, wanted) if n < 2**31]
    for chunk in range(0, len(wanted), 500):  # bounded IN lists
        query = select(*columns).where(
            Case.institution_id == institution,
            col(Case.tracking_id).in_(wanted[chunk : chunk + 500])
            | col(Case.complaint_id).in_(numbers[chunk : chunk + 500]),
        )
        found.update((row[0], tuple(row)) for row in session.exec(query))
    return [_recorded(mapping, *values) for values in found.values()]


def _recorded(
    mapping: CityMapping,
    tracking_id: str,
    complaint_id: int,
    created_at: datetime,
    title: str,
    agency_code: str,
    status_code: int,
    status_name: str,
    disposition_id: int | None,
    is_secret: bool,
) -> RecordedCase:
    state = (
        NationalState.FORWARDED if not mapping.is_city_institution(disposition_id) else STATE_OF_CODE.get(status_code)
    )
    shown = SECRET_TITLE if is_secret else title  # a confidential complaint's texts stay in its case (rahasia)
    return RecordedCase(
        tracking_id, complaint_id, created_at.astimezone(WIB).date(), shown, agency_code, state, status_name
    )
