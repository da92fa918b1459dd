"""Reporting: the city's tallies of complaints by outcome, and the article's figures to compare with."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from lapor_sync.domain.status import CaseState
from lapor_sync.domain.timezones import WIB
from lapor_sync.storage.models import Case


@dataclass(frozen=True)
class Tallies:
    """Complaints dispositioned in a period, by where they ended.

    ``archived_or_returned`` = ``archived`` (insufficient supporting data) + ``forwarded``
    (outside the city's authority): the article counts both as "diarsipkan dan dikembalikan".
    """

    total: int
    completed: int
    in_process: int
    archived: int
    forwarded: int

    @property
    def archived_or_returned(self) -> int:
        """Archived plus forwarded."""
        return self.archived + self.forwarded

    def as_dict(self) -> dict[str, int]:
        """The tallies as a plain dict, with ``archived_or_returned``."""
        return {**asdict(self), "archived_or_returned": self.archived_or_returned}


# The news item in docs/domain.md (Palangka Raya, October 2024): 1,983 handled, 1,924 completed, 11 in process,
# the rest (48) archived and returned. The split of the 48 is not published.
ARTICLE = {"total": 1983, "completed": 1924, "in_process": 11, "archived_or_returned": 48}


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """Return the UTC instants bounding WIB calendar days ``start`` to ``end``, both inclusive."""
    return (datetime.combine(start, time(0), WIB), datetime.combine(end + timedelta(days=1), time(0), WIB))


def city_tallies(session: Session, institution_id: int, start: date, end: date) -> Tallies:
    """Count the city's cases dispositioned between WIB days ``start`` and ``end`` (inclusive), by state."""
    low, high = period_bounds(start, end)
    rows = session.exec(
        select(Case.state, func.count())
        .where(Case.institution_id == institution_id, Case.dispositioned_at >= low, Case.dispositioned_at < high)
        .group_by(Case.state)
    ).all()
    counts = {state: n for state, n in rows}
    open_ = counts.get(CaseState.NEW.value, 0) + counts.get(CaseState.IN_PROGRESS.value, 0)
    return Tallies(
        total=sum(counts.values()),
        completed=counts.get(CaseState.COMPLETED.value, 0),
        in_process=open_,
        archived=counts.get(CaseState.ARCHIVED.value, 0),
        forwarded=counts.get(CaseState.FORWARDED.value, 0),
    )
