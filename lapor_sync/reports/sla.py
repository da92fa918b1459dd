"""SLA over the city's records: open cases' deadlines per agency, and the worker's daily overdue check."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from lapor_sync.config.settings import Settings
from lapor_sync.domain.complaint import AuthorType
from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.domain.routing import CityMapping
from lapor_sync.domain.sla import Deadline, DeadlineKind, SlaCase, SlaPolicy, SlaResult, SlaStatus, ThreadMark
from lapor_sync.domain.status import CaseState
from lapor_sync.domain.timezones import display_wib
from lapor_sync.domain.workdays import WorkingCalendar
from lapor_sync.reports.sla_counts import (
    OPEN_STATES,
    SlaCounts,
    count_open_cases,
    most_pressing_cases,
    pressing_cases,
)
from lapor_sync.storage.models import Case, SyncEvent, ThreadEntry
from lapor_sync.sync.journal import Level, RunJournal

OVERDUE_EVENT = "sla.overdue"
LABELS = {DeadlineKind.FOLLOWUP: "follow-up", DeadlineKind.AUTO_CLOSE: "expected auto-close"}


def sla_policy(settings: Settings) -> SlaPolicy:
    """Build the deployment's :class:`SlaPolicy` from the ``sla_*`` and ``extra_non_working_days`` settings."""
    return SlaPolicy(
        calendar=WorkingCalendar(settings.extra_non_working_days),
        followup_working_days=settings.sla_followup_working_days,
        autoclose_working_days=settings.sla_autoclose_working_days,
        due_soon_working_days=settings.sla_due_soon_working_days,
    )


@dataclass(frozen=True)
class CaseSla:
    """One open case and its deadlines; identifiers only, no title, content or reporter.

    ``dispositioned_at`` is aware UTC, as are the instants in ``result``.
    """

    case_id: int
    complaint_id: int
    tracking_id: str
    agency_code: str
    state: str
    dispositioned_at: datetime
    result: SlaResult

    @property
    def overdue(self) -> list[Deadline]:
        """The case's overdue deadlines (follow-up first)."""
        deadlines = (self.result.followup, self.result.auto_close)
        return [d for d in deadlines if d is not None and d.status is SlaStatus.OVERDUE]


def evaluate_open_cases(
    session: Session,
    institution_id: int,
    policy: SlaPolicy,
    at: datetime,
    *,
    agency_code: str | None = None,
    among: SelectOfScalar[int] | Collection[int] | None = None,
) -> list[CaseSla]:
    """Evaluate the deadlines of every open case (new or in progress) at instant ``at``.

    Two queries whatever the number of cases: one for the cases, one for their threads (only the
    author, origin and time of each entry are read).

    Args:
        session: a session on the city's database.
        institution_id: the national institution whose cases are read.
        policy: the service levels.
        at: the instant to evaluate at (aware).
        agency_code: only this agency's cases (code as stored, upper case).
        among: only the cases whose id this select gives (e.g.
            :func:`lapor_sync.reports.sla_counts.pressing_cases`), or these ids.

    Returns:
        The cases by agency code, then most urgent first, then earliest due.
    """
    where = [Case.institution_id == institution_id, col(Case.state).in_(OPEN_STATES)]
    if agency_code is not None:
        where.append(Case.agency_code == agency_code)
    if among is not None:
        where.append(col(Case.id).in_(among))
    cases = session.exec(
        select(Case.id, Case.complaint_id, Case.tracking_id, Case.agency_code, Case.state, Case.dispositioned_at).where(
            *where
        )
    ).all()
    marks: dict[int, list[ThreadMark]] = {}
    entries = session.exec(
        select(ThreadEntry.case_id, ThreadEntry.author_type, ThreadEntry.origin, ThreadEntry.created_at)
        .join(Case, col(ThreadEntry.case_id) == Case.id)
        .where(*where)
    )
    for case_id, author_type, origin, created_at in entries:
        marks.setdefault(case_id, []).append(ThreadMark(AuthorType(author_type), origin, created_at))
    rows = [
        CaseSla(
            case_id,
            complaint_id,
            tracking_id,
            code,
            state,
            dispositioned_at,
            policy.evaluate(SlaCase(dispositioned_at, CaseState(state), marks.get(case_id, ())), at),
        )
        for case_id, complaint_id, tracking_id, code, state, dispositioned_at in cases
    ]
    return sorted(rows, key=lambda r: (r.agency_code, r.result.status.rank, r.result.pressing.due_at))


def by_agency(rows: list[CaseSla]) -> dict[str, list[CaseSla]]:
    """Group ``rows`` by agency code, keeping their order."""
    groups: dict[str, list[CaseSla]] = {}
    for row in rows:
        groups.setdefault(row.agency_code, []).append(row)
    return groups


LIMIT_SETTINGS = (
    "sla_followup_working_days",
    "sla_autoclose_working_days",
    "sla_due_soon_working_days",
    "extra_non_working_days",
)


class UnknownAgency(LaporSyncError):
    """The SLA was asked for an agency code the mapping file does not have."""


def is_pressing(status: SlaStatus) -> bool:
    """Whether a case in ``status`` is listed without ``--all``: overdue or due soon."""
    return status in (SlaStatus.OVERDUE, SlaStatus.DUE_SOON)


def _deadline_data(deadline: Deadline | None) -> dict[str, Any] | None:
    """One deadline as data (instants aware UTC), or ``None``."""
    if deadline is None:
        return None
    return {
        "due_at": deadline.due_at,
        "status": deadline.status.value,
        "met_at": deadline.met_at,
        "met_late": deadline.met_late,
    }


def case_sla_data(row: CaseSla) -> dict[str, Any]:
    """One case's SLA as data: identifiers and deadlines only (no title, content or reporter)."""
    result = row.result
    return {
        "case_id": row.case_id,
        "complaint_id": row.complaint_id,
        "tracking_id": row.tracking_id,
        "state": row.state,
        "status": result.status.value,
        "pressing": result.pressing.kind.value,
        "dispositioned_at": row.dispositioned_at,
        "followup": _deadline_data(result.followup),
        "auto_close": _deadline_data(result.auto_close),
    }


@dataclass(frozen=True)
class AgencySla:
    """One agency's open cases as ``sla`` lists them.

    Attributes:
        agency_code: the agency's code.
        agency_name: its name in the mapping (``None``: a code the mapping no longer has).
        counts: its open cases per status (:meth:`SlaCounts.by_status`), all of them, listed or not.
        open_cases: how many open cases it has.
        cases: the cases listed: overdue and due soon, or every open case when asked (the most
            pressing first, at most :attr:`SlaOverview.per_agency`).
        listable: how many cases it has to list: ``cases`` is all of them unless cut at ``per_agency``.
    """

    agency_code: str
    agency_name: str | None
    counts: dict[str, int]
    open_cases: int
    cases: list[CaseSla]
    listable: int


@dataclass(frozen=True)
class SlaOverview:
    """What ``lapor-sync sla`` gives: open cases' deadlines per agency at one instant.

    Attributes:
        at: the instant evaluated at (aware UTC).
        limits: the SLA settings in force, by setting name.
        open_cases: the open cases evaluated.
        counts: their number per status (:meth:`SlaCounts.by_status`).
        agencies: the agencies with a listed case, by code.
        per_agency: at most this many cases listed per agency (``None``: every one).
    """

    at: datetime
    limits: dict[str, Any]
    open_cases: int
    counts: dict[str, int]
    agencies: list[AgencySla]
    per_agency: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """``sla --json``: the fields above, each agency's cases as :func:`case_sla_data`.

        With a ``per_agency`` limit, also the limit and per agency ``shown`` (cases listed) and
        ``listable`` (cases to list); without one, exactly what ``sla --json`` always gave.
        """
        limited = self.per_agency is not None
        return {
            "at": self.at,
            "limits": self.limits,
            **({"per_agency": self.per_agency} if limited else {}),
            "open_cases": self.open_cases,
            "counts": self.counts,
            "agencies": [
                {
                    "agency_code": a.agency_code,
                    "agency_name": a.agency_name,
                    "counts": a.counts,
                    **({"shown": len(a.cases), "listable": a.listable} if limited else {}),
                    "cases": [case_sla_data(r) for r in a.cases],
                }
                for a in self.agencies
            ],
        }


def sla_overview(
    session: Session,
    mapping: CityMapping,
    settings: Settings,
    at: datetime,
    *,
    agency: str | None = None,
    everything: bool = False,
    per_agency: int | None = None,
) -> SlaOverview:
    """Evaluate the open cases' deadlines at ``at`` and group them per agency, as ``lapor-sync sla`` shows them.

    Args:
        session: a session on the city's database.
        mapping: the mapping in force (the institution, the agencies' names).
        settings: the settings (the ``sla_*`` limits and the extra days off).
        at: the instant to evaluate at (aware).
        agency: only this agency's cases (a code of the mapping, case ignored).
        everything: list every open case, not only the overdue and due-soon ones.
        per_agency: list only each agency's this many most pressing overdue and due-soon cases
            (at least 1; not with ``everything``); chosen by the database, so that only those
            are evaluated.

    Raises:
        UnknownAgency: ``agency`` is not a code of the mapping.
        ValueError: ``per_agency`` below 1 or with ``everything``.
    """
    if per_agency is not None and (per_agency < 1 or everything):
        raise ValueError("per_agency is at least 1 and limits the overdue and due-soon cases only")
    code = None
    if agency is not None:
        found = mapping.agency(agency)
        if found is None:
            raise UnknownAgency(f"no agency with code {agency!r} in the mapping file")
        code = found.code
    institution, policy = mapping.institution.id, sla_policy(settings)
    # Counted by the database; only the listed cases are evaluated one by one (a second at 16,000).
    counts = count_open_cases(session, institution, policy, at, agency_code=code)
    if everything:
        among = None
    elif per_agency is None:
        among = pressing_cases(institution, policy, at, agency_code=code)
    else:
        among = most_pressing_cases(session, institution, policy, at, per_agency, agency_code=code)
    rows = evaluate_open_cases(session, institution, policy, at, agency_code=code, among=among)
    agencies = []
    for agency_code, listed in by_agency(rows).items():
        known, counted = mapping.agency(agency_code), counts[agency_code]
        listable = counted.open if everything else counted.overdue + counted.due_soon
        agencies.append(
            AgencySla(
                agency_code,
                known.name if known else None,
                counted.by_status(),
                counted.open,
                listed[:per_agency],
                listable,
            )
        )
    total = SlaCounts.total(counts.values())
    limits = {name: getattr(settings, name) for name in LIMIT_SETTINGS}
    return SlaOverview(at, limits, total.open, total.by_status(), agencies, per_agency)


def _deadline_key(deadline: Deadline) -> str:
    """``<what> overdue since <WIB instant>``: names one deadline of a case in its event's message."""
    return f"{LABELS[deadline.kind]} overdue since {display_wib(deadline.due_at)}"


def overdue_message(row: CaseSla, deadline: Deadline, policy: SlaPolicy) -> str:
    """Word an overdue deadline for the sync log: tracking id, agency, what and since when (WIB).

    E.g. ``#1900001 (DINSOS): follow-up overdue since 2024-07-08 09:00 WIB; no agency follow-up yet, ...``.
    """
    head = f"#{row.tracking_id} ({row.agency_code}): {_deadline_key(deadline)}"
    if deadline.kind is DeadlineKind.FOLLOWUP:
        return (
            f"{head}; no agency follow-up yet, {policy.followup_working_days} working days after the "
            f"disposition on {display_wib(row.dispositioned_at)}"
        )
    return (
        f"{head}; LAPOR! closes a complaint by itself {policy.autoclose_working_days} working days after "
        "the last agency follow-up left without reply (CONTRACT §3), yet the case is still open here: "
        "the next reconcile or a resync should confirm its status"
    )


def check_sla(journal: RunJournal, policy: SlaPolicy) -> dict[str, int]:
    """The worker's daily SLA check: one ``sla.overdue`` warning per newly overdue deadline.

    Evaluates every open case of the run's institution at ``journal.clock.now()``. A deadline
    already reported (an ``sla.overdue`` event of the same case naming the same deadline and due
    instant) is not reported again on later days; a new deadline (a later follow-up moves the
    expected auto-close) is. The events are committed together.

    Args:
        journal: a started sync run (job ``sla``) of the institution whose cases are checked; the
            caller finishes it.
        policy: the service levels (:func:`sla_policy` of the settings).

    Returns:
        Counts: ``checked`` open cases, cases ``overdue`` and ``due_soon``, and ``reported`` new events.
    """
    institution = journal.institution_id
    with journal.db.session() as session:
        rows = evaluate_open_cases(session, institution, policy, journal.clock.now())
        open_complaints = select(Case.complaint_id).where(
            Case.institution_id == institution, col(Case.state).in_(OPEN_STATES)
        )
        earlier: dict[int, list[str]] = {}
        for complaint_id, message in session.exec(
            select(SyncEvent.complaint_id, SyncEvent.message).where(
                SyncEvent.kind == OVERDUE_EVENT, col(SyncEvent.complaint_id).in_(open_complaints)
            )
        ):
            earlier.setdefault(complaint_id, []).append(message)
        reported = 0
        for row in rows:
            for deadline in row.overdue:
                key = f": {_deadline_key(deadline)}"
                if any(key in message for message in earlier.get(row.complaint_id, ())):
                    continue
                journal.event(
                    session,
                    OVERDUE_EVENT,
                    overdue_message(row, deadline, policy),
                    level=Level.WARNING,
                    complaint_id=row.complaint_id,
                    tracking_id=row.tracking_id,
                    agency_code=row.agency_code,
                )
                reported += 1
        session.commit()
    return {
        "checked": len(rows),
        "overdue": sum(r.result.status is SlaStatus.OVERDUE for r in rows),
        "due_soon": sum(r.result.status is SlaStatus.DUE_SOON for r in rows),
        "reported": reported,
    }
