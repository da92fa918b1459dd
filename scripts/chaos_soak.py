"""Chaos soak: the worker against the hostile simulator, killed with SIGKILL again and again; nothing lost or duplicated.

Usage: ``.venv/bin/python scripts/chaos_soak.py [--minutes 10] [--database sqlite|postgres] [--seed 1]
[--kill-every 18] [--write-kill-share 0.4] [--speed 2] [--min-kills N] [--min-faults N] [--logs DIR]``.
PostgreSQL reads ``LAPOR_SYNC_TEST_POSTGRES_URL``. ``tests/test_chaos.py`` runs it for 20 seconds.

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
   With ``--min-kills``/``--min-faults`` the chaos goes on past ``--minutes`` (at most twice as
   long) until that many kills and injected faults; the duration printed is the real one.
2. Settle. Staff stop, the worker gets SIGTERM, faults go off, the simulated clock stops running
   (it still moves one second per reading, see ``FastClock``). Sync runs in this process (pull,
   reconcile of every open case, push) repeat until one changes nothing: no case created or
   updated, nothing pushed or set aside, nothing waiting in the outbox, a quiet inbox walk; so the
   last push is followed by full pulls, and forwards approved meanwhile are noticed. Before each,
   outbox rows waiting out a backoff are made due now (what ``lapor-sync outbox retry ID`` does).
   Then ``lapor-sync resync --set-aside`` re-reads the set-aside complaints, and the runs repeat
   until quiet again. Dead letters stay dead: each has its reason, summarised in the output.
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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from measure_support import (
    FastClock,
    city_app,
    cli,
    fresh_database,
    served_simulator,
    staff_round,
    start_worker,
    worker_env,
)
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from lapor_sync.app import App
from lapor_sync.checks import InvariantReport, check_invariants
from lapor_sync.demo.plan import Outcome
from lapor_sync.domain.actions import ActionRefused
from lapor_sync.simulator.faults import FaultKind
from lapor_sync.simulator.model import FollowUp
from lapor_sync.simulator.world import World
from lapor_sync.storage.models import OutboxItem, SyncEvent, SyncRun
from lapor_sync.sync.outbox_admin import requeue
from lapor_sync.sync.service import SyncService
from lapor_sync.timezones import WIB

START = datetime(2024, 1, 2, 7, 0, tzinfo=WIB)  # the first working morning of the data set
OUTCOME_SHARES = {Outcome.COMPLETE: 0.6, Outcome.AUTO_CLOSE: 0.15, Outcome.IN_PROCESS: 0.05,
                  Outcome.RETURN: 0.1, Outcome.FORWARD: 0.1}
SETTLE_ROUNDS = 12


@dataclass(frozen=True)
class SoakConfig:
    """One soak's parameters (see the module docstring); ``seconds`` is the chaos phase's length.

    ``min_kills``, ``min_faults``: the chaos phase goes on past ``seconds`` (at most twice as long)
    until that many kills and injected faults (``clock_skew`` not counted) happened.
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
    min_faults: int = 0
    logs: Path | None = None


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
    staff: Counter[str]
    runs: Counter[tuple[str, str]]
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
    return worker_env(database_url, base_url, pull_interval_seconds=3, push_interval_seconds=2,
                      reconcile_interval_seconds=5, outbox_watch_seconds=1, open_case_recheck_seconds=10,
                      per_page=10, http_timeout_seconds=2, lease_seconds=lease_seconds, shutdown_timeout_seconds=10)


class ChaosWorker:
    """``lapor-sync worker`` under chaos: started, killed with SIGKILL at seeded moments, started again.

    Args:
        env: the worker's environment.
        logs: the folder for the workers' output (one file per start).
        rng: decides when each kill comes and whether it waits for a stored follow-up.
        kill_every: mean seconds between kills (each wait is uniform in 0.5-1.5 times it).
        write_share: share of the kills made at a stored follow-up, once one such kill happened.
    """

    def __init__(self, env: dict[str, str], logs: Path, rng: random.Random, *, kill_every: float,
                 write_share: float) -> None:
        self.env, self.logs, self.rng = env, logs, rng
        self.kill_every, self.write_share = kill_every, write_share
        self.kills = self.write_kills = self.unexpected_exits = 0
        # Guards the process and the armed flag: the simulator's server thread kills through the hook.
        self._lock = threading.Lock()
        self._armed = False
        self._fired = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._starts = 0

    def start(self) -> None:
        """Start a worker process."""
        self._starts += 1
        process = start_worker(self.env, self.logs / f"worker-{self._starts:03d}.log")
        with self._lock:
            self._process = process

    def on_followup_stored(self, _followup: FollowUp) -> None:
        """The world's hook (server thread, world locked, answer not yet sent): SIGKILL the worker if armed."""
        with self._lock:
            if self._armed and self._process is not None:
                self._armed = False
                self._process.kill()
                self._fired.set()

    def run_for(self, seconds: float, *, enough: Callable[[], bool] = lambda: True) -> None:
        """Kill and restart the worker for ``seconds``; restart it too if it exits by itself.

        Until ``enough()`` says so, the chaos goes on past ``seconds``, up to twice as long.
        """
        began = time.monotonic()

        def left() -> float:
            return (seconds if enough() else 2 * seconds) - (time.monotonic() - began)

        while left() > 0:
            if not self._watch(min(left(), self.rng.uniform(0.5, 1.5) * self.kill_every)):
                continue
            at_write = self.write_kills == 0 or self.rng.random() < self.write_share
            if at_write:
                self._fired.clear()
                with self._lock:
                    self._armed = True
                # The first such kill may wait till the end: even a short run gets one.
                patience = self.kill_every if self.write_kills else seconds
                self._fired.wait(min(patience, max(0.0, left())))
            with self._lock:
                self._armed = False
                fired = at_write and self._fired.is_set()
                if not fired and left() <= 0:
                    return
                if not fired:
                    assert self._process is not None
                    self._process.kill()
            self.kills += 1
            self.write_kills += fired
            self._restart()

    def _watch(self, seconds: float) -> bool:
        """Wait ``seconds``, restarting a worker that exits by itself; return False when one did."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(min(0.2, max(0.0, end - time.monotonic())))
            assert self._process is not None
            if self._process.poll() is not None:
                self.unexpected_exits += 1
                self.start()
                return False
        return True

    def _restart(self) -> None:
        assert self._process is not None
        self._process.wait(timeout=30)
        self.start()

    def stop(self) -> int:
        """SIGTERM the worker and wait for it (SIGKILL after 60 s); return its exit code."""
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        try:
            return self._process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._process.kill()
            return self._process.wait(timeout=30)


def draw_outcomes(world: World, seed: int) -> dict[int, Outcome]:
    """How staff end each complaint of the data set, drawn from ``seed`` (shares: ``OUTCOME_SHARES``)."""
    rng = random.Random(f"outcomes:{seed}")
    kinds, weights = list(OUTCOME_SHARES), list(OUTCOME_SHARES.values())
    return {c.complaint_id: rng.choices(kinds, weights)[0] for c in world.all_complaints()}


def keep_staff_working(app: App, outcomes: dict[int, Outcome], every: float, stop: threading.Event,
                       tally: Counter[str]) -> None:
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
        waiting = session.exec(select(OutboxItem.id).where(OutboxItem.state == "pending",
                                                           OutboxItem.next_attempt_at > now)).all()
    for item_id in waiting:
        requeue(app.db, now, app.institution_id, item_id=item_id, requested_by="chaos soak (settle)")
    return len(waiting)


def _changed(app: App, run: SyncRun) -> bool:
    """Whether a settle run changed anything, failed, left rows waiting, or walked an inbox that kept changing."""
    with app.db.session() as session:
        busy = session.exec(select(SyncEvent.id).where(SyncEvent.run_id == run.id,
                                                       SyncEvent.kind == "pull.inbox_busy")).first()
        waiting = session.exec(select(OutboxItem.id).where(col(OutboxItem.state).in_(["pending", "sending"]))).first()
    moved = run.created + run.updated + run.set_aside + run.pushed + run.failed + run.dead_lettered
    return run.outcome != "ok" or bool(moved) or busy is not None or waiting is not None


@dataclass
class Settled:
    """What the settle phase did: sync runs, rows made due, the resync's exit code, whether it ended quiet."""

    runs: int = 0
    made_due: int = 0
    resync_exit: int = 0
    quiet: bool = False
    notes: list[str] = field(default_factory=list)

    def sync_until_quiet(self, app: App, service: SyncService) -> bool:
        """Run full syncs until one changes nothing (at most ``SETTLE_ROUNDS``); return whether one did."""
        for _ in range(SETTLE_ROUNDS):
            self.made_due += _due_now(app)
            self.runs += 1
            if not _changed(app, service.run(trigger="command", lease_wait_seconds=app.settings.lease_wait_seconds)):
                return True
        self.notes.append(f"settle: no quiet sync run within {SETTLE_ROUNDS}")
        return False


def settle(app: App, env: dict[str, str]) -> Settled:
    """Phase 2 (faults off, no worker, no staff): sync until quiet, resync the set-aside records, again."""
    done = Settled()
    with app.platform() as platform:
        service = app.sync_service(platform)
        done.sync_until_quiet(app, service)
        resync = cli(env, "resync", "--set-aside")
        done.resync_exit = resync.returncode
        if resync.returncode != 0:
            done.notes.append(f"resync --set-aside: {(resync.stderr or resync.stdout).strip()[-300:]}")
        done.quiet = done.sync_until_quiet(app, service)
    return done


def _dead_letter_reasons(app: App) -> Counter[str]:
    """Dead letters by reason, numbers replaced by ``N`` so alike reasons count together."""
    with app.db.session() as session:
        reasons = session.exec(select(OutboxItem.kind, OutboxItem.last_error).where(OutboxItem.state == "dead"))
        return Counter(f"{kind}: {re.sub(r'[0-9]+', 'N', error or '(no reason)')[:140]}" for kind, error in reasons)


def _runs(app: App) -> Counter[tuple[str, str]]:
    with app.db.session() as session:
        return Counter((job, outcome) for job, outcome in session.exec(select(SyncRun.job, SyncRun.outcome)))


def run_soak(config: SoakConfig) -> SoakResult:
    """Run the three phases (module docstring) and return the counts and the invariant report."""
    clock = FastClock(START, speed=config.speed_hours * 3600)
    with fresh_database(config.database) as url, \
            served_simulator(clock=clock, faults="hostile", fault_seed=config.seed) as served, \
            TemporaryDirectory() as scratch:
        simulator, world = served.simulator, served.simulator.world
        staff_app = city_app(url, served.base_url)
        staff_app.writable_db()  # migrated once, before any worker starts
        env = worker_settings(url, served.base_url, lease_seconds=config.lease_seconds)
        logs = config.logs or Path(scratch)
        logs.mkdir(parents=True, exist_ok=True)
        chaos = ChaosWorker(env, logs, random.Random(config.seed), kill_every=config.kill_every,
                            write_share=config.write_kill_share)
        stop_staff, staff = threading.Event(), Counter[str]()
        staff_thread = threading.Thread(target=keep_staff_working, args=(
            staff_app, draw_outcomes(world, config.seed), config.staff_every, stop_staff, staff))
        world.after_followup_stored = chaos.on_followup_stored
        began = time.monotonic()
        chaos.start()
        staff_thread.start()
        chaos.run_for(config.seconds, enough=lambda: chaos.kills >= config.min_kills
                      and injected(simulator.fault_counts()) >= config.min_faults)
        stop_staff.set()
        staff_thread.join()  # its last round commits before the settle starts
        worker_exit = chaos.stop()
        world.after_followup_stored = None
        chaos_seconds = time.monotonic() - began

        plan = simulator.faults.plan
        requests = plan.requests if plan is not None else 0
        simulator.set_faults(None)
        clock.set_speed(0)
        settle_app = city_app(url, served.base_url, open_case_recheck_seconds=1,
                              lease_wait_seconds=config.lease_seconds + 30)
        settled = settle(settle_app, env)
        clock.freeze()
        report = check_invariants(simulator, settle_app.db, settle_app.institution_id,
                                  overlap=timedelta(seconds=settle_app.settings.overlap_seconds), final=True)
        result = SoakResult(
            config=config, chaos_seconds=chaos_seconds, settle_seconds=time.monotonic() - began - chaos_seconds,
            requests=requests, faults=simulator.fault_counts(), kills=chaos.kills, write_kills=chaos.write_kills,
            unexpected_exits=chaos.unexpected_exits, worker_exit=worker_exit, staff=staff,
            runs=_runs(settle_app), settled=settled, dead_letters=_dead_letter_reasons(settle_app), report=report)
        staff_app.db.dispose()
        settle_app.db.dispose()
        return result


def print_result(result: SoakResult) -> None:
    """Print the soak's counts, one topic per line."""
    c, report, settled = result.config, result.report, result.settled
    print(f"database {c.database}, seed {c.seed}: chaos {result.chaos_seconds:.0f} s, then settle "
          f"{result.settle_seconds:.0f} s ({settled.runs} sync runs, {'quiet' if settled.quiet else 'NOT quiet'}; "
          f"{settled.made_due} outbox rows made due; resync --set-aside exit {settled.resync_exit})")
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(result.faults.items(), key=lambda kv: -kv[1]))
    print(f"faults injected: {result.faults_total} in {result.requests} contract requests (clock_skew not "
          f"counted); by kind: {kinds}")
    print(f"kills (SIGKILL): {result.kills}, of which {result.write_kills} between a national write and the "
          f"local commit; worker exits not caused by us: {result.unexpected_exits}")
    print(f"staff: {dict(result.staff)}")
    runs = ", ".join(f"{job} {outcome} {n}" for (job, outcome), n in sorted(result.runs.items()))
    print(f"sync runs ('running': left by a killed worker): {runs}")
    print(f"complaints: national {report.complaints_national}, city {report.complaints_city}")
    print(f"follow-ups: expected {report.followups_expected}, found {report.followups_found}; "
          f"status changes delivered {report.status_changes_expected}")
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
    print(f"the last worker exited {result.worker_exit} on SIGTERM{why}")
    print(f"invariants: {report.summary()}")


def main() -> None:
    """Parse the arguments, run the soak, print the counts; exit 0 iff the invariants hold."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kill-every", type=float, default=18.0, help="mean seconds between kills")
    parser.add_argument("--write-kill-share", type=float, default=0.4)
    parser.add_argument("--speed", type=float, default=2.0, help="simulated hours per wall-clock second")
    parser.add_argument("--min-kills", type=int, default=0, help="go on past --minutes (at most twice) until so many")
    parser.add_argument("--min-faults", type=int, default=0, help="go on past --minutes (at most twice) until so many")
    parser.add_argument("--logs", type=Path, default=None, help="keep the workers' logs in this folder")
    args = parser.parse_args()
    logging.getLogger("lapor_sync").setLevel(logging.ERROR)  # the settle runs' events are in the database
    result = run_soak(SoakConfig(seconds=args.minutes * 60, database=args.database, seed=args.seed,
                                 kill_every=args.kill_every, write_kill_share=args.write_kill_share,
                                 speed_hours=args.speed, min_kills=args.min_kills, min_faults=args.min_faults,
                                 logs=args.logs))
    print_result(result)
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
