"""Chaos soak: the worker against the hostile simulator, killed with SIGKILL again and again, its job leases
lost again and again; nothing lost or duplicated.

Usage: ``.venv/bin/python scripts/chaos_soak.py [--minutes 10] [--database sqlite|postgres] [--seed 1]
[--kill-every 18] [--write-kill-share 0.4] [--speed 2] [--min-kills N] [--min-faults N]
[--lease-faults | --no-lease-faults] [--lease-fault-every 20] [--step-seconds 120] [--min-lease-losses N]
[--logs DIR]``.
PostgreSQL reads ``LAPOR_SYNC_TEST_POSTGRES_URL``; the SQLite lease faults need libfaketime
(``apt-get install faketime``). ``tests/e2e/test_chaos.py`` runs it for 20 seconds on each engine.

1. Chaos, for ``--minutes``. The simulator is served in-process: data set palangka-raya-2024 from
   2 January 2024 07:00 WIB, its clock running ``--speed`` simulated hours per second so complaints
   keep arriving, no rate limit, fault profile ``hostile`` seeded with ``--seed``. ``lapor-sync
   worker`` runs as a subprocess: pull every 3 s, push every 2 s, reconcile every 5 s (open cases
   unseen for 10 s), outbox watch 1 s, inbox pages of 10 (so walks have pages to drift), a 2 s read
   timeout (below the hostile 3 s silence) and 5 s leases (a killed worker's SQLite lease lapses
   that soon; a PostgreSQL advisory lock goes with its connection). Simulated agency staff act
   every 2 s through the city-records port: follow-ups, completions, return and forward requests,
   each complaint's ending drawn from the seed (``OUTCOME_SHARES``). About every ``--kill-every``
   seconds (seeded) the worker gets SIGKILL and is started again. Some kills happen inside the
   simulator (the world's ``after_followup_stored`` hook) at the instant it has stored one of the
   worker's follow-ups, before the answer goes back: between the national write and the worker's
   local commit. The first kill waits for such a moment as long as it takes; after it,
   ``--write-kill-share`` of the kills wait up to ``--kill-every`` seconds for one, then kill anyway.
   With ``--min-kills``/``--min-faults`` the chaos goes on past ``--minutes`` (at most three times as
   long) until that many kills and injected faults; the duration printed is the real one.

   Lease faults (``--lease-faults``, on by default): a second worker, the *contender*, runs beside
   the killed one with the same settings (never killed; started once the other holds its first
   lease, so the killed one begins the first, long pull), ready to take any job lease that looks
   free. About every ``--lease-fault-every`` seconds (seeded, from a random stream of its own) one
   fault makes a lease a worker holds be lost. Each aims at a job drawn from the seed, push or
   pull, and waits up to ``--lease-fault-every`` seconds for its moment: a worker with a POST in
   flight (an outbox row it claimed is ``sending``), or a worker running a pull (holding the
   ``pull`` lease, which pulls hold far longer than pushes hold theirs). The summary counts the
   moments the faults met.

   * SQLite, clock steps. Both workers run under libfaketime, each following an offset file of
     its own (:class:`~measure_support.SteppedClock`). A step is ``--step-seconds`` (times
     0.5-1.5, seeded: minutes, far past the 5 s lease), holds a few seconds (``HOLD_SECONDS``,
     times 0.5-1.5) and steps back. When the killed worker is the busy one (or no one is busy
     within the patience), either the contender's clock goes ahead (seeded): the contender runs
     its jobs at once and takes the worker's leases, which look expired to it; or the worker's
     own clock goes behind: its renewals write expiries already past, and the contender takes
     its leases at its next tick. When the contender is the busy one, its own clock goes behind
     and the killed worker takes its leases. Either way a lease is taken from a worker that still
     believes it holds it. (The killed worker's clock never goes ahead: killed then, it would
     leave leases that lapse only minutes later, stalling both workers.)
   * PostgreSQL, killed lock connections. At the moment, the session holding the advisory lock of
     the job aimed at (in this soak's schema) is ended with ``pg_terminate_backend``, whichever
     worker holds it, as ``idle_session_timeout`` or a restarted pooler would; the other worker
     takes the lock at its next tick. A moment that did not come within the patience ends no
     session.

   A run that loses its lease ends ``failed`` with ``lease of job '...' lost``: the summary counts
   those runs by job and reason, and the runs stopped by a lost outbox claim. With
   ``--min-lease-losses`` the chaos goes on past ``--minutes`` (at most three times as long, as above)
   until that many runs lost a lease.
2. Settle. Staff stop, both workers get SIGTERM, faults go off, the simulated clock stops running
   (it still moves one second per reading, see ``FastClock``). A contender whose clock was ahead
   stamped rows up to ``--step-seconds`` (times 1.5) in the future (a case's last read, which
   paces its recheck): the settle first waits until those stamps are past, as a real deployment
   would after its clock came right. Sync runs in this process (pull, reconcile of every open
   case, push) repeat until one changes nothing: no case created or updated, nothing pushed or set
   aside, nothing waiting in the outbox, a quiet inbox walk, and nothing changed on LAPOR! while
   it ran (no complaint appeared, none changed: a second per reading adds up to minutes over a
   run); so the last push is followed by full pulls, and forwards approved meanwhile are noticed.
   Before each, outbox rows waiting out a backoff are made due now (what ``lapor-sync outbox
   retry ID`` does). Then ``lapor-sync resync --set-aside`` re-reads the set-aside complaints, and
   the runs repeat until quiet again. Dead letters stay dead: each has its reason, summarised in
   the output.
3. Check. The simulated clock stops; ``check_invariants(final=True)`` compares both sides.

Prints the counts; exits 0 iff the invariants hold (0 lost, 0 duplicated). A busy inbox may keep
the worker's pulls from ever walking it quietly during the chaos (event ``pull.inbox_busy``, cursor
held): allowed, the rows read are stored and the settle's pulls move the cursor.
"""

from __future__ import annotations

import argparse
import logging
import random
import re
import signal
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from tempfile import TemporaryDirectory

from measure_support import (
    LIBFAKETIME,
    FastClock,
    SteppedClock,
    city_app,
    cli,
    end_lock_sessions,
    fresh_database,
    measurement_parser,
    served_simulator,
    staff_round,
    start_worker,
    wait_for_sending,
    worker_env,
)
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from lapor_sync.app import App
from lapor_sync.checks import InvariantReport, check_invariants
from lapor_sync.checks.sides import read_national
from lapor_sync.demo.plan import Outcome
from lapor_sync.domain.actions import ActionRefused
from lapor_sync.domain.reference import find_reference
from lapor_sync.domain.timezones import WIB
from lapor_sync.simulator.faults.plan import FaultKind
from lapor_sync.simulator.model import FollowUp
from lapor_sync.simulator.world import World
from lapor_sync.storage.database import Database
from lapor_sync.storage.lease import held_leases
from lapor_sync.storage.models import OutboxItem, SyncEvent, SyncRun
from lapor_sync.sync.admin.outbox import requeue
from lapor_sync.sync.service import SyncService

START = datetime(2024, 1, 2, 7, 0, tzinfo=WIB)  # the first working morning of the data set
OUTCOME_SHARES = {
    Outcome.COMPLETE: 0.6,
    Outcome.AUTO_CLOSE: 0.15,
    Outcome.IN_PROCESS: 0.05,
    Outcome.RETURN: 0.1,
    Outcome.FORWARD: 0.1,
}
SETTLE_ROUNDS = 12
HOLD_SECONDS = 6.0
"""Mean seconds a clock step holds before the clock steps back: a few of the workers' ticks."""
LEASE_JOBS = ("push", "pull")
"""The jobs a lease fault aims at, one drawn per fault (``reconcile`` shares the ``pull`` lease)."""


@dataclass(frozen=True)
class SoakConfig:
    """One soak's parameters (see the module docstring); ``seconds`` is the chaos phase's length.

    ``min_kills``, ``min_write_kills``, ``min_faults``, ``min_lease_losses``: the chaos phase goes on past
    ``seconds`` (at most three times as long) until that many kills, kills between a national write and
    its local commit, injected faults (``clock_skew`` not counted) and runs that lost a lease happened.
    ``lease_faults``: run the contender and the lease faults of the engine (clock steps on SQLite,
    killed lock connections on PostgreSQL), about every ``lease_fault_every`` seconds; a clock
    step is ``step_seconds`` (times 0.5-1.5).
    """

    seconds: float = 600.0
    database: str = "sqlite"
    seed: int = 1
    kill_every: float = 18.0
    write_kill_share: float = 0.4
    speed_hours: float = 2.0
    staff_every: float = 2.0
    lease_seconds: int = 5
    min_kills: int = 0
    min_write_kills: int = 0
    min_faults: int = 0
    min_lease_losses: int = 0
    lease_faults: bool = True
    lease_fault_every: float = 20.0
    step_seconds: float = 120.0
    logs: Path | None = None


@dataclass
class LeaseLoss:
    """The lease faults made and what they did.

    Attributes:
        kind: ``clock steps`` (SQLite), ``lock connections killed`` (PostgreSQL) or ``off``.
        faults: faults made, by kind (``contender ahead``, ``worker behind``; ``push lock``, ``pull lock``).
        moments: what each fault met (a POST in flight, a pull running; none within the patience).
        waited: seconds the settle waited for the stamps of a clock that was ahead to be past.
        runs_lost: sync runs that ended ``failed`` with ``lease of job '...' lost``, by job and reason.
        claims_lost: sync runs stopped by a lost outbox claim (``claim on outbox row ... lost``).
    """

    kind: str = "off"
    faults: Counter[str] = field(default_factory=Counter)
    moments: Counter[str] = field(default_factory=Counter)
    waited: float = 0.0
    runs_lost: Counter[str] = field(default_factory=Counter)
    claims_lost: int = 0

    @property
    def total(self) -> int:
        """Faults made, every kind together."""
        return sum(self.faults.values())


@dataclass
class SoakResult:
    """What a soak did and found (durations in seconds; ``runs``: sync runs by job and outcome)."""

    config: SoakConfig
    chaos_seconds: float
    settle_seconds: float
    requests: int
    faults: dict[str, int]
    kills: int
    write_kills: int
    unexpected_exits: int
    worker_exit: int
    contender_exit: int | None
    staff: Counter[str]
    runs: Counter[tuple[str, str]]
    lease_loss: LeaseLoss
    settled: Settled
    dead_letters: Counter[str]
    report: InvariantReport

    @property
    def faults_total(self) -> int:
        """Faults injected, ``clock_skew`` left out (see :func:`injected`)."""
        return injected(self.faults)

    @property
    def ok(self) -> bool:
        """Whether the invariants hold: nothing lost, nothing duplicated, nothing undelivered."""
        return self.report.ok and self.report.lost == 0 and self.report.duplicated == 0


def injected(counts: dict[str, int]) -> int:
    """Faults injected, ``clock_skew`` left out: it counts every answer whose clock was shifted."""
    return sum(n for kind, n in counts.items() if kind != FaultKind.CLOCK_SKEW)


def worker_settings(database_url: str, base_url: str, *, lease_seconds: int) -> dict[str, str]:
    """The soak worker's environment: short intervals and leases, a read timeout below the hostile 3 s."""
    return worker_env(
        database_url,
        base_url,
        pull_interval_seconds=3,
        push_interval_seconds=2,
        reconcile_interval_seconds=5,
        outbox_watch_seconds=1,
        open_case_recheck_seconds=10,
        per_page=10,
        http_timeout_seconds=2,
        lease_seconds=lease_seconds,
        shutdown_timeout_seconds=10,
    )


class WorkerProcess:
    """One ``lapor-sync worker`` of the soak (the killed one or the contender): its process now, one log per start.

    Args:
        env: its environment.
        logs: the folder for its output.
        name: its role, naming its log files (``worker-001.log``, ...).
    """

    def __init__(self, env: dict[str, str], logs: Path, name: str) -> None:
        self.env, self.logs, self.name = env, logs, name
        self.starts = self.unexpected_exits = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start a new process of it."""
        self.starts += 1
        self.process = start_worker(self.env, self.logs / f"{self.name}-{self.starts:03d}.log")

    def restarted(self) -> bool:
        """Start it again if it exited by itself (counted in ``unexpected_exits``); return whether it had."""
        assert self.process is not None
        if self.process.poll() is None:
            return False
        self.unexpected_exits += 1
        self.start()
        return True

    def stop(self) -> int:
        """SIGTERM it and wait (SIGKILL after 60 s); return its exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=30)


class ChaosWorker:
    """The worker under chaos: killed with SIGKILL at seeded moments, started again.

    Args:
        worker: the worker process to kill and restart.
        rng: decides when each kill comes and whether it waits for a stored follow-up.
        kill_every: mean seconds between kills (each wait is uniform in 0.5-1.5 times it).
        write_share: share of the kills made at a stored follow-up, once one such kill happened.
        poster: the pid of the process whose claim a follow-up stored on LAPOR! was posted under
            (``None``: not known); a kill at a stored follow-up waits for one of the worker's own.
        others: workers that are not killed (the contender), started again should they exit.
    """

    def __init__(
        self,
        worker: WorkerProcess,
        rng: random.Random,
        *,
        kill_every: float,
        write_share: float,
        poster: Callable[[FollowUp], int | None],
        others: Sequence[WorkerProcess] = (),
    ) -> None:
        self.worker, self.rng, self.poster, self.others = worker, rng, poster, others
        self.kill_every, self.write_share = kill_every, write_share
        self.kills = self.write_kills = 0
        # Guards the process and the armed flag: the simulator's server thread kills through the hook.
        self._lock = threading.Lock()
        self._armed = False
        self._fired = threading.Event()

    @property
    def pid(self) -> int:
        """The worker's current process id."""
        with self._lock:
            assert self.worker.process is not None
            return self.worker.process.pid

    def start(self) -> None:
        """Start a worker process."""
        with self._lock:
            self.worker.start()

    def on_followup_stored(self, followup: FollowUp) -> None:
        """The world's hook (server thread, world locked, answer not yet sent): SIGKILL the worker if armed
        and the follow-up is its own."""
        if not self._armed:
            return
        poster = self.poster(followup)
        with self._lock:
            process = self.worker.process
            if self._armed and process is not None and process.pid == poster:
                self._armed = False
                process.kill()
                self._fired.set()

    def run_for(self, seconds: float, *, enough: Callable[[], bool] = lambda: True) -> None:
        """Kill and restart the worker for ``seconds``; restart it, or another, if it exits by itself.

        Until ``enough()`` says so, the chaos goes on past ``seconds``, up to three times as long.
        """
        began = time.monotonic()

        def left() -> float:
            return (seconds if enough() else 3 * seconds) - (time.monotonic() - began)

        while left() > 0:
            if not self._watch(min(left(), self.rng.uniform(0.5, 1.5) * self.kill_every)):
                continue
            at_write = self.write_kills == 0 or self.rng.random() < self.write_share
            if at_write:
                self._fired.clear()
                with self._lock:
                    self._armed = True
                # Until one kill has landed at a write, each armed kill may wait long for the worker's
                # next write (a contender or a quick push can leave it few), so even a short run gets
                # one there; after it, every wait is short, so a run whose writes come late still gets its kills.
                patience = self.kill_every if self.write_kills else seconds
                self._fired.wait(min(patience, max(0.0, left())))
            over = left() <= 0  # asks enough(), which may read the database: not under the lock
            with self._lock:
                self._armed = False
                fired = at_write and self._fired.is_set()
                if not fired and over:
                    return
                assert self.worker.process is not None
                if not fired:
                    self.worker.process.kill()
                killed = self.worker.process
            self.kills += 1
            self.write_kills += fired
            killed.wait(timeout=30)
            self.start()

    def _watch(self, seconds: float) -> bool:
        """Wait ``seconds``, restarting a worker that exits by itself; return False when the killed one did."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(min(0.2, max(0.0, end - time.monotonic())))
            for other in self.others:
                other.restarted()
            with self._lock:
                if self.worker.restarted():
                    return False
        return True


class LeaseFaults(ABC):
    """Faults that make a job lease held by a worker be lost, at seeded moments, from a thread.

    Args:
        app: reads the soak's database (which rows are ``sending``, which sessions hold locks).
        rng: decides when and which fault (a stream apart from the kills').
        every: mean seconds between faults (each wait uniform in 0.5-1.5 times it), and how long
            each waits for its moment.
        loss: where the faults are counted.
    """

    def __init__(self, app: App, rng: random.Random, every: float, loss: LeaseLoss) -> None:
        self.app, self.rng, self.every, self.loss = app, rng, every, loss
        self.ahead_until = 0.0
        """Wall-clock instant (``time.time()``) until which a clock that was ahead may have stamped rows."""

    def run(self, stop: threading.Event) -> None:
        """Make faults until ``stop``."""
        while not stop.wait(self.rng.uniform(0.5, 1.5) * self.every):
            self.strike(stop)

    def when(self, stop: threading.Event, moment: Callable[[], Moment | None]) -> Moment | None:
        """Call ``moment`` until it finds one, ``stop`` is set or ``every`` seconds passed; return it (or ``None``)."""
        end = time.monotonic() + self.every
        while not stop.is_set():
            if (found := moment()) is not None:
                return found
            if time.monotonic() >= end:
                return None
            stop.wait(0.05)
        return None

    @abstractmethod
    def strike(self, stop: threading.Event) -> None:
        """Make one fault (or miss its moment), counted in ``loss``."""


@dataclass(frozen=True)
class Moment:
    """What a worker was doing when a lease fault struck, in words; ``contender``: the contender was."""

    what: str
    contender: bool = False


class ClockSteps(LeaseFaults):
    """SQLite: a worker's lease made to look expired to the other by a clock step of minutes, stepped back
    a few seconds later (see the module docstring).

    Args:
        worker: the killed worker.
        contender: the contender.
        worker_clock, contender_clock: the clocks the two follow.
        step_seconds: mean size of a step (each uniform in 0.5-1.5 times it).
        app, rng, every, loss: see :class:`LeaseFaults`.
    """

    def __init__(
        self,
        app: App,
        rng: random.Random,
        every: float,
        loss: LeaseLoss,
        *,
        worker: ChaosWorker,
        contender: WorkerProcess,
        worker_clock: SteppedClock,
        contender_clock: SteppedClock,
        step_seconds: float,
    ) -> None:
        super().__init__(app, rng, every, loss)
        self.worker, self.contender, self.step_seconds = worker, contender, step_seconds
        self.worker_clock, self.contender_clock = worker_clock, contender_clock

    def strike(self, stop: threading.Event) -> None:
        """Draw a job, wait for a worker busy with it (the killed one when none comes), step one clock, hold,
        step back.

        The killed worker loses its lease to the contender's clock going ahead (the contender runs its
        jobs at once and takes it) or to its own going behind (its renewals write expiries already
        past; the contender takes it at its next tick); the contender loses its lease to its own clock
        going behind. The killed worker's clock never goes ahead: killed then, it would leave leases
        that lapse only minutes later.
        """
        job = self.rng.choice(LEASE_JOBS)
        ahead = self.rng.random() < 0.5
        size = self.rng.uniform(0.5, 1.5) * self.step_seconds
        hold = self.rng.uniform(0.5, 1.5) * HOLD_SECONDS
        moment = self.when(stop, partial(self._busy, job))
        if stop.is_set():
            return
        if moment is not None and moment.contender:
            kind, clock, offset = "contender behind", self.contender_clock, -size
        elif ahead:
            kind, clock, offset = "contender ahead", self.contender_clock, size
        else:
            kind, clock, offset = "worker behind", self.worker_clock, -size
        clock.step(offset)
        try:
            stop.wait(hold)  # the end of the chaos steps it back at once
        finally:
            clock.step(0)
        if offset > 0:
            self.ahead_until = max(self.ahead_until, time.time() + offset)
        self.loss.faults[kind] += 1
        self.loss.moments[moment.what if moment else f"no {job} within the patience (stepped anyway)"] += 1

    def _busy(self, job: str) -> Moment | None:
        """A worker doing what a lost lease of ``job`` would cut into: a POST in flight (push), a pull running."""
        assert self.contender.process is not None
        for name, pid in (("worker", self.worker.pid), ("contender", self.contender.process.pid)):
            if job == "push" and wait_for_sending(self.app, 0, claimer=f":{pid} "):
                return Moment(f"a POST of the {name} in flight", contender=name == "contender")
            if job == "pull" and _holds_lease(self.app, pid, "pull"):
                return Moment(f"a pull of the {name} running", contender=name == "contender")
        return None


def _holds_lease(app: App, pid: int, job: str | None = None) -> bool:
    """Whether the process ``pid`` holds a job lease now (``job``'s, or any)."""
    return any(f":{pid} " in lease.holder and job in (None, lease.job) for lease in held_leases(app.db, app.clock))


class LockKills(LeaseFaults):
    """PostgreSQL: the session holding a push or pull lock is ended while that job runs (see the module docstring)."""

    def strike(self, stop: threading.Event) -> None:
        """Draw a job; once it runs (a push with a POST in flight, a pull with its lock), end its lock's session."""
        job = self.rng.choice(LEASE_JOBS)

        def end_when_running() -> Moment | None:
            if job == "push" and not wait_for_sending(self.app, 0.5):
                return None
            if not end_lock_sessions(self.app, job):
                return None
            return Moment("a POST in flight" if job == "push" else "a pull holding its lock")

        moment = self.when(stop, end_when_running)
        if moment is not None:
            self.loss.faults[f"{job} lock"] += 1
        if moment is not None or not stop.is_set():
            self.loss.moments[moment.what if moment else f"no {job} within the patience: no session ended"] += 1


def draw_outcomes(world: World, seed: int) -> dict[int, Outcome]:
    """How staff end each complaint of the data set, drawn from ``seed`` (shares: ``OUTCOME_SHARES``)."""
    rng = random.Random(f"outcomes:{seed}")
    kinds, weights = list(OUTCOME_SHARES), list(OUTCOME_SHARES.values())
    return {c.complaint_id: rng.choices(kinds, weights)[0] for c in world.all_complaints()}


def keep_staff_working(
    app: App, outcomes: dict[int, Outcome], every: float, stop: threading.Event, tally: Counter[str]
) -> None:
    """Staff rounds every ``every`` seconds until ``stop``; a refused action or a busy database skips a round."""
    while not stop.wait(every):
        try:
            done = staff_round(app, outcomes)
        except (ActionRefused, DBAPIError) as exc:
            tally[f"rounds skipped ({type(exc).__name__})"] += 1
            continue
        tally.update(rounds=1, followups=done.followups, completions=done.completions, requests=done.requests)


def _due_now(app: App) -> int:
    """Make outbox rows waiting out a backoff due now (``lapor-sync outbox retry ID``); return how many."""
    now = app.clock.now()
    with app.db.session() as session:
        waiting = session.exec(
            select(OutboxItem.id).where(OutboxItem.state == "pending", OutboxItem.next_attempt_at > now)
        ).all()
    for item_id in waiting:
        requeue(app.db, now, app.institution_id, item_id=item_id, requested_by="chaos soak (settle)")
    return len(waiting)


def _changed(app: App, run: SyncRun) -> bool:
    """Whether a settle run changed anything, failed, left rows waiting, or walked an inbox that kept changing."""
    with app.db.session() as session:
        busy = session.exec(
            select(SyncEvent.id).where(SyncEvent.run_id == run.id, SyncEvent.kind == "pull.inbox_busy")
        ).first()
        waiting = session.exec(select(OutboxItem.id).where(col(OutboxItem.state).in_(["pending", "sending"]))).first()
    moved = run.created + run.updated + run.set_aside + run.pushed + run.failed + run.dead_lettered
    return run.outcome != "ok" or bool(moved) or busy is not None or waiting is not None


def _national_mark(world: World, institution_id: int) -> tuple[int, datetime | None]:
    """How many complaints of the city's tree LAPOR! shows, and the latest change to one: both move with any change."""
    national = read_national(world, institution_id)
    return len(national), max((c.updated_at for c in national.values()), default=None)


@dataclass
class Settled:
    """What the settle phase did: sync runs, rows made due, the resync's exit code, whether it ended quiet.

    ``moved_under``: runs that changed nothing here while LAPOR! changed under them (so not quiet).
    """

    runs: int = 0
    moved_under: int = 0
    made_due: int = 0
    resync_exit: int = 0
    quiet: bool = False
    notes: list[str] = field(default_factory=list)

    def sync_until_quiet(self, app: App, service: SyncService, world: World) -> bool:
        """Run full syncs until one changes nothing on either side (at most ``SETTLE_ROUNDS``); return whether one did.

        Nothing may change on LAPOR! while the run goes on either: the simulated clock still moves a
        second per reading, so a complaint may appear, or a reporter reply come, after the run walked
        the inbox (its reconcile alone reads for minutes of simulated time); the next run reads it.
        """
        for _ in range(SETTLE_ROUNDS):
            self.made_due += _due_now(app)
            self.runs += 1
            before = _national_mark(world, app.institution_id)
            run = service.run(trigger="command", lease_wait_seconds=app.settings.lease_wait_seconds)
            if not _changed(app, run):
                if _national_mark(world, app.institution_id) == before:
                    return True
                self.moved_under += 1
        self.notes.append(f"settle: no quiet sync run within {SETTLE_ROUNDS}")
        return False


def settle(app: App, env: dict[str, str], world: World) -> Settled:
    """Phase 2 (faults off, no worker, no staff): sync until quiet, resync the set-aside records, again."""
    done = Settled()
    with app.platform() as platform:
        service = app.sync_service(platform)
        done.sync_until_quiet(app, service, world)
        resync = cli(env, "resync", "--set-aside")
        done.resync_exit = resync.returncode
        if resync.returncode != 0:
            done.notes.append(f"resync --set-aside: {(resync.stderr or resync.stdout).strip()[-300:]}")
        done.quiet = done.sync_until_quiet(app, service, world)
    return done


def _dead_letter_reasons(app: App) -> Counter[str]:
    """Dead letters by reason, numbers replaced by ``N`` so alike reasons count together."""
    with app.db.session() as session:
        reasons = session.exec(select(OutboxItem.kind, OutboxItem.last_error).where(OutboxItem.state == "dead"))
        return Counter(f"{kind}: {re.sub(r'[0-9]+', 'N', error or '(no reason)')[:140]}" for kind, error in reasons)


def _runs(app: App) -> Counter[tuple[str, str]]:
    with app.db.session() as session:
        return Counter((job, outcome) for job, outcome in session.exec(select(SyncRun.job, SyncRun.outcome)))


def _losses(app: App) -> tuple[Counter[str], int]:
    """The runs that ended ``failed`` for a lost lease (by job and reason), and how many for a lost outbox claim."""
    leases, claims = Counter[str](), 0
    with app.db.session() as session:
        for job, error in session.exec(select(SyncRun.job, SyncRun.error).where(SyncRun.outcome == "failed")):
            if lost := re.match(r"lease of job '[^']+' lost: (.*)", error or ""):
                leases[f"{job}: {lost[1]}"] += 1
            claims += (error or "").startswith("claim on outbox row")
    return leases, claims


def _poster_pid(db: Database, followup: FollowUp) -> int | None:
    """The process id in the name of the claim under which ``followup`` (by its reference token) was posted."""
    token = find_reference(followup.content)
    if token is None:
        return None
    with db.session() as session:
        claimer = session.exec(select(OutboxItem.claimed_by).where(OutboxItem.idempotency_key == token)).first()
    named = re.match(r"[^\s:]+:(\d+) ", claimer or "")
    return int(named[1]) if named else None


@dataclass
class Crew:
    """The soak's workers: the one killed again and again, the contender beside it, and the lease faults.

    ``app`` reads the soak's database.
    """

    app: App
    chaos: ChaosWorker
    contender: WorkerProcess | None = None
    lease_faults: LeaseFaults | None = None
    loss: LeaseLoss = field(default_factory=LeaseLoss)

    @classmethod
    def hire(cls, config: SoakConfig, env: dict[str, str], app: App, logs: Path, scratch: Path) -> Crew:
        """The workers and faults ``config`` asks for; ``app`` reads the database, ``scratch`` holds the clocks."""

        def chaos_worker(environment: dict[str, str], others: Sequence[WorkerProcess] = ()) -> ChaosWorker:
            return ChaosWorker(
                WorkerProcess(environment, logs, "worker"),
                random.Random(config.seed),
                kill_every=config.kill_every,
                write_share=config.write_kill_share,
                poster=partial(_poster_pid, app.db),
                others=others,
            )

        if not config.lease_faults:
            return cls(app, chaos_worker(env))
        rng = random.Random(f"lease faults:{config.seed}")
        if config.database == "postgres":
            contender = WorkerProcess(env, logs, "contender")
            crew = cls(app, chaos_worker(env, [contender]), contender, loss=LeaseLoss(kind="lock connections killed"))
            crew.lease_faults = LockKills(app, rng, config.lease_fault_every, crew.loss)
            return crew
        if not LIBFAKETIME.exists():
            raise SystemExit(
                f"the SQLite lease faults need libfaketime ({LIBFAKETIME}): apt-get install faketime, "
                "or --no-lease-faults"
            )
        worker_clock, contender_clock = (
            SteppedClock(scratch / "worker-clock"),
            SteppedClock(scratch / "contender-clock"),
        )
        contender = WorkerProcess(contender_clock.env(env), logs, "contender")
        crew = cls(app, chaos_worker(worker_clock.env(env), [contender]), contender, loss=LeaseLoss(kind="clock steps"))
        crew.lease_faults = ClockSteps(
            app,
            rng,
            config.lease_fault_every,
            crew.loss,
            worker=crew.chaos,
            contender=contender,
            worker_clock=worker_clock,
            contender_clock=contender_clock,
            step_seconds=config.step_seconds,
        )
        return crew

    def start(self) -> None:
        """Start the workers: the contender once the other holds its first lease (or after 30 s).

        So the worker under chaos, not the contender, begins the first pull, the longest (every
        complaint so far), and the contender stands by to take its leases.
        """
        self.chaos.start()
        if self.contender is None:
            return
        deadline = time.monotonic() + 30
        while not _holds_lease(self.app, self.chaos.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.contender.start()

    def stop(self) -> tuple[int, int | None]:
        """SIGTERM the workers; return their exit codes (the contender's ``None`` when there is none)."""
        return self.chaos.worker.stop(), None if self.contender is None else self.contender.stop()

    def wait_out_stamps(self) -> float:
        """Wait until no row stamped by a clock that was ahead is in the future any more; return the seconds waited."""
        wait = max(0.0, self.lease_faults.ahead_until - time.time()) if self.lease_faults is not None else 0.0
        time.sleep(wait)
        return wait


def run_soak(config: SoakConfig) -> SoakResult:
    """Run the three phases (module docstring) and return the counts and the invariant report."""
    clock = FastClock(START, speed=config.speed_hours * 3600)
    with (
        fresh_database(config.database) as url,
        served_simulator(clock=clock, faults="hostile", fault_seed=config.seed) as served,
        TemporaryDirectory() as scratch,
    ):
        simulator, world = served.simulator, served.simulator.world
        staff_app = city_app(url, served.base_url)
        staff_app.writable_db()  # migrated once, before any worker starts
        env = worker_settings(url, served.base_url, lease_seconds=config.lease_seconds)
        logs = config.logs or Path(scratch)
        logs.mkdir(parents=True, exist_ok=True)
        crew = Crew.hire(config, env, staff_app, logs, Path(scratch))
        chaos = crew.chaos
        stop_staff, stop_faults, staff = threading.Event(), threading.Event(), Counter[str]()
        threads = [
            threading.Thread(
                target=keep_staff_working,
                args=(staff_app, draw_outcomes(world, config.seed), config.staff_every, stop_staff, staff),
            )
        ]
        if crew.lease_faults is not None:
            threads.append(threading.Thread(target=crew.lease_faults.run, args=(stop_faults,)))
        world.after_followup_stored = chaos.on_followup_stored
        began = time.monotonic()
        crew.start()
        for thread in threads:
            thread.start()
        chaos.run_for(
            config.seconds,
            enough=lambda: (
                chaos.kills >= config.min_kills
                and chaos.write_kills >= config.min_write_kills
                and injected(simulator.fault_counts()) >= config.min_faults
                and sum(_losses(staff_app)[0].values()) >= config.min_lease_losses
            ),
        )
        stop_faults.set()  # every clock right again
        stop_staff.set()
        for thread in threads:
            thread.join()  # the staff's last round commits before the settle starts
        worker_exit, contender_exit = crew.stop()
        world.after_followup_stored = None
        chaos_seconds = time.monotonic() - began

        plan = simulator.faults.plan
        requests = plan.requests if plan is not None else 0
        simulator.set_faults(None)
        clock.set_speed(0)
        crew.loss.waited = crew.wait_out_stamps()
        # The settle rechecks every open case each round (a forward approved meanwhile is noticed), so
        # the recheck budget that paces a deployment (and that the chaos may have spent today) is lifted.
        settle_app = city_app(
            url,
            served.base_url,
            open_case_recheck_seconds=1,
            recheck_requests_per_cycle=10**9,
            recheck_requests_per_day=10**9,
            lease_wait_seconds=config.lease_seconds + 30,
        )
        settled = settle(settle_app, env, world)
        clock.freeze()
        report = check_invariants(
            simulator,
            settle_app.db,
            settle_app.institution_id,
            overlap=timedelta(seconds=settle_app.settings.overlap_seconds),
            final=True,
        )
        crew.loss.runs_lost, crew.loss.claims_lost = _losses(settle_app)
        result = SoakResult(
            config=config,
            chaos_seconds=chaos_seconds,
            settle_seconds=time.monotonic() - began - chaos_seconds,
            requests=requests,
            faults=simulator.fault_counts(),
            kills=chaos.kills,
            write_kills=chaos.write_kills,
            unexpected_exits=chaos.worker.unexpected_exits + sum(w.unexpected_exits for w in chaos.others),
            worker_exit=worker_exit,
            contender_exit=contender_exit,
            staff=staff,
            runs=_runs(settle_app),
            lease_loss=crew.loss,
            settled=settled,
            dead_letters=_dead_letter_reasons(settle_app),
            report=report,
        )
        staff_app.db.dispose()
        settle_app.db.dispose()
        return result


def _print_lease_loss(result: SoakResult) -> None:
    """Print the lease faults and the runs that lost a lease or a claim."""
    loss = result.lease_loss
    if loss.kind == "off":
        print("lease faults: off (no contender)")
        return
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(loss.faults.items()))
    moments = ", ".join(f"{moment} {n}" for moment, n in sorted(loss.moments.items()))
    print(
        f"lease faults, {loss.kind} (a contender worker beside the killed one): {loss.total} ({kinds}); "
        f"moments: {moments}"
    )
    if loss.kind == "clock steps":
        print(f"  stamps of a clock that was ahead waited out before the settle: {loss.waited:.0f} s")
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(loss.runs_lost.items()))
    print(
        f"runs that ended failed, lease lost: {sum(loss.runs_lost.values())} ({reasons or 'none'}); "
        f"outbox claim lost: {loss.claims_lost}"
    )


def print_result(result: SoakResult) -> None:
    """Print the soak's counts, one topic per line."""
    c, report, settled = result.config, result.report, result.settled
    print(
        f"database {c.database}, seed {c.seed}: chaos {result.chaos_seconds:.0f} s, then settle "
        f"{result.settle_seconds:.0f} s ({settled.runs} sync runs, {settled.moved_under} of them quiet here while "
        f"LAPOR! changed, {'quiet' if settled.quiet else 'NOT quiet'}; "
        f"{settled.made_due} outbox rows made due; resync --set-aside exit {settled.resync_exit})"
    )
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(result.faults.items(), key=lambda kv: -kv[1]))
    print(
        f"faults injected: {result.faults_total} in {result.requests} contract requests (clock_skew not "
        f"counted); by kind: {kinds}"
    )
    print(
        f"kills (SIGKILL): {result.kills}, of which {result.write_kills} between a national write and the "
        f"local commit; worker exits not caused by us: {result.unexpected_exits}"
    )
    _print_lease_loss(result)
    print(f"staff: {dict(result.staff)}")
    runs = ", ".join(f"{job} {outcome} {n}" for (job, outcome), n in sorted(result.runs.items()))
    print(f"sync runs ('running': left by a killed worker): {runs}")
    print(f"complaints: national {report.complaints_national}, city {report.complaints_city}")
    print(
        f"follow-ups: expected {report.followups_expected}, found {report.followups_found}; "
        f"status changes delivered {report.status_changes_expected}"
    )
    print(f"lost {report.lost}, duplicated {report.duplicated}")
    print(f"dead-lettered: {sum(result.dead_letters.values())}")
    for reason, n in result.dead_letters.most_common():
        print(f"  {n} x {reason}")
    print(f"set-aside records: {report.set_aside} ({len(report.unresolved_set_aside)} unresolved)")
    for finding in report.findings:
        if finding.count:
            print(f"  {'VIOLATION ' if finding.violation else ''}{finding.sentence()}")
    for note in settled.notes:
        print(f"note: {note}")
    why = " (SIGTERM came before it set up its signal handlers)" if result.worker_exit == -signal.SIGTERM else ""
    contender = "" if result.contender_exit is None else f", the contender {result.contender_exit}"
    print(f"the last worker exited {result.worker_exit} on SIGTERM{why}{contender}")
    print(f"invariants: {report.summary()}")


def main() -> None:
    """Parse the arguments, run the soak, print the counts; exit 0 iff the invariants hold."""
    parser = measurement_parser(__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kill-every", type=float, default=18.0, help="mean seconds between kills")
    parser.add_argument("--write-kill-share", type=float, default=0.4)
    parser.add_argument("--speed", type=float, default=2.0, help="simulated hours per wall-clock second")
    parser.add_argument(
        "--min-kills", type=int, default=0, help="go on past --minutes (at most three times as long) until so many"
    )
    parser.add_argument(
        "--min-faults", type=int, default=0, help="go on past --minutes (at most three times as long) until so many"
    )
    parser.add_argument(
        "--lease-faults",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a contender worker, and clock steps (sqlite) or killed lock connections (postgres)",
    )
    parser.add_argument("--lease-fault-every", type=float, default=20.0, help="mean seconds between lease faults")
    parser.add_argument("--step-seconds", type=float, default=120.0, help="mean size of a clock step (sqlite)")
    parser.add_argument(
        "--min-lease-losses",
        type=int,
        default=0,
        help="go on past --minutes (at most three times as long) until so many runs lost a lease",
    )
    parser.add_argument("--logs", type=Path, default=None, help="keep the workers' logs in this folder")
    args = parser.parse_args()
    logging.getLogger("lapor_sync").setLevel(logging.ERROR)  # the settle runs' events are in the database
    result = run_soak(
        SoakConfig(
            seconds=args.minutes * 60,
            database=args.database,
            seed=args.seed,
            kill_every=args.kill_every,
            write_kill_share=args.write_kill_share,
            speed_hours=args.speed,
            min_kills=args.min_kills,
            min_faults=args.min_faults,
            min_lease_losses=args.min_lease_losses,
            lease_faults=args.lease_faults,
            lease_fault_every=args.lease_fault_every,
            step_seconds=args.step_seconds,
            logs=args.logs,
        )
    )
    print_result(result)
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
