"""The dashboard's series over the last days (WIB): complaints pulled, follow-ups pushed, open backlog; overdue now.

Each series is one aggregate query whatever the number of days: one conditional sum per day in a
single scan, not one query per day (thirty queries over a million rows would cost thirty scans).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import accumulate

from sqlalchemy import ColumnElement, and_, case, func
from sqlmodel import Session, col, select

from lapor_sync.domain.outbox import OutboxState
from lapor_sync.domain.sla import SlaPolicy
from lapor_sync.domain.timezones import WIB, wib_midnight
from lapor_sync.reports.sla_counts import count_open_cases
from lapor_sync.storage.models import Case, OutboxItem


@dataclass(frozen=True)
class DailySeries:
    """Per WIB day, oldest first.

    Attributes:
        days: the WIB dates, oldest first; the lists below have one number per date.
        pulled: complaints first stored that day (``case.received_at``).
        pushed: outbox rows delivered to LAPOR! that day.
        backlog: open cases at the end of that day: received by then and not closed by then.
    """

    days: list[date]
    pulled: list[int]
    pushed: list[int]
    backlog: list[int]


def daily_series(session: Session, institution_id: int, *, now: datetime, days: int = 30) -> DailySeries:
    """Compute the dashboard's series for the ``days`` WIB days ending with today (the WIB date of ``now``).

    Five aggregate queries in all, whatever ``days``: four on cases (pulled, closed, open before
    the first day) and one on the outbox (pushed).

    Args:
        session: a session on the city's database.
        institution_id: the national institution whose records are counted.
        now: the current instant (aware): today is its WIB date.
        days: how many days, today included (at least 1).

    Returns:
        The series.
    """
    today = now.astimezone(WIB).date()
    dates = [today - timedelta(days=n) for n in range(max(1, days) - 1, -1, -1)]
    # Day n runs from bounds[n] to bounds[n + 1]: WIB midnights, compared as aware instants.
    bounds = [wib_midnight(d) for d in [*dates, today + timedelta(days=1)]]
    pulled, backlog = _case_series(session, institution_id, bounds)
    return DailySeries(dates, pulled, _pushed(session, institution_id, bounds), backlog)


def overdue_by_agency(session: Session, institution_id: int, *, policy: SlaPolicy, now: datetime) -> dict[str, int]:
    """Count the open cases with an overdue deadline at ``now``, per agency, as ``lapor-sync sla`` judges them.

    One aggregate query (:func:`lapor_sync.reports.sla_counts.count_open_cases`): tens of milliseconds at
    16,000 open cases.

    Args:
        session: a session on the city's database.
        institution_id: the national institution whose cases are counted.
        policy: the service levels (:func:`lapor_sync.reports.sla.sla_policy`).
        now: the instant to evaluate at (aware).

    Returns:
        Agency code → overdue cases, by code; agencies with none are left out.
    """
    counts = count_open_cases(session, institution_id, policy, now)
    return {code: c.overdue for code, c in counts.items() if c.overdue}


def _per_day(column: ColumnElement[datetime] | datetime, bounds: list[datetime]) -> list[ColumnElement[int]]:
    """One sum per day of the rows whose ``column`` falls in that day."""
    return [
        func.sum(case((and_(col(column) >= start, col(column) < end), 1), else_=0))
        for start, end in zip(bounds, bounds[1:], strict=False)
    ]


def _sums(session: Session, columns: list[ColumnElement[int]], *where: object) -> list[int]:
    """Run one aggregate select of ``columns``; its numbers, 0 for an empty sum."""
    # The connection's execute: a row whatever the number of columns (a session's exec of one
    # column would give a bare scalar).
    row = session.connection().execute(select(*columns).where(*where)).one()
    return [int(n or 0) for n in row]


def _case_series(session: Session, institution_id: int, bounds: list[datetime]) -> tuple[list[int], list[int]]:
    """Complaints first stored per day, and cases open at each day's end.

    Open at the end of day n = open when the window began + stored since − closed since. A case is
    closed no earlier than it was stored (the city records stamp both from one clock,
    ``adapters/city/builtin.py``), so a case closed in the window was open when it began or stored
    in it. Four index range scans (received_at, closed_at), never a scan of every case: the cases
    open when the window began are those still open and those closed in the window.
    """
    mine = Case.institution_id == institution_id
    received, closed = col(Case.received_at), col(Case.closed_at)
    pulled = _sums(session, _per_day(Case.received_at, bounds), mine, received >= bounds[0], received < bounds[-1])
    shut = _sums(session, _per_day(Case.closed_at, bounds), mine, closed >= bounds[0], closed < bounds[-1])
    still_open = _sums(session, [func.count()], mine, closed.is_(None), received < bounds[0])[0]
    closed_since = _sums(session, [func.count()], mine, closed >= bounds[0], received < bounds[0])[0]
    before = still_open + closed_since
    backlog = list(accumulate((p - c for p, c in zip(pulled, shut, strict=True)), initial=before))[1:]
    return pulled, backlog


def _pushed(session: Session, institution_id: int, bounds: list[datetime]) -> list[int]:
    """Outbox rows delivered per day, in one range scan of ``delivered_at``."""
    delivered = col(OutboxItem.delivered_at)
    return _sums(
        session,
        _per_day(OutboxItem.delivered_at, bounds),
        OutboxItem.institution_id == institution_id,
        OutboxItem.state == OutboxState.DELIVERED.value,
        delivered >= bounds[0],
        delivered < bounds[-1],
    )
