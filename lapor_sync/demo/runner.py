"""The demo: replay January–October 2024 week by week against the built-in simulator.

Each week: the simulated platform moves to Friday 16:30 WIB, lapor-sync pulls, the simulated staff
work the open cases through the city-records port, lapor-sync pushes. A last pull takes in the
echo of the final push. Then the national tallies (asked of the simulator over HTTP) and the city's
(from its own records) are compared with the article's figures.
"""

from __future__ import annotations

import secrets
import time as wallclock
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from lapor_sync.app import App
from lapor_sync.config.settings import Settings
from lapor_sync.demo.plan import PlannedComplaint, draw_outcomes
from lapor_sync.demo.simulator_child import SimulatorChild, started_simulator
from lapor_sync.demo.staff import SimulatedStaff, StaffRound
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.errors import ConfigurationError
from lapor_sync.domain.runs import RunOutcome
from lapor_sync.domain.timezones import WIB
from lapor_sync.reports.tallies import ARTICLE, Tallies, city_tallies
from lapor_sync.runtime.private_files import open_private
from lapor_sync.simulator import Credentials
from lapor_sync.simulator.catalog import category_name
from lapor_sync.simulator.dataset import generate
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import SyncRun

PERIOD_START = date(2024, 1, 1)
PERIOD_END = date(2024, 10, 31)
ROUND_TIME = time(16, 30)
SERVE_AGAIN_PORT = 8765
CREDENTIALS = Credentials()  # the simulator's fake demo credentials
# What a demo leaves in its folder; only these are removed when it runs again.
DEMO_FILES = frozenset(
    {
        "lapor-sync.db",
        "lapor-sync.db-wal",
        "lapor-sync.db-shm",
        "lapor-sync.db-journal",
        "lapor-sync.toml",
        "simulator-state.json",
        "simulator-state.json.tmp",
        "console-password.txt",
    }
)
CONSOLE_USER = "demo-admin"
"""The console user the demo creates, so its data can be browsed at once (``lapor-sync web``)."""


@dataclass(frozen=True)
class WeekReport:
    """Progress of one weekly round, for the progress display."""

    number: int
    weeks: int
    at: datetime
    pull: SyncRun
    staff: StaffRound
    push: SyncRun


@dataclass(frozen=True)
class DemoResult:
    """What the demo produced: tallies, the files it left, and its wall time in seconds."""

    national: Tallies
    city: Tallies
    workdir: Path
    state_file: Path
    config_file: Path
    wall_seconds: float
    failed_runs: int
    console_password_file: Path

    @property
    def matches(self) -> bool:
        """True when national, city and article figures agree and no run failed."""
        figures = [self.national.as_dict(), self.city.as_dict()]
        return self.failed_runs == 0 and all(f[k] == v for f in figures for k, v in ARTICLE.items())


def rounds(start: date, end: date) -> Iterator[datetime]:
    """Yield each Friday 16:30 WIB from ``start`` to ``end``, then ``end`` itself at 16:30 (aware)."""
    day = start + timedelta(days=(4 - start.weekday()) % 7)
    while day < end:
        yield datetime.combine(day, ROUND_TIME, WIB)
        day += timedelta(days=7)
    yield datetime.combine(end, ROUND_TIME, WIB)


def run_demo(workdir: Path, *, seed: int = 2024, on_week: Callable[[WeekReport], None] | None = None) -> DemoResult:
    """Run the whole demo in ``workdir`` (a previous demo's files removed first) and return its result.

    The simulator runs as a child process (:mod:`lapor_sync.demo.simulator_child`), stopped on every
    way out of here; lapor-sync's own ``ManualClock`` is moved in step with the child's.

    Raises:
        ConfigurationError: a packaged file (mapping) is wrong, or ``workdir`` holds other files.
        RuntimeError: the simulator child did not start or answer.
    """
    started = wallclock.perf_counter()
    prepare_workdir(workdir)
    clock = ManualClock(datetime.combine(PERIOD_START, time(0), WIB))
    state_file = workdir / "simulator-state.json"
    options = ("--no-rate-limit", "--seed", str(seed), "--clock", "start", "--save-state", str(state_file))
    with started_simulator(*options) as starting:
        # While the child imports and builds its world (over a second): the plan, and the database
        # created and migrated (its URL does not depend on the child's port; the App finds it current).
        outcomes = draw_outcomes(
            planned_complaints(seed), period_end=datetime.combine(PERIOD_END, time(23, 59, 59), WIB), seed=seed
        )
        prepared = Database(database_url(workdir))
        prepared.upgrade()
        prepared.dispose()
        simulator = starting.answering()
        settings = demo_settings(workdir, simulator.base_url)
        app = App(settings, clock=clock)
        failed = replay(app, simulator, SimulatedStaff(app.mapping, outcomes), clock, on_week)
        national = national_tallies(simulator)
        simulator.save()
    with app.db.session() as session:
        city = city_tallies(session, app.institution_id, PERIOD_START, PERIOD_END)
    config_file = write_serve_again_config(workdir, settings)
    password_file = create_console_user(app, workdir)
    elapsed = wallclock.perf_counter() - started
    return DemoResult(national, city, workdir, state_file, config_file, elapsed, failed, password_file)


def planned_complaints(seed: int) -> list[PlannedComplaint]:
    """The complaints of the simulator's data set for ``seed``, as the outcomes plan needs them.

    Generated here again rather than read from the child: the data set is deterministic for its
    seed and takes a fraction of a second to build, while no endpoint of the contract lists every
    complaint with its disposition time before the clock reaches it.
    """
    return [
        PlannedComplaint(c.complaint_id, c.dispositioned_at, category_name(c.category_id)) for c in generate(seed)[0]
    ]


def replay(
    app: App,
    simulator: SimulatorChild,
    staff: SimulatedStaff,
    clock: ManualClock,
    on_week: Callable[[WeekReport], None] | None,
) -> int:
    """Play every weekly round (move both clocks, pull, staff work, push), then a last pull.

    Returns:
        The number of sync runs that did not end OK.
    """
    failed = 0
    with app.platform() as platform:
        service = app.sync_service(platform)
        schedule = list(rounds(PERIOD_START, PERIOD_END))
        for number, at in enumerate(schedule, start=1):
            simulator.advance_to(at)  # the child applies the events due by then
            clock.set(at)
            pull = service.run(push=False, trigger="demo")
            with app.db.session() as session:
                done = staff.work(app.city_records(session), last_round=number == len(schedule))
                session.commit()
            push = service.run(pull=False, trigger="demo")
            failed += (pull.outcome != RunOutcome.OK) + (push.outcome != RunOutcome.OK)
            if on_week:
                on_week(WeekReport(number, len(schedule), at, pull, done, push))
        failed += service.run(push=False, trigger="demo").outcome != RunOutcome.OK
    return failed


def prepare_workdir(workdir: Path) -> None:
    """Create ``workdir``, or empty it of a previous demo's files; either way it is left 0700.

    Only its owner may enter it: it receives a database of (fictitious) reporters and a
    configuration file with the simulator's credentials, each created 0600 as well.

    Raises:
        ConfigurationError: ``workdir`` is a file, holds anything the demo did not write (the
            demo never deletes what is not its own, e.g. after ``--workdir .``), or cannot be
            created or made private.
    """
    if workdir.exists() and not workdir.is_dir():
        raise ConfigurationError(f"--workdir {workdir}: not a folder")
    if workdir.exists():
        others = sorted(path.name for path in workdir.iterdir() if path.name not in DEMO_FILES)
        if others:
            raise ConfigurationError(
                f"--workdir {workdir}: holds files the demo did not write ({', '.join(others[:3])}); "
                "choose a new or empty folder"
            )
        for name in DEMO_FILES:
            (workdir / name).unlink(missing_ok=True)
    try:
        workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        workdir.chmod(0o700)  # one made by an older demo, or an empty folder given
    except OSError as exc:
        raise ConfigurationError(
            f"--workdir {workdir}: cannot create it or make it private: {exc.strerror or type(exc).__name__}"
        ) from None


def database_url(workdir: Path) -> str:
    """The URL of the demo's SQLite database in ``workdir``."""
    return f"sqlite:///{workdir / 'lapor-sync.db'}"


def demo_settings(workdir: Path, base_url: str) -> Settings:
    """Settings for the demo: its own SQLite file and the simulator's fake credentials."""
    return Settings(
        database_url=database_url(workdir),
        api_base_url=base_url,
        auth_mode="static",
        api_key=CREDENTIALS.api_key,
        api_token=CREDENTIALS.app_token,
        institution_id=6271,
        initial_since=datetime.combine(PERIOD_START, time(0), WIB),
        # The simulator is no SPLP gateway and counts no quota: a year replayed in seconds.
        requests_per_minute=0,
    )


def national_tallies(simulator: SimulatorChild) -> Tallies:
    """Ask the simulator's tally endpoint (outside the contract) for the period's national figures.

    Raises:
        httpx.HTTPError: the simulator did not answer.
    """
    params = {"from": PERIOD_START.strftime("%d-%m-%Y"), "to": PERIOD_END.strftime("%d-%m-%Y")}
    answer = simulator.admin("GET", "/_simulator/tallies", params=params)
    return Tallies(
        total=answer["total"],
        completed=answer["completed"],
        in_process=answer["in_process"],
        archived=answer["archived"],
        forwarded=answer["forwarded"],
    )


def create_console_user(app: App, workdir: Path) -> Path:
    """Create the console admin :data:`CONSOLE_USER` with a random password, written to a 0600 file; return it.

    The demo's data is fictitious, but the password is still random and kept where only the
    workdir's owner can read it: a console left running on a shared machine is not open to all.
    """
    from lapor_sync.accounts.roles import Role
    from lapor_sync.accounts.users import Accounts

    password = secrets.token_urlsafe(12)
    Accounts(app.db, app.clock).add(CONSOLE_USER, Role.ADMIN, password)
    path = workdir / "console-password.txt"
    with open_private(path) as file:
        file.write(password + "\n")
    return path


def write_serve_again_config(workdir: Path, settings: Settings) -> Path:
    """Write a config file pointing at the demo's database and at the simulator served again on 8765.

    The file holds the simulator's credentials; a configuration file with credentials must be
    readable by its owner alone (:class:`~lapor_sync.config.sources.ConfigFileSource`), so it is
    written 0600.
    """
    path = workdir / "lapor-sync.toml"
    with open_private(path) as file:
        file.write(
            "# Written by `lapor-sync demo`: the demo's database and the simulator's fake credentials.\n"
            f'database_url = "{settings.database_url}"\n'
            f'api_base_url = "http://127.0.0.1:{SERVE_AGAIN_PORT}/lapor/3.0.0"\n'
            'auth_mode = "static"\n'
            f'api_key = "{CREDENTIALS.api_key}"\n'
            f'api_token = "{CREDENTIALS.app_token}"\n'
            "institution_id = 6271\n"
            "requests_per_minute = 0  # the simulator counts no quota\n",
        )
    return path
