"""The worker's jobs as data: name, trigger and the tick a run belongs to, built from the settings.

Interval jobs fire on a grid: at whole multiples of their interval since the Unix epoch (UTC),
not counted from the worker's start. So every worker on one database fires the same ticks, and
the lease plus the "a run already belongs to this tick" check (``JobRunner.execute``) lets exactly one
of them run each tick. Daily jobs are cron triggers in Asia/Jakarta (WIB); the scheduler itself
keeps UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from lapor_sync.config.settings import Settings
from lapor_sync.domain.runs import Job
from lapor_sync.domain.timezones import WIB

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OUTBOX_WATCH = "outbox-watch"
"""Not a sync job (it makes no run): the look for new outbox rows that starts the push job early."""


class GridTrigger(BaseTrigger):
    """Fires at ``offset`` plus whole multiples of ``seconds`` since the Unix epoch (UTC).

    After a run moved off the grid (the push job started early by the outbox watcher), the next
    fire time is the next grid point again.

    Args:
        seconds: the interval, seconds (> 0).
        offset: shift of the grid, seconds (``0 <= offset < seconds``).
    """

    __slots__ = ("interval", "offset")

    def __init__(self, seconds: float, offset: float = 0) -> None:
        if seconds <= 0 or not 0 <= offset < seconds:
            raise ValueError("need seconds > 0 and 0 <= offset < seconds")
        self.interval = timedelta(seconds=seconds)
        self.offset = timedelta(seconds=offset)

    def floor(self, instant: datetime) -> datetime:
        """The latest grid point at or before ``instant`` (aware; returned in UTC)."""
        origin = EPOCH + self.offset
        return origin + ((instant - origin) // self.interval) * self.interval

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        """The first grid point after ``previous_fire_time``, or at/after ``now`` on the first call."""
        if previous_fire_time is None:
            point = self.floor(now)
            return point if point == now else point + self.interval
        return self.floor(previous_fire_time) + self.interval

    def __repr__(self) -> str:
        return f"GridTrigger(every {self.interval.total_seconds():g} s, offset {self.offset.total_seconds():g} s)"


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job.

    Attributes:
        name: the sync job (``pull``, ``push``, ``reconcile``, ``sla``, ``retention``), or ``outbox-watch``.
        trigger: a :class:`GridTrigger` or a daily ``CronTrigger`` in WIB.
        period: time between two ticks (the grid's interval, or one day).
    """

    name: Job | str
    trigger: BaseTrigger
    period: timedelta

    def tick(self, now: datetime) -> datetime:
        """The scheduled instant (aware UTC) a run started at ``now`` belongs to: the latest at or before it."""
        if isinstance(self.trigger, GridTrigger):
            return self.trigger.floor(now)
        assert isinstance(self.trigger, CronTrigger)
        # A daily trigger: the one fire time in (now - 1 day, now].
        previous = self.trigger.get_next_fire_time(None, now - self.period + timedelta(microseconds=1))
        assert previous is not None
        return previous.astimezone(UTC)


def daily_wib(hour: int, minute: int) -> CronTrigger:
    """A trigger firing every day at ``hour:minute`` WIB (Asia/Jakarta)."""
    return CronTrigger(hour=hour, minute=minute, timezone=WIB)


def job_specs(settings: Settings) -> list[JobSpec]:
    """The worker's jobs from the ``*_interval_seconds``, ``*_time`` and ``outbox_watch_seconds`` settings.

    Push and reconcile grids are shifted by half an interval so their ticks do not coincide with
    a pull's. Reconcile shares the ``pull`` lease: meeting a pull, it would always be skipped. A
    push posting follow-ups while a pull walks the inbox changes what the walk reads, and a walk
    that keeps changing holds the cursor back (``PullOptions.max_passes``).
    """
    s = settings
    day = timedelta(days=1)

    def grid(name: Job | str, seconds: int, offset: float = 0) -> JobSpec:
        return JobSpec(name, GridTrigger(seconds, offset % seconds), timedelta(seconds=seconds))

    return [
        grid(Job.PULL, s.pull_interval_seconds),
        grid(Job.PUSH, s.push_interval_seconds, s.push_interval_seconds / 2),
        grid(Job.RECONCILE, s.reconcile_interval_seconds, s.pull_interval_seconds / 2),
        JobSpec(Job.SLA, daily_wib(s.sla_check_time.hour, s.sla_check_time.minute), day),
        JobSpec(Job.RETENTION, daily_wib(s.retention_time.hour, s.retention_time.minute), day),
        grid(OUTBOX_WATCH, s.outbox_watch_seconds),
    ]
