"""Open cases' deadlines counted by the database: how many are overdue or due soon, per agency, in one query.

Evaluating each case (:func:`lapor_sync.reports.sla.evaluate_open_cases`) takes about a second at
16,000 open cases; a count needs no case in Python. The working days are counted once per call,
into the starting instants' cutoffs (:meth:`lapor_sync.domain.sla.SlaPolicy.cutoffs`), and the
database compares each case's starting instant with them. Which deadline a case owes is
``SlaPolicy.evaluate``'s rule, read here from the thread: the follow-up, counted from the
disposition, while no institution follow-up exists; else the auto-close, counted from the last
institution follow-up, unless a reporter or admin wrote after it; else nothing (met).
tests/integration/test_sla_counts.py holds the counts equal to the rule case by case.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import ColumnElement, Row, Subquery, and_, case, false, func, not_, or_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from lapor_sync.domain.complaint import AuthorType
from lapor_sync.domain.sla import DeadlineKind, SlaPolicy, SlaStatus
from lapor_sync.domain.status import CaseState
from lapor_sync.domain.timezones import WIB
from lapor_sync.domain.workdays import Span
from lapor_sync.storage.models import Case, ThreadEntry

OPEN_STATES = tuple(s.value for s in CaseState if s.is_open)


@dataclass(frozen=True)
class SlaCounts:
    """How many open cases stand where: ``open`` in all, of which ``overdue``, ``due_soon`` and ``met``."""

    open: int
    overdue: int
    due_soon: int
    met: int

    @property
    def on_track(self) -> int:
        """The open cases whose deadline is neither overdue nor due soon."""
        return self.open - self.overdue - self.due_soon - self.met

    @classmethod
    def total(cls, counts: Iterable[SlaCounts]) -> SlaCounts:
        """The sum of ``counts`` (e.g. every agency's), zeros for none."""
        rows = [astuple(c) for c in counts]
        return cls(*(sum(column) for column in zip(*rows, strict=True))) if rows else cls(0, 0, 0, 0)

    def by_status(self) -> dict[str, int]:
        """The counts by status value, every status named, most urgent first (``sla --json``'s ``counts``)."""
        found = {
            SlaStatus.OVERDUE: self.overdue,
            SlaStatus.DUE_SOON: self.due_soon,
            SlaStatus.ON_TRACK: self.on_track,
            SlaStatus.MET: self.met,
        }
        return {status.value: found[status] for status in SlaStatus}


@dataclass(frozen=True)
class _Standing:
    """Conditions on one row of :func:`_open_cases`: its deadline overdue; overdue or due soon; none owed."""

    overdue: ColumnElement[bool]
    pressing: ColumnElement[bool]
    met: ColumnElement[bool]


def count_open_cases(
    session: Session, institution_id: int, policy: SlaPolicy, at: datetime, *, agency_code: str | None = None
) -> dict[str, SlaCounts]:
    """Count the open cases overdue, due soon and met at instant ``at``, per agency, in one query.

    The same statuses as :func:`lapor_sync.reports.sla.evaluate_open_cases` gives case by case;
    tens of milliseconds at 16,000 open cases.

    Args:
        session: a session on the city's database.
        institution_id: the national institution whose cases are counted.
        policy: the service levels.
        at: the instant to judge at (aware).
        agency_code: only this agency's cases (code as stored, upper case).

    Returns:
        Agency code → counts, by code; agencies with no open case are left out.
    """
    cases = _open_cases(institution_id, agency_code)
    standing = _standing(cases, policy, at)
    code = cases.c.agency_code
    rows = session.exec(
        select(
            code,
            func.count(),
            *(
                func.sum(case((condition, 1), else_=0))
                for condition in (standing.overdue, standing.pressing, standing.met)
            ),
        )
        .group_by(code)
        .order_by(code)
    ).all()
    return {
        code: SlaCounts(count, int(late or 0), int(soon or 0) - int(late or 0), int(met or 0))
        for code, count, late, soon, met in rows
    }


def pressing_cases(
    institution_id: int, policy: SlaPolicy, at: datetime, *, agency_code: str | None = None
) -> SelectOfScalar[int]:
    """A select of the ids of the open cases overdue or due soon at ``at`` (to evaluate those alone).

    Args:
        institution_id: the national institution whose cases are read.
        policy: the service levels.
        at: the instant to judge at (aware).
        agency_code: only this agency's cases (code as stored, upper case).
    """
    cases = _open_cases(institution_id, agency_code)
    return select(cases.c.id).where(_standing(cases, policy, at).pressing)


def most_pressing_cases(
    session: Session,
    institution_id: int,
    policy: SlaPolicy,
    at: datetime,
    per_agency: int,
    *,
    agency_code: str | None = None,
) -> list[int]:
    """Ids among which are each agency's ``per_agency`` most pressing cases at ``at``.

    Most pressing as :func:`lapor_sync.reports.sla.evaluate_open_cases` orders them: overdue
    before due soon, then earliest due. A deadline falls a number of working days after its start
    (the disposition for the follow-up, the last follow-up for the auto-close), at the start's WIB
    time of day, a start on a non-working day counting as on the working day before it. So among
    the cases owing the same deadline an earlier start is due no later, except within one
    working day and the days off after it, where the time of day decides. The ids are therefore,
    per agency and deadline owed, the pressing cases started before the next working day
    after the ``per_agency``-th earliest start: a few more than ``per_agency``, which the caller
    evaluates, orders and cuts. One query, sometimes two (read here, so that evaluating them
    reads the cases by id instead of grouping every thread again).

    Args:
        session: a session on the city's database.
        institution_id: the national institution whose cases are read.
        policy: the service levels.
        at: the instant to judge at (aware).
        per_agency: how many cases each agency lists (at least 1).
        agency_code: only this agency's cases (code as stored, upper case).
    """
    cases = _open_cases(institution_id, agency_code)
    owes_followup = cases.c.last_followup.is_(None)
    start = case((owes_followup, cases.c.dispositioned_at), else_=cases.c.last_followup)
    pressing = _standing(cases, policy, at).pressing
    place = func.row_number().over(partition_by=(cases.c.agency_code, owes_followup), order_by=(start, cases.c.id))
    ranked = select(
        cases.c.id, cases.c.agency_code, owes_followup.label("owes"), start.label("start"), place.label("place")
    ).where(pressing)
    ordered = ranked.subquery()
    # Twice as many as needed in one query, usually enough: a partition whose last row read
    # still starts before its bound is read further by a second.
    rows = session.exec(select(*ordered.c).where(ordered.c.place <= 2 * per_agency)).all()
    chosen, more = [], []
    for (code, owes), found in _partitions(rows).items():
        bound = _next_working_day(policy, found[per_agency - 1].start) if len(found) >= per_agency else None
        chosen += [r.id for r in found if bound is None or r.start < bound]
        if bound is not None and len(found) == 2 * per_agency and found[-1].start < bound:
            more.append(
                and_(
                    ordered.c.agency_code == code,
                    ordered.c.owes == owes,
                    ordered.c.place > 2 * per_agency,
                    ordered.c.start < bound,
                )
            )
    if more:
        chosen += session.exec(select(ordered.c.id).where(or_(*more))).all()
    return chosen


def _partitions(rows: Sequence[Row[Any]]) -> dict[tuple[str, bool], list[Row[Any]]]:
    """``rows`` by agency and deadline owed, each in its ``place`` order."""
    found: dict[tuple[str, bool], list[Row[Any]]] = {}
    for row in sorted(rows, key=lambda r: r.place):
        found.setdefault((row.agency_code, bool(row.owes)), []).append(row)
    return found


def _next_working_day(policy: SlaPolicy, instant: datetime) -> datetime:
    """Midnight WIB starting the first working day after ``instant``'s WIB date (aware UTC)."""
    day = policy.calendar.add_working_days(instant, 1).astimezone(WIB)
    return datetime.combine(day.date(), time(), WIB).astimezone(UTC)


def _open_cases(institution_id: int, agency_code: str | None) -> Subquery:
    """One row per open case: id, agency, disposition, and its thread's last follow-up and last reply.

    Read from the covering indexes ix_case_open_sla and ix_thread_entry_sla (migration 0016).
    Grouped in ix_case_open_sla's order (id is unique, the other columns follow from it), SQLite
    groups as it reads instead of sorting every thread entry first.
    """
    where = [Case.institution_id == institution_id, col(Case.state).in_(OPEN_STATES)]
    if agency_code is not None:
        where.append(Case.agency_code == agency_code)
    followup = or_(ThreadEntry.origin == "agency", ThreadEntry.author_type == AuthorType.INSTITUTION.value)
    created = col(ThreadEntry.created_at)
    return (
        select(
            Case.id,
            Case.agency_code,
            Case.dispositioned_at,
            func.max(case((followup, created))).label("last_followup"),
            func.max(case((not_(followup), created))).label("last_reply"),
        )
        .outerjoin(ThreadEntry, col(ThreadEntry.case_id) == Case.id)
        .where(*where)
        .group_by(col(Case.state), col(Case.agency_code), col(Case.dispositioned_at), col(Case.id))
        .subquery()
    )


def _standing(cases: Subquery, policy: SlaPolicy, at: datetime) -> _Standing:
    """Where each row of ``cases`` stands at ``at``: the deadline it owes, compared with its cutoffs."""
    last, reply, dispositioned = cases.c.last_followup, cases.c.last_reply, cases.c.dispositioned_at
    owes_followup = last.is_(None)
    replied = and_(reply.is_not(None), reply > last)
    owes_auto_close = and_(last.is_not(None), not_(replied))
    followups = policy.cutoffs(DeadlineKind.FOLLOWUP, at)
    closes = policy.cutoffs(DeadlineKind.AUTO_CLOSE, at)
    return _Standing(
        overdue=or_(
            and_(owes_followup, _within(dispositioned, followups.overdue)),
            and_(owes_auto_close, _within(last, closes.overdue)),
        ),
        pressing=or_(
            and_(owes_followup, dispositioned < followups.due_soon_before),
            and_(owes_auto_close, last < closes.due_soon_before),
        ),
        met=and_(last.is_not(None), replied),
    )


def _within(column: ColumnElement[datetime], spans: list[Span]) -> ColumnElement[bool]:
    """True where ``column`` lies in one of ``spans`` (see :data:`lapor_sync.domain.workdays.Span`)."""
    return or_(
        false(),
        *(and_(column < until, *([] if since is None else [column >= since])) for since, until in spans),
    )
