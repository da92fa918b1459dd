"""The SLA report per agency: open cases whose follow-up or expected auto-close is overdue or due soon.

What ``lapor-sync sla`` prints and the console's SLA page shows, from one place: identifiers and
deadlines only, no title, content or reporter; instants aware UTC (shown in WIB by each reader).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lapor_sync.domain.sla import Deadline, SlaStatus
from lapor_sync.reports.sla import CaseSla, by_agency, evaluate_open_cases, sla_policy

if TYPE_CHECKING:
    from lapor_sync.app import App

LIMIT_SETTINGS = (
    "sla_followup_working_days",
    "sla_autoclose_working_days",
    "sla_due_soon_working_days",
    "extra_non_working_days",
)


def is_pressing(status: SlaStatus) -> bool:
    """Whether a case in ``status`` is listed by default: overdue or due soon."""
    return status in (SlaStatus.OVERDUE, SlaStatus.DUE_SOON)


def status_counts(rows: list[CaseSla]) -> dict[str, int]:
    """How many of ``rows`` are in each status, every status named."""
    found = Counter(r.result.status for r in rows)
    return {status.value: found[status] for status in SlaStatus}


def deadline_data(deadline: Deadline | None) -> dict[str, Any] | None:
    """One deadline as data (``due_at``, ``status``, ``met_at``, ``met_late``; instants aware UTC), or ``None``."""
    if deadline is None:
        return None
    return {
        "due_at": deadline.due_at,
        "status": deadline.status.value,
        "met_at": deadline.met_at,
        "met_late": deadline.met_late,
    }


def case_sla_data(row: CaseSla) -> dict[str, Any]:
    """One case's deadlines as data: identifiers and deadlines only (no title, content or reporter)."""
    result = row.result
    return {
        "case_id": row.case_id,
        "complaint_id": row.complaint_id,
        "tracking_id": row.tracking_id,
        "state": row.state,
        "status": result.status.value,
        "pressing": result.pressing.kind.value,
        "dispositioned_at": row.dispositioned_at,
        "followup": deadline_data(result.followup),
        "auto_close": deadline_data(result.auto_close),
    }


@dataclass(frozen=True)
class AgencySla:
    """One agency's open cases.

    Attributes:
        agency_code: the agency.
        agency_name: its name in the mapping (``None`` for an agency the file no longer has).
        counts: its open cases per status (:func:`status_counts`).
        open_cases: how many open cases it has.
        shown: the cases listed: overdue or due soon, or every open case when all were asked for;
            most urgent first, then earliest due.
    """

    agency_code: str
    agency_name: str | None
    counts: dict[str, int]
    open_cases: int
    shown: list[CaseSla]


@dataclass(frozen=True)
class SlaReport:
    """The SLA of every open case at one instant, per agency.

    Attributes:
        at: the instant evaluated (aware UTC).
        limits: the ``sla_*`` and ``extra_non_working_days`` settings in force.
        open_cases: the open cases evaluated.
        agencies: the agencies with at least one case shown, by code.
    """

    at: datetime
    limits: dict[str, Any]
    open_cases: list[CaseSla]
    agencies: list[AgencySla]

    def as_dict(self) -> dict[str, Any]:
        """``lapor-sync sla --json``: ``at``, ``limits``, ``open_cases`` (a count), ``counts`` and ``agencies``."""
        return {
            "at": self.at,
            "limits": self.limits,
            "open_cases": len(self.open_cases),
            "counts": status_counts(self.open_cases),
            "agencies": [
                {
                    "agency_code": a.agency_code,
                    "agency_name": a.agency_name,
                    "counts": a.counts,
                    "cases": [case_sla_data(r) for r in a.shown],
                }
                for a in self.agencies
            ],
        }


def sla_report(app: App, at: datetime, *, agency_code: str | None = None, include_all: bool = False) -> SlaReport:
    """Evaluate every open case's deadlines at ``at``, in working days, and group them per agency.

    Args:
        app: the application (settings for the SLA policy, mapping for agency names, database).
        at: the instant to evaluate at (aware UTC).
        agency_code: only this agency (a code of the mapping, as stored: upper case).
        include_all: list every open case, also on track and met, not only overdue or due soon.
    """
    with app.existing_db().session() as session:
        rows = evaluate_open_cases(session, app.institution_id, sla_policy(app.settings), at, agency_code=agency_code)
    agencies = []
    for code, group in by_agency(rows).items():
        shown = [r for r in group if include_all or is_pressing(r.result.status)]
        if shown:
            agency = app.mapping.agency(code)
            agencies.append(AgencySla(code, agency.name if agency else None, status_counts(group), len(group), shown))
    limits = {name: getattr(app.settings, name) for name in LIMIT_SETTINGS}
    return SlaReport(at, limits, rows, agencies)
