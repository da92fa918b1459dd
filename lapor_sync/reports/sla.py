"""SLA over the city's records: open cases' deadlines per agency, and the worker's daily overdue check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from lapor_sync.config.settings import Settings
from lapor_sync.domain.complaint import AuthorType
from lapor_sync.domain.sla import (
    Deadline,
    DeadlineKind,
    SlaCase,
    SlaPolicy,
    SlaResult,
    SlaStatus,
    ThreadMark,
)
from lapor_sync.domain.status import CaseState
from lapor_sync.domain.timezones import display_wib
from lapor_sync.domain.workdays import WorkingCalendar
from lapor_sync.reports.sla_counts import OPEN_STATES
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
    among: SelectOfScalar[int] | None = None,
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
            :func:`lapor_sync.reports.sla_counts.pressing_cases`).

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
