"""End-to-end harness: the simulator over loopback HTTP, lapor-sync's App on a real database, injected faults.

Each test gets a :class:`Harness`: a served simulator, an :class:`~lapor_sync.app.App` sharing the
simulator's ``ManualClock``, and a ``LaporClient`` with a no-wait retry policy whose transport is a
:class:`FaultInjector` (real HTTP to the simulator, plus chosen failures on the way).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from lapor_sync.adapters.national import LaporClient, RetryPolicy, StaticKeyAuth
from lapor_sync.app import App
from lapor_sync.config.settings import Settings
from lapor_sync.domain.clock import Clock, ManualClock
from lapor_sync.domain.complaint import ThreadEntry as DomainThreadEntry
from lapor_sync.domain.ports import NationalPlatform
from lapor_sync.domain.reference import find_reference
from lapor_sync.domain.timezones import WIB
from lapor_sync.simulator import START_OF_DATA, Credentials, Simulator
from lapor_sync.simulator.catalog import category_id
from lapor_sync.simulator.model import Complaint, Counters, FollowUp
from lapor_sync.simulator.world import World
from tests.support.city import CitySide
from tests.support.paths import REPO_ROOT

CITY = 6271
DINSOS = 627104
DAY_ONE = datetime(2024, 1, 2, 9, 0, tzinfo=WIB)
"""Tuesday 2 January 2024, 09:00 WIB: the data set's first working day (1 January is a holiday)."""
CREDENTIALS = Credentials()  # the simulator's fake demo credentials
KILLED = 137  # exit status of the crash worker, as after SIGKILL
COMMAND = (sys.executable, "-c", "from lapor_sync.cli.app import main; main()")
"""``lapor-sync`` of this checkout as a child process's command line (the console script may not be on PATH)."""


def small_world(start: datetime = DAY_ONE) -> Simulator:
    """A simulator with no complaints yet (add them with ``world.add_complaint``).

    No rate limit and no reporter replies, so a test sees only what it causes.
    """
    world = World(ManualClock(start), [], Counters(), reply_rate=0.0)
    return Simulator(world, rate_limit=None)


# -- faults on the wire ----------------------------------------------------------------------------


@dataclass
class Fault:
    """One injected failure: requests matching ``method`` and ``path`` (a regex, searched) are hit.

    ``status`` answers that status without reaching the simulator (as a gateway in front of it
    would); ``status=None`` lets the request reach the simulator and then loses the answer (a read
    timeout after the server applied the write). ``hits`` counts the requests it caught.
    """

    method: str
    path: str
    status: int | None
    hits: int = 0

    def matches(self, request: httpx.Request) -> bool:
        """Tell whether ``request`` is one this fault catches."""
        return request.method == self.method and re.search(self.path, request.url.path) is not None


@dataclass
class FaultInjector(httpx.BaseTransport):
    """An httpx transport to the simulator that can fail chosen requests or rewrite complaint JSON."""

    faults: list[Fault] = field(default_factory=list)
    rewrite: Callable[[dict[str, Any]], None] | None = None
    inner: httpx.HTTPTransport = field(default_factory=httpx.HTTPTransport)

    def fail(self, method: str, path: str, status: int | None) -> Fault:
        """Add a fault (see :class:`Fault`) and return it."""
        fault = Fault(method, path, status)
        self.faults.append(fault)
        return fault

    def break_status_codes(self) -> None:
        """Rewrite every complaint's status code to one no reader accepts (``"rusak"``): each is set aside."""

        def broken_status(complaint: dict[str, Any]) -> None:
            complaint["status_code"] = "rusak"

        self.rewrite = broken_status

    def clear(self) -> None:
        """Remove every fault and the rewrite."""
        self.faults.clear()
        self.rewrite = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` to the simulator, unless a fault catches it."""
        fault = next((f for f in self.faults if f.matches(request)), None)
        if fault is not None:
            fault.hits += 1
            if fault.status is not None:
                return httpx.Response(fault.status, json={"message": "Server Error"}, request=request)
            self._forward(request).close()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        response = self._forward(request)
        if self.rewrite is None or not response.headers.get("content-type", "").startswith("application/json"):
            return response
        body = json.loads(response.read())
        response.close()
        data = (body.get("results") or {}).get("data")
        for complaint in data if isinstance(data, list) else [data]:
            if isinstance(complaint, dict) and "complaint_id" in complaint and "disposition_id" in complaint:
                self.rewrite(complaint)
        return httpx.Response(response.status_code, json=body, request=request)

    def _forward(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        return response

    def close(self) -> None:
        """Close the connection pool."""
        self.inner.close()


class PlatformWrapper:
    """A ``NationalPlatform`` that delegates every call to ``inner``; subclasses override one call."""

    def __init__(self, inner: NationalPlatform) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class ProcessKilled(BaseException):  # noqa: N818 - named after what it stands for
    """Stands for the worker process dying (SIGKILL, power loss) in the middle of a call."""


class DiesAfterPosting(PlatformWrapper):
    """Posts the follow-up for real, then "dies" before the caller learns it was stored."""

    def post_followup(self, complaint_id: int, **kwargs: Any) -> DomainThreadEntry:
        """Post through ``inner``, then raise :class:`ProcessKilled`."""
        self.inner.post_followup(complaint_id, **kwargs)
        raise ProcessKilled


# -- the harness -----------------------------------------------------------------------------------


def _served_values(database_url: str, base_url: str) -> dict[str, Any]:
    """The settings of lapor-sync against the served simulator: static key, the fake credentials, the city."""
    return {
        "database_url": database_url,
        "api_base_url": base_url,
        "auth_mode": "static",
        "api_key": CREDENTIALS.api_key,
        "api_token": CREDENTIALS.app_token,
        "institution_id": CITY,
        "initial_since": START_OF_DATA,
        "requests_per_minute": 0,  # the simulator counts no quota (as in the demo)
    }


def settings_for(database_url: str, base_url: str, **overrides: Any) -> Settings:
    """Settings for lapor-sync against the served simulator (static key, Palangka Raya's mapping)."""
    return Settings(**(_served_values(database_url, base_url) | overrides))


def command_env(database_url: str, base_url: str, **settings: Any) -> dict[str, str]:
    """The ``LAPOR_SYNC_*`` variables that point a ``lapor-sync`` command where :func:`settings_for` points the App.

    ``settings`` (by setting name, e.g. ``lease_wait_seconds=0``) are added or replace those.
    """
    values = _served_values(database_url, base_url) | settings
    return {
        f"LAPOR_SYNC_{name.upper()}": value.isoformat() if isinstance(value, datetime) else str(value)
        for name, value in values.items()
    }


def child_env(database_url: str, base_url: str, **settings: Any) -> dict[str, str]:
    """The environment of a ``lapor-sync`` child process: ours without any ``LAPOR_SYNC_*``, plus :func:`command_env`."""
    inherited = {name: value for name, value in os.environ.items() if not name.upper().startswith("LAPOR_SYNC_")}
    return inherited | command_env(database_url, base_url, **settings)


def run_command(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``lapor-sync *args`` from this checkout in a child process; its output as text."""
    return subprocess.run([*COMMAND, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def client_for(
    base_url: str, clock: Clock, *, per_page: int = 100, transport: httpx.BaseTransport | None = None
) -> LaporClient:
    """A ``LaporClient`` on the simulator with retries that never wait."""
    auth = StaticKeyAuth(CREDENTIALS.api_key, CREDENTIALS.app_token)
    return LaporClient(base_url, auth, retry=RetryPolicy.no_wait(), per_page=per_page, clock=clock, transport=transport)


@dataclass
class Harness(CitySide):
    """A served simulator and lapor-sync wired to it; helpers read both sides (see :class:`CitySide`)."""

    platform: LaporClient
    simulator: Simulator
    base_url: str
    faults: FaultInjector

    @property
    def world(self) -> World:
        """The simulated national platform."""
        return self.simulator.world

    def advance(self, delta: timedelta) -> None:
        """Move the shared clock forward, applying the simulator's due events."""
        self.simulator.advance_to(self.clock.now() + delta)

    def add_complaint(self, **fields: Any) -> Complaint:
        """Insert a complaint on the national side (see ``World.add_complaint``)."""
        return self.world.add_complaint(**fields)

    def new_case(self) -> int:
        """Add a Dinas Sosial complaint nationally, sync it in, and return its complaint id."""
        complaint_id = self.add_complaint(
            disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan")
        ).complaint_id
        assert self.sync().created == 1
        return complaint_id

    def national_followups(self, complaint_id: int, reference: str) -> list[FollowUp]:
        """The follow-ups on the national side that carry lapor-sync's ``reference`` token."""
        with self.world.lock:
            found = self.world.complaint(complaint_id)
            return [f for f in found.followups if find_reference(f.content) == reference]


@contextmanager
def harness(simulator: Simulator, database_url: str, *, per_page: int = 100, **settings: Any) -> Iterator[Harness]:
    """Serve ``simulator`` and wire lapor-sync (database at ``database_url``) to it until the block ends."""
    faults, clock = FaultInjector(), simulator.clock
    assert isinstance(clock, ManualClock), "the harness moves the simulator's clock"
    with simulator.serve() as base_url:
        app = App(settings_for(database_url, base_url, **settings), clock=clock)
        with client_for(base_url, clock, per_page=per_page, transport=faults) as platform:
            try:
                yield Harness(app, platform, clock, simulator=simulator, base_url=base_url, faults=faults)
            finally:
                app.db.dispose()


# -- a worker that really dies ---------------------------------------------------------------------


def run_push_that_dies(base_url: str, database_url: str, now: datetime) -> int:
    """Run a push in a child process that is killed (``os._exit``) right after its follow-up POST.

    Unlike :class:`ProcessKilled`, nothing in the child gets to clean up: the outbox row stays as
    the worker left it. Returns the child's exit status (:data:`KILLED`).
    """
    code = (
        "from tests.support.e2e import _push_then_exit; "
        f"_push_then_exit({base_url!r}, {database_url!r}, {now.isoformat()!r})"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, timeout=60, check=False).returncode


class _ExitsAfterPosting(PlatformWrapper):
    def post_followup(self, complaint_id: int, **kwargs: Any) -> DomainThreadEntry:
        self.inner.post_followup(complaint_id, **kwargs)
        os._exit(KILLED)


def _push_then_exit(base_url: str, database_url: str, now: str) -> None:
    clock = ManualClock(datetime.fromisoformat(now))
    app = App(settings_for(database_url, base_url), clock=clock)
    with client_for(base_url, clock) as platform:
        app.sync_service(_ExitsAfterPosting(platform)).run(pull=False)  # type: ignore[arg-type]
    sys.exit("the worker should have died in its follow-up POST")
