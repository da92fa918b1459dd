"""Service-level rules: when a case's follow-up is due and when LAPOR! is expected to close it by itself."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from lapor_sync.domain.complaint import AuthorType
from lapor_sync.domain.status import CaseState
from lapor_sync.domain.timezones import WIB
from lapor_sync.domain.workdays import Span, WorkingCalendar


class SlaStatus(StrEnum):
    """Where a deadline, or a whole case, stands at one instant; most urgent first."""

    OVERDUE = "overdue"  # the due instant has passed and the deadline is not met
    DUE_SOON = "due_soon"  # due within the "due soon" window of working days
    ON_TRACK = "on_track"  # due later than that
    MET = "met"  # nothing is owed any more

    @property
    def rank(self) -> int:
        """0 for the most urgent status (overdue), 3 for met: sorts cases most urgent first."""
        return _RANKS[self]


_RANKS = {status: rank for rank, status in enumerate(SlaStatus)}  # the order of declaration, read once


class DeadlineKind(StrEnum):
    """The two deadlines of a case (docs/domain.md "Time limits")."""

    FOLLOWUP = "followup"  # the agency's first follow-up after disposition
    AUTO_CLOSE = "auto_close"  # LAPOR! closes the complaint by itself (CONTRACT §3)


@dataclass(frozen=True, slots=True)
class ThreadMark:
    """What the rules read of one thread entry: who wrote it, where it was written, and when.

    ``origin`` is ``national`` (read from LAPOR!) or ``agency`` (written by the city's staff here);
    ``created_at`` is aware UTC.
    """

    author_type: AuthorType
    origin: str
    created_at: datetime

    @property
    def is_institution_followup(self) -> bool:
        """True for an institution follow-up: national ``instansi`` entry, or staff's own entry here."""
        # Staff's entry counts from when it was written, before LAPOR! has confirmed it.
        return self.origin == "agency" or self.author_type is AuthorType.INSTITUTION


@dataclass(frozen=True, slots=True)
class SlaCase:
    """The facts of one case the rules need (no title, content or reporter).

    ``dispositioned_at`` is aware UTC; ``thread`` in any order.
    """

    dispositioned_at: datetime
    state: CaseState
    thread: Sequence[ThreadMark]


@dataclass(frozen=True, slots=True)
class Deadline:
    """One deadline of a case.

    Attributes:
        kind: which deadline.
        due_at: when it falls due (follow-up) or when LAPOR! should close the case (auto-close), aware UTC.
        met_at: when the follow-up was posted (aware UTC), ``None`` while owed; always ``None`` for auto-close.
        status: where it stands at the evaluated instant.
    """

    kind: DeadlineKind
    due_at: datetime
    met_at: datetime | None
    status: SlaStatus

    @property
    def met_late(self) -> bool:
        """True when the deadline was met after it fell due."""
        return self.met_at is not None and self.met_at > self.due_at


@dataclass(frozen=True, slots=True)
class SlaResult:
    """The deadlines of one case at one instant.

    Attributes:
        status: the most urgent status of its deadlines; ``met`` for a closed case.
        followup: the follow-up deadline.
        auto_close: the expected auto-close, or ``None`` when none is pending (no institution
            follow-up yet, a reporter or admin replied after the last one, or the case is closed).
    """

    status: SlaStatus
    followup: Deadline
    auto_close: Deadline | None

    @property
    def pressing(self) -> Deadline:
        """The deadline that sets :attr:`status` (the follow-up when both are equally urgent)."""
        if self.auto_close is None or self.followup.status is self.status:
            return self.followup
        return self.auto_close


@dataclass(frozen=True, slots=True)
class StartCutoffs:
    """How one kind of deadline stands at one instant, told by the instant it counts from.

    A deadline counted from ``x`` (the disposition for the follow-up, the last institution
    follow-up for the auto-close) is overdue when ``x`` lies in one of ``overdue`` (:data:`Span`:
    ``since`` inclusive or unbounded, ``until`` exclusive, aware UTC), due soon when it does not
    but ``x < due_soon_before``, on track otherwise: the same answers as :meth:`SlaPolicy.evaluate`
    gives deadline by deadline, for a database to count on an indexed column.
    """

    overdue: list[Span]
    due_soon_before: datetime


@dataclass(frozen=True)
class SlaPolicy:
    """The service levels of a deployment, in working days (from settings, never constants).

    docs/domain.md "Time limits" gives the official app's values (follow-up 5 working days after
    disposition, auto-close 10 working days after a follow-up left without reply); the regulation
    behind them (PermenPANRB 62/2018, replaced by 5/2025) gives no article-level limits, hence settings.

    Args:
        calendar: the working days.
        followup_working_days: a follow-up is due this many working days after disposition.
        autoclose_working_days: LAPOR! closes a complaint this many working days after the last
            institution follow-up, when no reporter or admin replied after it (CONTRACT §3).
        due_soon_working_days: a deadline falling on today or within this many next working days
            (WIB dates) is "due soon"; 0 means due today only.
    """

    calendar: WorkingCalendar
    followup_working_days: int
    autoclose_working_days: int
    due_soon_working_days: int

    def evaluate(self, case: SlaCase, at: datetime) -> SlaResult:
        """Evaluate ``case``'s deadlines at instant ``at`` (aware).

        Follow-up: due ``followup_working_days`` after ``dispositioned_at``; met by the first
        institution follow-up (late or not). Auto-close: expected ``autoclose_working_days`` after
        the last institution follow-up when no reporter or admin entry came after it (CONTRACT §3);
        still open here after that instant, it counts as overdue (LAPOR! should have closed it).
        A closed case owes nothing: every deadline is ``met``.

        Returns:
            The case's deadlines, with aware UTC instants.
        """
        calendar = self.calendar
        followups = sorted(m.created_at for m in case.thread if m.is_institution_followup)
        first = followups[0] if followups else None
        followup_due = calendar.add_working_days(case.dispositioned_at, self.followup_working_days)
        if not case.state.is_open:
            return SlaResult(SlaStatus.MET, Deadline(DeadlineKind.FOLLOWUP, followup_due, first, SlaStatus.MET), None)
        followup = Deadline(
            DeadlineKind.FOLLOWUP, followup_due, first, SlaStatus.MET if first else self._status(followup_due, at)
        )
        auto_close = None
        if followups and not _replied_after(case.thread, followups[-1]):
            close_at = calendar.add_working_days(followups[-1], self.autoclose_working_days)
            auto_close = Deadline(DeadlineKind.AUTO_CLOSE, close_at, None, self._status(close_at, at))
        statuses = [followup.status] + ([auto_close.status] if auto_close else [])
        return SlaResult(min(statuses, key=lambda s: s.rank), followup, auto_close)

    def cutoffs(self, kind: DeadlineKind, at: datetime) -> StartCutoffs:
        """Where the deadlines of ``kind`` stand at instant ``at`` (aware), by their starting instant.

        The working days are counted once here, whatever the number of cases then counted with the
        result (see :class:`StartCutoffs`). Which deadline a case owes, if any, is still
        :meth:`evaluate`'s rule: the follow-up while no institution follow-up exists, else the
        auto-close unless a reporter or admin replied after the last one.
        """
        days = self.followup_working_days if kind is DeadlineKind.FOLLOWUP else self.autoclose_working_days
        calendar = self.calendar
        horizon = calendar.add_working_days(at, self.due_soon_working_days).astimezone(WIB).date()
        # Due soon is "due on the horizon's WIB date or before" (_status), overdue ones included.
        return StartCutoffs(calendar.started_due_by(at, days), calendar.started_due_on_or_before(horizon, days))

    def working_days_left(self, deadline: Deadline, at: datetime) -> int | None:
        """Working days from ``at``'s WIB date to ``deadline``'s (negative: overdue by that many); ``None`` once met.

        Args:
            deadline: a deadline of :meth:`evaluate`.
            at: the instant it is seen from (aware).
        """
        if deadline.status is SlaStatus.MET:
            return None
        return self.calendar.working_days_apart(at.astimezone(WIB).date(), deadline.due_at.astimezone(WIB).date())

    def _status(self, due_at: datetime, at: datetime) -> SlaStatus:
        """Overdue, due soon or on track: an unmet deadline ``due_at`` seen at ``at``."""
        if at >= due_at:
            return SlaStatus.OVERDUE
        horizon = self.calendar.add_working_days(at, self.due_soon_working_days)
        if due_at.astimezone(WIB).date() <= horizon.astimezone(WIB).date():
            return SlaStatus.DUE_SOON
        return SlaStatus.ON_TRACK


def _replied_after(thread: Sequence[ThreadMark], instant: datetime) -> bool:
    """True when the reporter or an admin wrote in the thread after ``instant`` (stops auto-close)."""
    return any(m.created_at > instant and not m.is_institution_followup for m in thread)
