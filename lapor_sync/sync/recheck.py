"""Rechecks of open cases under a request budget, most urgent first (CONTRACT §6 "Reconcile", §7).

A complaint forwarded away, archived or auto-closed on the national side leaves the inbox, and
only a read of its detail tells (CONTRACT §6). Reading every open case unseen for a while in one
cycle costs two requests per case, all at once (3,966 at 1,983 complaints), against a gateway
quota counted per minute (CONTRACT §7, G3/G4). So the rechecks that are due are read in order of
urgency and only while the budget lasts, per cycle and per WIB day (persisted in
``request_budget``, so a restart does not reset the day); the rest wait for the next cycle.

Order (:func:`plan`): the case whose SLA deadline falls due soonest first (an auto-close expected
there is what a recheck is most likely to find), then the one unseen longest; set-aside records
(retried in case the platform repaired them) after the cases, longest unseen first. A closed case is
never a candidate: its complaint is settled on our side and nothing on the national side reopens
it without touching ``updated_at``, which the inbox shows.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from lapor_sync.domain.complaint import AuthorType
from lapor_sync.domain.sla import SlaCase, SlaPolicy, ThreadMark
from lapor_sync.domain.status import CaseState
from lapor_sync.domain.timezones import WIB
from lapor_sync.reports.sla import OPEN_STATES
from lapor_sync.storage.models import Binding, Case, RequestBudget, SetAsideRecord, ThreadEntry
from lapor_sync.sync.watermark import is_settled


@dataclass(frozen=True)
class RecheckLimits:
    """How many requests rechecks may make (settings ``recheck_requests_per_cycle``, ``..._per_day``).

    Attributes:
        per_cycle: requests in one cycle (one pull's rechecks, or one reconcile).
        per_day: requests in one WIB day, over every cycle of it.
    """

    per_cycle: int
    per_day: int


@dataclass(frozen=True)
class RecheckCandidate:
    """A complaint whose detail is due to be read again.

    Attributes:
        complaint_id: the national id.
        due_at: the earliest unmet SLA deadline of its case (aware UTC); ``None`` when none is pending.
        last_checked_at: when it was last read (aware UTC); ``None`` if never (a set-aside record).
        unchanged_since: the stored ``updated_at`` when its read is settled (:func:`is_settled`): a
            detail showing it again needs no follow-ups read; ``None`` otherwise.
        set_aside: an unresolved set-aside record of it is retried (read as an inbox row would be).
    """

    complaint_id: int
    due_at: datetime | None
    last_checked_at: datetime | None
    unchanged_since: datetime | None = None
    set_aside: bool = False


def plan(candidates: Iterable[RecheckCandidate]) -> list[RecheckCandidate]:
    """Return the candidates most urgent first, one per complaint (see the module's text for the order)."""
    never = datetime.min.replace(tzinfo=UTC)
    unique: dict[int, RecheckCandidate] = {}
    for candidate in candidates:
        unique.setdefault(candidate.complaint_id, candidate)
    return sorted(
        unique.values(),
        key=lambda c: (
            c.due_at is None,
            c.due_at or never,
            c.last_checked_at or never,
            c.complaint_id,
        ),
    )


class RecheckBudget:
    """The requests rechecks may still make in this cycle and this day; safe to share between threads.

    Call :meth:`allows` before each complaint and :meth:`spend` with the requests its read made. A
    complaint started with budget left is read in full, so a cycle may pass its limit by the
    follow-up pages of one complaint (usually none: a detail and one page make two requests).

    Args:
        limits: the per-cycle and per-day limits.
        spent_today: requests already spent on rechecks this WIB day (persisted).
    """

    def __init__(self, limits: RecheckLimits, *, spent_today: int) -> None:
        self.limits = limits
        self.spent_before = spent_today
        self.spent = 0
        self._lock = threading.Lock()

    def allows(self) -> bool:
        """Whether another complaint may be read: budget left in this cycle and this day."""
        with self._lock:
            return self.spent < self.limits.per_cycle and self.spent_before + self.spent < self.limits.per_day

    def spend(self, requests: int) -> None:
        """Count ``requests`` made by one recheck."""
        with self._lock:
            self.spent += requests

    @property
    def spent_today(self) -> int:
        """Requests spent on rechecks this WIB day, this cycle's included."""
        with self._lock:
            return self.spent_before + self.spent


def wib_day(instant: datetime) -> date:
    """The WIB date of an aware instant: the day a daily budget counts in."""
    return instant.astimezone(WIB).date()


def budget_name(institution_id: int) -> str:
    """The ``request_budget`` row of an institution's rechecks."""
    return f"recheck:{institution_id}"


def spent_on(session: Session, name: str, day: date) -> int:
    """Requests spent under budget ``name`` on WIB ``day`` (0 when its row is of an earlier day)."""
    row = session.get(RequestBudget, name)
    return row.used if row is not None and row.day == day else 0


def record_spent(session: Session, name: str, day: date, used: int, now: datetime) -> None:
    """Store that ``used`` requests were spent under budget ``name`` on WIB ``day``; the caller commits."""
    row = session.get(RequestBudget, name) or RequestBudget(name=name, day=day, used=used, updated_at=now)
    row.day, row.used, row.updated_at = day, used, now
    session.add(row)


def due_rechecks(
    session: Session,
    institution_id: int,
    policy: SlaPolicy | None,
    *,
    due_since: datetime,
    now: datetime,
    overlap: timedelta,
) -> list[RecheckCandidate]:
    """Return the complaints due for a recheck, most urgent first: at most three queries whatever their number.

    Open cases whose complaint was last read before ``due_since``, with their SLA deadlines at
    ``now``; then unresolved set-aside records last seen before ``due_since``.

    Args:
        session: a session on the city's database.
        institution_id: the national institution whose cases are read.
        policy: the service levels, for the deadlines; ``None``: none known (longest unseen first).
        due_since: read before this instant (aware UTC) means due.
        now: the instant the deadlines are evaluated at (aware UTC).
        overlap: the inbox overlap window, for :func:`is_settled`.
    """
    where = (
        Case.institution_id == institution_id,
        col(Case.state).in_(OPEN_STATES),
        Binding.institution_id == institution_id,
        Binding.last_checked_at < due_since,
    )
    cases = session.exec(
        select(
            Case.id,
            Case.complaint_id,
            Case.state,
            Case.dispositioned_at,
            Binding.national_updated_at,
            Binding.last_checked_at,
        )
        .join(Binding, col(Binding.case_id) == Case.id)
        .where(*where)
    ).all()
    marks = _thread_marks(session, where) if policy is not None and cases else {}
    candidates = []
    for case_id, complaint_id, state, dispositioned_at, updated_at, checked_at in cases:
        due_at = None
        if policy is not None:
            result = policy.evaluate(SlaCase(dispositioned_at, CaseState(state), marks.get(case_id, ())), now)
            due_at = min(
                (d.due_at for d in (result.followup, result.auto_close) if d and d.met_at is None), default=None
            )
        settled = is_settled(updated_at, checked_at, overlap)
        candidates.append(RecheckCandidate(complaint_id, due_at, checked_at, updated_at if settled else None))
    set_aside = session.exec(
        select(SetAsideRecord.complaint_id, SetAsideRecord.last_seen_at).where(
            SetAsideRecord.institution_id == institution_id,
            SetAsideRecord.resolved_at == None,  # noqa: E711  (SQL IS NULL)
            SetAsideRecord.last_seen_at < due_since,
            col(SetAsideRecord.complaint_id).is_not(None),
        )
    ).all()
    # A set-aside record is read in full (its thread may be what was unreadable), in its case's place if it has one.
    retried = {complaint_id: seen_at for complaint_id, seen_at in set_aside}
    candidates = [
        replace(c, unchanged_since=None, set_aside=True) if c.complaint_id in retried else c for c in candidates
    ]
    candidates += [
        RecheckCandidate(complaint_id, None, seen_at, set_aside=True) for complaint_id, seen_at in retried.items()
    ]
    return plan(candidates)


def _thread_marks(session: Session, where: tuple[ColumnElement[bool], ...]) -> dict[int, list[ThreadMark]]:
    """The thread marks (author, origin, time) of the cases matching ``where``, by case id: one query."""
    marks: dict[int, list[ThreadMark]] = {}
    entries = session.exec(
        select(ThreadEntry.case_id, ThreadEntry.author_type, ThreadEntry.origin, ThreadEntry.created_at)
        .join(Case, col(ThreadEntry.case_id) == Case.id)
        .join(Binding, col(Binding.case_id) == Case.id)
        .where(*where)
    )
    for case_id, author_type, origin, created_at in entries:
        marks.setdefault(case_id, []).append(ThreadMark(AuthorType(author_type), origin, created_at))
    return marks
