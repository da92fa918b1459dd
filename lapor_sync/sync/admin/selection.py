"""Which complaints a resync re-reads: chosen by id, by the city's records, or from the set-aside records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.domain.routing import CityMapping
from lapor_sync.domain.status import CaseState
from lapor_sync.domain.timezones import display_wib
from lapor_sync.storage.models import Binding, Case, SetAsideRecord


class SelectionError(LaporSyncError):
    """The resync selection is empty or contradictory; the message says what to give instead."""


@dataclass(frozen=True)
class Selection:
    """What to resync. Named complaints are added; the case filters narrow together (all must match).

    Attributes:
        complaint_ids: national complaint ids, known to the city or not.
        tracking_ids: tracking ids of complaints the city has a record of (LAPOR! is asked by id only).
        dispositioned_from: cases dispositioned at or after this instant (aware).
        dispositioned_before: cases dispositioned before this instant (aware).
        agency_code: cases of this agency.
        state: cases in this state.
        national_status_code: cases whose last national status has this code (CONTRACT §3).
        set_aside: also every unresolved set-aside record.
        everything: every case and every unresolved set-aside record (``--all``).
    """

    complaint_ids: tuple[int, ...] = ()
    tracking_ids: tuple[str, ...] = ()
    dispositioned_from: datetime | None = None
    dispositioned_before: datetime | None = None
    agency_code: str | None = None
    state: CaseState | None = None
    national_status_code: int | None = None
    set_aside: bool = False
    everything: bool = False

    @property
    def filters_cases(self) -> bool:
        """Whether a case filter (dates, agency, state or status) is given."""
        return any(
            value is not None
            for value in (
                self.dispositioned_from,
                self.dispositioned_before,
                self.agency_code,
                self.state,
                self.national_status_code,
            )
        )

    def is_empty(self) -> bool:
        """Whether nothing at all is selected (a resync needs at least one selector)."""
        return not (self.complaint_ids or self.tracking_ids or self.filters_cases or self.set_aside or self.everything)

    def check(self, mapping: CityMapping) -> None:
        """Refuse a selection that cannot mean anything.

        Raises:
            SelectionError: nothing selected, ``everything`` mixed with other selectors, an
                agency the mapping does not know, or an empty date window.
        """
        if self.is_empty():
            raise SelectionError(
                "name what to resync: --tracking-id, --complaint-id, --since/--until, "
                "--agency, --status, --set-aside, or --all"
            )
        if self.everything and (self.complaint_ids or self.tracking_ids or self.filters_cases or self.set_aside):
            raise SelectionError("--all already takes every case and set-aside record; give it alone")
        if self.agency_code is not None and mapping.agency(self.agency_code) is None:
            known = ", ".join(agency.code for agency in mapping.agencies)
            raise SelectionError(f"--agency: no agency '{self.agency_code}' in the mapping file (known: {known})")
        if (
            self.dispositioned_from
            and self.dispositioned_before
            and self.dispositioned_from >= self.dispositioned_before
        ):
            raise SelectionError("--since must come before --until")

    def describe(self) -> str:
        """Say what was selected, for the run's sync event (no personal data: ids and codes only)."""
        parts = [f"complaint {i}" for i in self.complaint_ids] + [f"#{t}" for t in self.tracking_ids]
        if self.everything:
            parts.append("every case and set-aside record")
        if self.agency_code:
            parts.append(f"agency {self.agency_code}")
        if self.state:
            parts.append(f"state {self.state.value}")
        if self.national_status_code is not None:
            parts.append(f"national status {self.national_status_code}")
        if self.dispositioned_from:
            parts.append(f"dispositioned from {display_wib(self.dispositioned_from)}")
        if self.dispositioned_before:
            parts.append(f"dispositioned before {display_wib(self.dispositioned_before)}")
        if self.set_aside:
            parts.append("the set-aside records")
        return ", ".join(parts)


@dataclass(frozen=True)
class Target:
    """One complaint to re-read, as the city knows it before the resync.

    Attributes:
        complaint_id: the national complaint id.
        tracking_id: its tracking id, when the city has a record of it.
        agency_code: the agency of its case, or ``None`` when there is no case.
        set_aside_reason: why it is set aside, when an unresolved set-aside record exists.
    """

    complaint_id: int
    tracking_id: str | None = None
    agency_code: str | None = None
    set_aside_reason: str | None = None

    @property
    def known(self) -> bool:
        """Whether the city has a case or a set-aside record of it."""
        return self.agency_code is not None or self.set_aside_reason is not None


def select_targets(session: Session, institution_id: int, selection: Selection) -> tuple[list[Target], list[str]]:
    """Resolve ``selection`` against the city's records.

    Returns:
        The targets in complaint id order (each once), and the tracking ids the city has no
        record of (they cannot be asked of LAPOR!, which is read by complaint id).
    """
    named: list[int] = list(selection.complaint_ids)
    unknown: list[str] = []
    for tracking_id in selection.tracking_ids:
        found = _complaint_for_tracking_id(session, institution_id, tracking_id.strip().lstrip("#"))
        if found is None:
            unknown.append(tracking_id.strip().lstrip("#"))
        else:
            named.append(found)
    set_aside = _unresolved_set_aside(session, institution_id)
    if selection.set_aside or selection.everything:
        named += list(set_aside)
    cases: dict[int, Case] = {}
    if selection.filters_cases or selection.everything:
        cases.update((case.complaint_id, case) for case in session.exec(_case_query(institution_id, selection)))
    if missing := set(named) - set(cases):  # named complaints the filters did not bring: look their cases up
        cases.update(
            (case.complaint_id, case)
            for case in session.exec(
                select(Case).where(Case.institution_id == institution_id, col(Case.complaint_id).in_(missing))
            )
        )
    targets = []
    for complaint_id in sorted(set(named) | set(cases)):
        case = cases.get(complaint_id)
        targets.append(
            Target(
                complaint_id,
                case.tracking_id if case else None,
                case.agency_code if case else None,
                set_aside.get(complaint_id),
            )
        )
    return targets, unknown


def _case_query(institution_id: int, selection: Selection) -> SelectOfScalar[Case]:
    query = select(Case).where(Case.institution_id == institution_id)
    if selection.dispositioned_from is not None:
        query = query.where(Case.dispositioned_at >= selection.dispositioned_from)
    if selection.dispositioned_before is not None:
        query = query.where(Case.dispositioned_at < selection.dispositioned_before)
    if selection.agency_code is not None:
        query = query.where(Case.agency_code == selection.agency_code.strip().upper())
    if selection.state is not None:
        query = query.where(Case.state == selection.state.value)
    if selection.national_status_code is not None:
        query = query.where(Case.national_status_code == selection.national_status_code)
    return query


def _complaint_for_tracking_id(session: Session, institution_id: int, tracking_id: str) -> int | None:
    case = session.exec(
        select(Case.complaint_id).where(Case.institution_id == institution_id, Case.tracking_id == tracking_id)
    ).first()
    if case is not None:
        return case
    return session.exec(
        select(Binding.complaint_id).where(Binding.institution_id == institution_id, Binding.tracking_id == tracking_id)
    ).first()


def _unresolved_set_aside(session: Session, institution_id: int) -> dict[int, str]:
    """Complaint id → reason of the newest unresolved set-aside record (records without an id cannot be re-read)."""
    rows = session.exec(
        select(SetAsideRecord)
        .where(
            SetAsideRecord.institution_id == institution_id,
            col(SetAsideRecord.complaint_id).is_not(None),
            col(SetAsideRecord.resolved_at).is_(None),
        )
        .order_by(col(SetAsideRecord.last_seen_at))
    ).all()
    return {row.complaint_id: row.reason for row in rows if row.complaint_id is not None}
