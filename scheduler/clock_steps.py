"""Steps of the wall clock, told apart from time passing by the monotonic clock, and the schedule kept on them.

APScheduler 3 sleeps until the next run time on the wall clock, worked out before it sleeps
(``BaseScheduler._process_jobs``; the sleep itself is a monotonic ``Event.wait``). After the clock
steps back two hours the next run looks two hours away, so the scheduler sleeps two hours and no
job fires; upstream leaves clock changes to the application (agronholm/apscheduler#351, #752).
After a step forward every job looks late at once: coalesced into one run, or missed. The
monotonic clock never steps, so the wall clock minus the monotonic clock (the *offset*) keeps still
while time passes and moves by exactly the size of a step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import timedelta

from apscheduler.schedulers.base import BaseScheduler

from lapor_sync.domain.clock import Clock
from lapor_sync.domain.timezones import display_wib
from lapor_sync.reports.health import say_age

log = logging.getLogger("lapor_sync.worker")
STEP_SECONDS = 5.0
"""Smallest move of the offset taken for a step, seconds. NTP's slewing moves it by 0.5 ms a second
at most; a step (``date -s``, NTP's first sync, a VM resumed) moves it at once."""
_HINT = "check the time service (NTP: timedatectl timesync-status)"


def clock_offset(clock: Clock, monotonic: Callable[[], float]) -> float:
    """The wall clock (``clock``, the one ticks are read from) minus ``monotonic``, seconds."""
    return clock.now().timestamp() - monotonic()


class ClockFollower:
    """Puts every job of a running scheduler back on its trigger when the wall clock has stepped.

    Two signs of a step, looked for at each :meth:`look`: the offset moved since the last look, or
    a job is due further ahead than its trigger allows (it was scheduled by a clock that was ahead
    and has stepped back since, even if the step forward and back both fell between two looks).

    Args:
        scheduler: the worker's scheduler (``modify_job`` wakes it to recompute its sleep).
        periods: the longest time between two runs of each job, by job id.
        clock: the wall clock the jobs' ticks follow (the one APScheduler reads).
        monotonic: seconds from a clock that never steps, read with ``clock``.
    """

    def __init__(
        self, scheduler: BaseScheduler, periods: Mapping[str, timedelta], clock: Clock, monotonic: Callable[[], float]
    ) -> None:
        self._scheduler, self._periods, self._clock, self._monotonic = scheduler, periods, clock, monotonic
        self._offset = clock_offset(clock, monotonic)

    def look(self) -> bool:
        """Reschedule every job from now if the clock stepped (logged once); return whether it did."""
        offset = clock_offset(self._clock, self._monotonic)
        step, self._offset = offset - self._offset, offset  # afresh at each look: slewing never adds up
        now = self._clock.now()
        jobs = self._scheduler.get_jobs()
        ahead = max(
            (
                next_run - now - self._periods[job.id]
                for job in jobs
                if (next_run := getattr(job, "next_run_time", None)) is not None and job.id in self._periods
            ),
            default=timedelta(0),
        )
        if abs(step) >= STEP_SECONDS:
            log.warning(
                "the system clock stepped %s by %s: every job is rescheduled from %s; %s",
                "back" if step < 0 else "forward",
                say_age(round(abs(step))),
                display_wib(now),
                _HINT,
                extra={"clock_step_seconds": round(step, 3)},
            )
        elif ahead.total_seconds() >= STEP_SECONDS:
            log.warning(
                "jobs were scheduled up to %s further ahead than their triggers allow: the system clock "
                "was ahead and stepped back; every job is rescheduled from %s; %s",
                say_age(round(ahead.total_seconds())),
                display_wib(now),
                _HINT,
                extra={"clock_step_seconds": -round(ahead.total_seconds(), 3)},
            )
        else:
            return False
        for job in jobs:
            # A job whose run time a forward step jumped over runs once now, as a late tick would (the
            # misfire grace would call it missed); the others follow their trigger from now on.
            next_run = getattr(job, "next_run_time", None)
            due = next_run is not None and next_run <= now
            self._scheduler.modify_job(job.id, next_run_time=now if due else job.trigger.get_next_fire_time(None, now))
        return True
