"""The console as a browser meets it: a database pulled from the served simulator, users of each role, sign-in.

:func:`pull_console_data` builds the database once for the browser tier, the way a city's would be: a
month of real pulls from the simulator over loopback HTTP, the demo's simulated staff answering and
completing cases, their follow-ups pushed back; then one follow-up left pending, one made a dead
letter and one record set aside (both by a direct update, as ``tests/support/cli.py`` does), and the
users ``admin``, ``operator`` and ``viewer``. Each test serves its own copy of that file
(:class:`ConsoleSite`), so what one test changes no other sees.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from playwright.sync_api import Page, expect
from sqlmodel import Session, col, select

from lapor_sync.accounts.audit import AuditEntry, AuditLog
from lapor_sync.accounts.roles import Role
from lapor_sync.accounts.tokens import ApiTokens
from lapor_sync.accounts.users import Accounts
from lapor_sync.app import App
from lapor_sync.demo.plan import Outcome, draw_outcomes
from lapor_sync.demo.runner import PERIOD_END, planned_complaints
from lapor_sync.demo.staff import SimulatedStaff
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.status import CaseState
from lapor_sync.domain.timezones import WIB
from lapor_sync.simulator import Simulator
from lapor_sync.storage.models import Case, OutboxItem, SetAsideRecord, SyncRun
from tests.support.city import CitySide
from tests.support.e2e import settings_for
from tests.web.conftest import PASSWORD

HISTORY_START = datetime(2024, 2, 13, 16, 30, tzinfo=WIB)
"""Tuesday 13 February 2024, 16:30 WIB: the first pull (every complaint since 2 January), just before the charts' 30 days."""
PULLED_AT = datetime(2024, 3, 15, 16, 30, tzinfo=WIB)
"""Friday 15 March 2024, 16:30 WIB: the last pull, staff round and push; the console's "now" (its clock stays there)."""
RECHECK_SECONDS = 60 * 86_400
FRIDAY, SATURDAY = 4, 5
DEMO_SEED = 2024
DEAD_ERROR = "HTTP 422: complaint is closed"
SET_ASIDE_REASON = "created_at: not a date"


@dataclass(frozen=True)
class CaseRef:
    """A case the tests open: its id (the console's URLs), its tracking id (what staff search by), its agency."""

    id: int
    complaint_id: int
    tracking_id: str
    agency_code: str


@dataclass(frozen=True)
class ConsoleData:
    """The pulled database file (never served itself: each test serves a copy) and the records tests look for.

    Attributes:
        template: the SQLite file as pulled.
        public: a case with a known reporter, neither confidential nor anonymous, with a follow-up pushed.
        secret: a confidential (``rahasia``) case.
        anonymous: an anonymous case (its reporter never shows).
        pull_run: the last pull's run id.
        pending_item: an outbox row waiting to be sent.
        dead_item: an outbox row given up as a dead letter.
        set_aside_record: a record set aside.
        token_id: the operator's API token (labelled ``dasbor-kota``).
    """

    template: Path
    public: CaseRef
    secret: CaseRef
    anonymous: CaseRef
    pull_run: int
    pending_item: int
    dead_item: int
    set_aside_record: int
    token_id: int

    def path_values(self) -> dict[str, object]:
        """A value for each path parameter of the console's routes (``/cases/{case_id}`` -> the public case)."""
        return {
            "case_id": self.public.id,
            "run_id": self.pull_run,
            "item_id": self.dead_item,
            "record_id": self.set_aside_record,
            "name": Role.VIEWER.value,
            "token_id": self.token_id,
        }

    def copy_to(self, directory: Path) -> str:
        """Copy the database into ``directory``; returns the copy's SQLAlchemy URL."""
        copy = directory / self.template.name
        shutil.copyfile(self.template, copy)
        return f"sqlite:///{copy}"


def pull_console_data(directory: Path, simulator: Simulator, simulator_url: str) -> ConsoleData:
    """Play a month of the city's work against ``simulator`` into a new database in ``directory``.

    A first pull at :data:`HISTORY_START` brings in every complaint since 2 January and the staff
    answer them all; then each weekday until :data:`PULLED_AT` has its pull at 16:30 WIB and
    each Friday the staff's round (the demo's :class:`SimulatedStaff`) and a push. So the dashboard's
    thirty days of charts, the runs, events, threads and outbox are what such a month leaves behind.

    Args:
        directory: where the database file goes.
        simulator: the served simulator, its clock (which lapor-sync shares) before :data:`HISTORY_START`;
            it ends at :data:`PULLED_AT`.
        simulator_url: its base URL.

    Returns:
        What was built (see :class:`ConsoleData`).
    """
    template = directory / "console.db"
    clock = simulator.clock
    assert isinstance(clock, ManualClock)
    # Rechecks of open cases (an hour by default) would make each daily pull read every open case again.
    settings = settings_for(f"sqlite:///{template}", simulator_url, open_case_recheck_seconds=RECHECK_SECONDS)
    app = App(settings, clock=clock)
    try:
        with app.platform() as platform:
            city = CitySide(app, platform, clock)
            staff = SimulatedStaff(app.mapping, demo_outcomes())
            first, last = _play_month(city, simulator, staff)
            public, secret, anonymous, pending_case, dead_case = _chosen_cases(app)
            pending = city.act(pending_case.complaint_id, AgencyAction.FOLLOWUP, "Petugas akan meninjau lokasi.")
            dead = city.act(dead_case.complaint_id, AgencyAction.FOLLOWUP, "Diteruskan ke bagian terkait.")
        with app.db.session() as session:
            _make_dead(session, dead.id)
            record_id = _set_aside_one(session, first, clock)
        token_id = _add_users(app, clock)
    finally:
        app.db.dispose()
    return ConsoleData(
        template=template,
        public=_ref(public),
        secret=_ref(secret),
        anonymous=_ref(anonymous),
        pull_run=last,
        pending_item=_id(pending),
        dead_item=_id(dead),
        set_aside_record=record_id,
        token_id=token_id,
    )


def _play_month(city: CitySide, simulator: Simulator, staff: SimulatedStaff) -> tuple[int, int]:
    """The first pull and staff round, then a pull each working day and a round each Friday.

    Returns:
        The first pull's run id and the last one's.
    """
    simulator.advance_to(HISTORY_START)
    first = last = city.sync(push=False)
    for _ in range(2):  # the first round answers every case, the second completes the planned ones
        _staff_round(city, staff)
    city.sync(pull=False)
    day = HISTORY_START
    while day < PULLED_AT:
        day += timedelta(days=1)
        if day.weekday() >= SATURDAY:
            continue
        simulator.advance_to(day)
        last = city.sync(push=False)
        if day.weekday() == FRIDAY:
            _staff_round(city, staff)
            city.sync(pull=False)
    return _id(first), _id(last)


def _staff_round(city: CitySide, staff: SimulatedStaff) -> None:
    with city.app.db.session() as session:
        staff.work(city.app.city_records(session), last_round=False)
        session.commit()


def demo_outcomes() -> dict[int, Outcome]:
    """The demo's plan of what becomes of each complaint (completed, returned, forwarded, ...)."""
    period_end = datetime.combine(PERIOD_END, time(23, 59, 59), WIB)
    return draw_outcomes(planned_complaints(DEMO_SEED), period_end=period_end, seed=DEMO_SEED)


def _add_users(app: App, clock: ManualClock) -> int:
    """The users ``admin``, ``operator`` and ``viewer`` (password :data:`PASSWORD`); the operator's API token's id."""
    accounts, tokens = Accounts(app.db, clock), ApiTokens(app.db, clock)
    for role in Role:
        accounts.add(role.value, role, PASSWORD)
    tokens.issue_token(Role.OPERATOR.value, label="dasbor-kota")
    (token,) = tokens.tokens(Role.OPERATOR.value)
    return token.id


def _chosen_cases(app: App) -> tuple[Case, ...]:
    """Open cases: a public one, a confidential one, an anonymous one and two more public ones (for the outbox)."""
    with app.db.session() as session:
        cases = list(
            session.exec(select(Case).where(col(Case.state) == CaseState.IN_PROGRESS.value).order_by(col(Case.id)))
        )
    public = [c for c in cases if not c.is_secret and not c.is_anonymous and c.reporter_name]
    secret = next(c for c in cases if c.is_secret and not c.is_anonymous)
    anonymous = next(c for c in cases if c.is_anonymous and not c.is_secret)
    return public[0], secret, anonymous, public[1], public[2]


def _make_dead(session: Session, item_id: int | None) -> None:
    """Give the outbox row up as a dead letter, as a push does after its last attempt."""
    item = session.get(OutboxItem, item_id)
    assert item is not None
    item.state, item.attempts, item.last_error = "dead", 8, DEAD_ERROR
    session.add(item)
    session.commit()


def _set_aside_one(session: Session, run_id: int, clock: ManualClock) -> int:
    """Set aside a malformed record, as a pull does with one it cannot read."""
    record = SetAsideRecord(
        institution_id=6271,
        run_id=run_id,
        complaint_id=3_109_999,
        reason=SET_ASIDE_REASON,
        raw="{}",
        first_seen_at=clock.now(),
        last_seen_at=clock.now(),
    )
    session.add(record)
    session.commit()
    return _id(record)


def _ref(case: Case) -> CaseRef:
    return CaseRef(_id(case), case.complaint_id, case.tracking_id, case.agency_code)


def _id(row: Any) -> int:
    assert row.id is not None
    return int(row.id)


@dataclass(frozen=True)
class ConsolePage:
    """A page of the console: a name (its screenshot's), its path (from the pulled data) and who opens it.

    ``role`` is the least role that sees all of the page: an operator sees the action forms; the users
    page, the audit log and a confidential case's content need an admin.
    """

    name: str
    path: Callable[[ConsoleData], str]
    role: Role = Role.OPERATOR


PAGES = [
    ConsolePage("dashboard", lambda _: "/"),
    ConsolePage("cases", lambda _: "/cases"),
    ConsolePage("case", lambda data: f"/cases/{data.public.id}"),
    ConsolePage("case-anonymous", lambda data: f"/cases/{data.anonymous.id}"),
    ConsolePage("case-confidential-admin", lambda data: f"/cases/{data.secret.id}?show_confidential=true", Role.ADMIN),
    ConsolePage("runs", lambda _: "/runs"),
    ConsolePage("run", lambda data: f"/runs/{data.pull_run}"),
    ConsolePage("events", lambda _: "/events"),
    ConsolePage("outbox", lambda _: "/outbox"),
    ConsolePage("outbox-row", lambda data: f"/outbox/{data.dead_item}"),
    ConsolePage("set-aside", lambda _: "/set-aside"),
    ConsolePage("mapping", lambda _: "/mapping"),
    ConsolePage("sla", lambda _: "/sla"),
    ConsolePage("settings", lambda _: "/settings"),
    ConsolePage("users", lambda _: "/users", Role.ADMIN),
    ConsolePage("audit-log", lambda _: "/audit", Role.ADMIN),
]
"""The console's pages (sign-in has its own screenshot in ``test_console_foundation.py``)."""


@dataclass
class ConsoleSite:
    """The console served on loopback for one test, on its own copy of the pulled database.

    Attributes:
        base: the console's origin, e.g. ``http://127.0.0.1:41234``.
        asgi: the console's ASGI application (its routes).
        app: the console's App (its database is the copy: read it to see what an action changed).
        data: the records of the pulled database.
    """

    base: str
    asgi: FastAPI
    app: App
    data: ConsoleData

    def url(self, path: str) -> str:
        """The absolute URL of the console's ``path`` (``/cases/12``)."""
        return f"{self.base}{path}"

    def sign_in(self, page: Page, role: Role, *, to: str = "/") -> Page:
        """Sign in as the user of ``role`` through the sign-in form, asking for ``to``; returns ``page`` there."""
        page.goto(self.url(to))
        page.locator("#name").fill(role.value)
        page.locator("#password").fill(PASSWORD)
        page.locator("form.stacked button[type=submit]").click()
        expect(page.locator("header .user")).to_contain_text(role.value)
        return page

    def runs(self) -> list[SyncRun]:
        """Every sync run of the console's database, oldest first."""
        with self.app.db.session() as session:
            return list(session.exec(select(SyncRun).order_by(col(SyncRun.id))))

    def audit_entries(self, **wanted: str) -> list[AuditEntry]:
        """The console's audit entries, newest first, filtered as ``AuditLog.search`` filters (``action=...``)."""
        return AuditLog(self.app.db, self.app.clock).search(**wanted)

    def outbox_state(self, item_id: int) -> str:
        """The state of one outbox row now."""
        with self.app.db.session() as session:
            item = session.get(OutboxItem, item_id)
            assert item is not None
            return item.state
