"""Shared parts of the worker measurements: a served simulator, fresh databases, worker processes, staff rounds;
for lost job leases, stepped clocks (libfaketime), a wait for a push in its call and ending a lock's connection."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlmodel import col, select

from lapor_sync.app import App
from lapor_sync.config.settings import Settings
from lapor_sync.demo.plan import Outcome
from lapor_sync.demo.staff import SimulatedStaff, StaffRound
from lapor_sync.domain.clock import Clock, ManualClock, SystemClock
from lapor_sync.domain.reference import find_reference
from lapor_sync.simulator import START_OF_DATA, Credentials, Simulator
from lapor_sync.simulator.faults.profiles import FaultSpec
from lapor_sync.storage.database import normalise_url
from lapor_sync.storage.lease_handles import advisory_key, lock_sessions
from lapor_sync.storage.models import OutboxItem, SyncRun

ROOT = Path(__file__).resolve().parent.parent
CREDENTIALS = Credentials()
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
DATABASE_KINDS = ("sqlite", "postgres")
"""What :func:`fresh_database` makes: a temp SQLite file, or a new schema on local PostgreSQL."""
LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")


@dataclass
class Served:
    """A simulator served on loopback, its base URL, and a thread moving its clock forward."""

    simulator: Simulator
    base_url: str
    _stop: threading.Event

    def advance_every(self, wall_seconds: float, simulated: timedelta) -> None:
        """Move the simulated clock by ``simulated`` every ``wall_seconds`` until the block ends."""

        def move() -> None:
            while not self._stop.wait(wall_seconds):
                self.simulator.advance_to(self.simulator.world.clock.now() + simulated)

        threading.Thread(target=move, daemon=True).start()

    def followups_per_reference(self) -> Counter[str]:
        """How many follow-ups on the national side carry each lapor-sync reference token."""
        with self.simulator.world.lock:
            return Counter(
                ref
                for c in self.simulator.world.all_complaints()
                for f in c.followups
                if (ref := find_reference(f.content)) is not None
            )


class FastClock:
    """A simulated clock running ``speed`` times faster than the wall clock, for a soak.

    Every reading is at least one second after the previous one. The worker's clock is the real
    one, years after the data set, so it cannot tell whether the second of a complaint's
    ``updated_at`` was still running when it read it (``Puller._settled``), as it could beside the
    real platform; a simulated clock that never gives one second twice leaves no change hidden in
    a second already read. Thread-safe.

    Args:
        start: the first instant (aware).
        speed: simulated seconds per wall-clock second (0: only the one second per reading).
    """

    def __init__(self, start: datetime, speed: float) -> None:
        self._lock = threading.Lock()
        self._last = start.astimezone(UTC)
        self._frozen = False
        self.set_speed(speed)

    def now(self) -> datetime:
        """The current simulated instant, aware UTC."""
        with self._lock:
            if not self._frozen:
                running = self._origin + timedelta(seconds=(time.monotonic() - self._wall) * self._speed)
                self._last = max(running, self._last + timedelta(seconds=1))
            return self._last

    def set_speed(self, speed: float) -> None:
        """Run on from the last reading at ``speed`` simulated seconds per wall-clock second."""
        with self._lock:
            self._origin, self._wall, self._speed = self._last, time.monotonic(), speed

    def freeze(self) -> None:
        """Stop the clock: every later reading gives the last instant again."""
        with self._lock:
            self._frozen = True


@contextmanager
def served_simulator(
    start: datetime = START_OF_DATA,
    *,
    post_delay: float = 0.0,
    clock: Clock | None = None,
    faults: FaultSpec = None,
    fault_seed: int = 0,
) -> Iterator[Served]:
    """Generate the 2024 data set and serve it, without a rate limit.

    Args:
        start: where a manual clock starts (when no ``clock`` is given).
        post_delay: seconds each POST is slowed by.
        clock: the simulator's clock instead of a ``ManualClock`` at ``start``.
        faults, fault_seed: the faults to inject (see ``Simulator.generate``).
    """
    simulator = Simulator.generate(
        clock=clock or ManualClock(start), rate_limit=None, faults=faults, fault_seed=fault_seed
    )
    if post_delay:
        inner = simulator.app

        async def slow_writes(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["method"] == "POST":
                await asyncio.sleep(post_delay)
            await inner(scope, receive, send)

        simulator.app = slow_writes  # type: ignore[assignment]
    stop = threading.Event()
    with simulator.serve() as base_url:
        try:
            yield Served(simulator, base_url, stop)
        finally:
            stop.set()


def measurement_parser(doc: str) -> argparse.ArgumentParser:
    """A measurement's argument parser: the first line of its ``doc``, and ``--database`` (a :func:`fresh_database` kind)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--database", choices=DATABASE_KINDS, default="sqlite")
    return parser


@contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    """A new empty database URL: a temp SQLite file (``sqlite``) or a new schema on local PostgreSQL."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/city.db"
        return
    schema = f"m_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalise_url(os.environ.get("LAPOR_SYNC_TEST_POSTGRES_URL", POSTGRES)))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{admin.url.render_as_string(hide_password=False)}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


WATCHER_ONLY = {
    "pull_interval_seconds": 3600,
    "push_interval_seconds": 3600,
    "reconcile_interval_seconds": 3600,
    "outbox_watch_seconds": 1,
}
"""Worker settings under which only the outbox watcher starts pushes: the scheduled jobs wait an hour."""


def worker_env(database_url: str, base_url: str, **settings: object) -> dict[str, str]:
    """The environment of a worker process: the simulator's fake credentials plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAPOR_SYNC_")}
    values = {
        "database_url": database_url,
        "api_base_url": base_url,
        "api_key": CREDENTIALS.api_key,
        "api_token": CREDENTIALS.app_token,
        "institution_id": 6271,
        "health_port": 0,
        "requests_per_minute": 0,  # the simulator counts no quota
        **settings,
    }
    return env | {f"LAPOR_SYNC_{name.upper()}": str(value) for name, value in values.items()}


def lapor_sync(*args: str, python: str = sys.executable) -> list[str]:
    """The command line of ``lapor-sync *args`` run by ``python`` (the console script may not be on PATH).

    ``python``: this one by default; another checkout's (its ``.venv``) runs that checkout's code.
    """
    return [python, "-c", "from lapor_sync.cli.app import main; main()", *args]


def start_worker(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start ``lapor-sync worker *args`` with its JSON log lines (stdout) going to ``log``."""
    out = log.open("wb")
    return subprocess.Popen(lapor_sync("worker", *args), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def cli(
    env: dict[str, str],
    *args: str,
    timeout: float = 600,
    wrapper: Sequence[str] = (),
    python: str = sys.executable,
    cwd: Path = ROOT,
) -> subprocess.CompletedProcess[str]:
    """Run ``lapor-sync *args`` and return its result (text).

    ``wrapper``: a command it runs under (e.g. ``faketime -f +10m``); ``python``: as for :func:`lapor_sync`.
    """
    return subprocess.run(
        [*wrapper, *lapor_sync(*args, python=python)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def city_app(database_url: str, base_url: str, *, clock: Clock | None = None, **settings: Any) -> App:
    """lapor-sync's App on the measured database, for staff rounds, reading runs, syncing.

    ``clock``: the App's clock (default the real one); ``settings`` override the defaults (e.g.
    ``open_case_recheck_seconds=1``).
    """
    return App(
        Settings(
            database_url=database_url,
            api_base_url=base_url,
            api_key=CREDENTIALS.api_key,
            api_token=CREDENTIALS.app_token,
            institution_id=6271,
            **({"requests_per_minute": 0} | settings),  # the simulator counts no quota
        ),
        clock=clock or SystemClock(),
    )


def staff_round(app: App, outcomes: dict[int, Outcome] | None = None) -> StaffRound:
    """Let the simulated agency staff act once on every open case (each action lands in the outbox).

    ``outcomes`` says how staff end each complaint (default: every one completed).
    """
    with app.db.session() as session:
        done = SimulatedStaff(app.mapping, outcomes or {}).work(app.city_records(session), last_round=False)
        session.commit()
    return done


def pull_then_staff_round(env: dict[str, str], app: App) -> StaffRound:
    """Pull the inbox once (``sync --pull-only``), then let staff act on every open case: a full outbox."""
    pulled = cli(env, "sync", "--pull-only")
    assert pulled.returncode == 0, pulled.stderr
    return staff_round(app)


def print_push_runs(app: App) -> None:
    """Print each push run: id, trigger, outcome, rows pushed and its error."""
    for run in runs(app):
        if run.job == "push":
            print(f"  run #{run.id} push ({run.trigger}): {run.outcome}, pushed {run.pushed}; {run.error or ''}")


def runs(app: App, *, trigger: str | None = None) -> list[SyncRun]:
    """Every sync run, oldest first (optionally only of ``trigger``)."""
    with app.db.session() as session:
        query = select(SyncRun).order_by(col(SyncRun.id))
        if trigger:
            query = query.where(SyncRun.trigger == trigger)
        return list(session.exec(query))


def overlaps(job_runs: list[SyncRun]) -> list[tuple[int, int]]:
    """Pairs of runs of one job whose [started, finished] intervals overlap (should be none)."""
    ordered = sorted(job_runs, key=lambda r: r.started_at)
    return [
        (a.id, b.id)
        for a, b in zip(ordered, ordered[1:], strict=False)
        if a.finished_at is None or b.started_at < a.finished_at
    ]


def utc_now() -> datetime:
    """Now, aware UTC."""
    return datetime.now(UTC)


class SteppedClock:
    """A wall clock that a script steps under running processes: libfaketime reading an offset file.

    The processes started with :meth:`env` follow the file at every reading of the time
    (``FAKETIME_NO_CACHE``), so a step reaches them at once, as ``date -s`` or NTP's first sync
    would; their monotonic clock stays true. Needs :data:`LIBFAKETIME` (``apt-get install faketime``).

    Args:
        offset_file: the file to keep the offset in; it starts at 0 (the clock right).
    """

    def __init__(self, offset_file: Path) -> None:
        self.offset_file = offset_file
        self.step(0)

    def env(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` plus what makes a process follow this clock."""
        return env | {
            "LD_PRELOAD": str(LIBFAKETIME),
            "FAKETIME_TIMESTAMP_FILE": str(self.offset_file),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }

    def step(self, seconds: float) -> None:
        """Set the clock ``seconds`` away from the true time (negative: behind; 0: right again)."""
        self.offset_file.write_text(f"{'+' if seconds >= 0 else '-'}{abs(seconds):.0f}\n")


def wait_for_sending(app: App, timeout: float, *, claimer: str = "") -> bool:
    """Wait up to ``timeout`` seconds until an outbox row is ``sending`` (a push is in its call); return whether one was.

    ``claimer``: only rows whose ``claimed_by`` contains it (e.g. ``":4242 "``, one process's rows).
    """
    query = select(OutboxItem.id).where(OutboxItem.state == "sending")
    if claimer:
        query = query.where(col(OutboxItem.claimed_by).contains(claimer))
    deadline = time.monotonic() + timeout
    while True:
        with app.db.session() as session:
            if session.exec(query).first() is not None:
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def end_lock_sessions(app: App, job: str) -> int:
    """End the PostgreSQL sessions holding the advisory lock of ``job``'s lease (``pg_terminate_backend``).

    What ``idle_session_timeout`` or a restarted pooler does to a lock's connection. Returns how
    many sessions were ended (0: no one held the lock).
    """
    with app.db.engine.connect() as conn:
        sessions = lock_sessions(conn, advisory_key(conn, app.institution_id, job))
        return sum(
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one() for pid in sessions
        )
