"""Benchmark: every console page and its JSON twin at a city's volume, through the ASGI app and a real server.

Usage: ``.venv/bin/python benchmarks/console_pages.py URL [--repeats 7] [--served 6] [--json PATH]``, URL a
database seeded by ``benchmarks/console_seed.py`` (100,000 complaints and 1,000,000 events by default;
it is migrated first, as the console does). The console is built as ``lapor-sync web`` builds it
(:func:`lapor_sync.web.app.create_console` on the settings of ``URL``), on a clock standing at the end
of the seeded year so that the dashboard's 30 days and the SLA clock have data. A user ``bench-admin``
is added (or reused), signs in through the form, and gets an API token.

Every GET route of the registry (``lapor_sync.web.pages.ROUTERS``, as ``tests/web/test_every_route.py``
walks it; the server-sent events stream excepted) is timed, the page with its cookie and its
``/api/v1`` twin with the token, with path parameters from the seeded data (the case with the longest
thread, a confidential case, the run with the most events, a dead outbox row, a set-aside record)
and typical filters (events by agency + level + week, a case text search, a deep page through
``before``). Each request is timed once cold (the first) and ``--repeats`` times warm, through
httpx's ASGI transport in this process: the server's time without the network, in wall time and in
this process's CPU time (the machine is shared: CPU time shows what the page costs when wall time
waits for a core). The ``--served`` slowest pages are then timed again through uvicorn on loopback
(HTTP, one worker), as a browser would load them. Target (issue 15): every page under 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from bench_support import print_table, write_json
from console_seed import RARE
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import func
from sqlmodel import col, select

from lapor_sync.accounts.roles import Role
from lapor_sync.accounts.tokens import ApiTokens
from lapor_sync.accounts.users import Accounts
from lapor_sync.app import App
from lapor_sync.config.settings import Settings
from lapor_sync.domain.clock import ManualClock
from lapor_sync.storage.models import Case, OutboxItem, SetAsideRecord, SyncEvent, ThreadEntry
from lapor_sync.web.app import API_PREFIX, create_console
from lapor_sync.web.pages import ROUTERS

END_OF_YEAR = datetime(2024, 12, 31, 16, 0, tzinfo=UTC)  # 31 December 2024, 23:00 WIB: the seed's "now"
USER, PASSWORD = "bench-admin", "kata-sandi-benchmark-panjang"
TARGET_MS = 300.0
ENDLESS = re.compile(r"/stream$")
PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
WEEK = {"since": "2024-06-10", "until": "2024-06-16"}
# Filter variants per route path (the page's; its twin gets the same): (label, query parameters).
VARIANTS: dict[str, list[tuple[str, dict[str, str]]]] = {
    "/events": [
        ("agency + level + week", {"agency": "DISHUB", "level": "error", **WEEK}),
        ("one week", WEEK),
        ("kind", {"kind": "outbox.dead_letter"}),
        ("deep page", {"before": "500000"}),
    ],
    "/cases": [
        ("text, 1 in 1,000", {"text": RARE}),
        ("text found nowhere", {"text": "xylofon"}),
        ("agency + state", {"agency": "DISHUB", "state": "in_progress"}),
        ("deep page", {"before": "50000"}),
    ],
    "/runs": [("job", {"job": "pull"}), ("deep page", {"before": "2500"})],
    "/outbox": [("dead letters", {"state": "dead"}), ("deep page", {"before": "10000"})],
    "/set-aside": [("resolved too", {"include_resolved": "true"})],
    "/sla": [("one agency", {"agency": "DISHUB"})],
    "/audit": [],
}
REQUIRED = {"/set-aside/{record_id}/rule": {"agency_code": "DISHUB"}}
"""Query parameters a route cannot do without (its form always sends them)."""
SIGNED_OUT = {"/sign-in"}
"""Pages timed without the cookie (signed in, they redirect)."""


@dataclass
class Timing:
    """One URL's times in milliseconds: the first request, then the warm ones (wall and CPU)."""

    label: str
    status: int
    cold_ms: float
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    bytes: int = 0

    @property
    def median(self) -> float:
        """The warm median (wall), the figure the target is judged on."""
        return statistics.median(self.wall_ms)

    def row(self) -> list[str]:
        """The table's cells."""
        flag = "SLOW" if max(self.median, self.cold_ms) >= TARGET_MS else ""
        return [
            self.label,
            str(self.status),
            f"{self.cold_ms:.0f}",
            f"{self.median:.0f}",
            f"{max(self.wall_ms):.0f}",
            f"{statistics.median(self.cpu_ms):.0f}",
            f"{self.bytes / 1024:.0f}",
            flag,
        ]


class Browser:
    """A synchronous client over the console's ASGI app (one event loop), as tests/web/conftest.py has it."""

    def __init__(self, asgi: FastAPI, headers: dict[str, str] | None = None) -> None:
        self._runner = asyncio.Runner()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=asgi), base_url="http://127.0.0.1", headers=headers or {}
        )

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """GET ``url`` through the app; its whole answer."""
        return self._runner.run(self._client.get(url, **kwargs))

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """POST to ``url`` through the app; its whole answer."""
        return self._runner.run(self._client.post(url, **kwargs))

    def close(self) -> None:
        """Close the client and its loop."""
        self._runner.run(self._client.aclose())
        self._runner.close()


@dataclass(frozen=True)
class Clients:
    """The benchmark's three clients: the signed-in browser, the API with its token, a signed-out browser."""

    browser: Any
    api: Any
    anonymous: Any

    def pick(self, path: str) -> Any:
        """The client that requests ``path`` (filled)."""
        if path.startswith(API_PREFIX):
            return self.api
        return self.anonymous if path in SIGNED_OUT else self.browser


def sign_in(client: Browser | httpx.Client) -> None:
    """Sign in as :data:`USER` through the form, as a person would (the cookie stays in ``client``)."""
    form = client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if token is None:
        raise SystemExit("no CSRF field on /sign-in")
    answer = client.post("/sign-in", data={"name": USER, "password": PASSWORD, "csrf_token": token.group(1)})
    if answer.status_code != 303:
        raise SystemExit(f"sign-in failed: {answer.status_code}")


def path_values(app: App, token_id: int) -> dict[str, list[tuple[str, object]]]:
    """Values for each path parameter, each with what it is: the heavy or special records of the seed."""
    with app.db.session() as session:
        long_thread = session.exec(
            select(ThreadEntry.case_id).group_by(ThreadEntry.case_id).order_by(func.count().desc()).limit(1)
        ).one()
        secret = session.exec(select(Case.id).where(Case.is_secret).order_by(col(Case.id).desc()).limit(1)).one()
        big_run = session.exec(
            select(SyncEvent.run_id).group_by(SyncEvent.run_id).order_by(func.count().desc()).limit(1)
        ).one()
        dead = session.exec(select(OutboxItem.id).where(OutboxItem.state == "dead").limit(1)).first()
        record = session.exec(
            select(SetAsideRecord.id).where(col(SetAsideRecord.resolved_at).is_(None)).limit(1)
        ).first()
    return {
        "case_id": [("longest thread", long_thread), ("confidential", secret)],
        "run_id": [("most events", big_run)],
        "item_id": [("dead letter", dead)],
        "record_id": [("unresolved", record)],
        "name": [("user", USER)],
        "token_id": [("token", token_id)],
    }


def get_routes() -> Iterator[tuple[str, str]]:
    """Every GET route ``(page path, api path or '')`` in the registry's order, the endless stream excepted."""
    for pages, api in ROUTERS:
        twins = {r.path for r in (api.routes if api else []) if isinstance(r, APIRoute) and "GET" in r.methods}
        for route in pages.routes:
            if isinstance(route, APIRoute) and "GET" in route.methods and not ENDLESS.search(route.path):
                yield route.path, (API_PREFIX + route.path if route.path in twins else "")
        pages_paths = {r.path for r in pages.routes if isinstance(r, APIRoute)}
        for path in sorted(twins - pages_paths):  # an API read with no page of its own (e.g. /dashboard)
            if not ENDLESS.search(path):
                yield "", API_PREFIX + path


def urls(values: dict[str, list[tuple[str, object]]]) -> Iterator[tuple[str, str, dict[str, str]]]:
    """``(label, path, query)`` for every GET route and variant, pages and twins."""
    for page, api in get_routes():
        for path in filter(None, (page, api)):
            required = REQUIRED.get(path.removeprefix(API_PREFIX), {})
            for what, filled in _filled(path, values):
                base = filled + (f" ({what})" if what else "")
                yield base, filled, required
                for label, query in VARIANTS.get(path.removeprefix(API_PREFIX), []):
                    yield f"{base} [{label}]", filled, query


def _filled(path: str, values: dict[str, list[tuple[str, object]]]) -> Iterator[tuple[str, str]]:
    """``path`` with each value of its first parameter (the others: their first value)."""
    names = PARAM.findall(path)
    if not names:
        yield "", path
        return
    for what, value in values[names[0]]:
        chosen = {n: values[n][0][1] for n in names} | {names[0]: value}
        yield what, PARAM.sub(lambda m, c=chosen: str(c[m.group(1)]), path)


def time_asgi(clients: Clients, targets: list[tuple[str, str, dict[str, str]]], repeats: int) -> list[Timing]:
    """Time each target through the ASGI app: once cold, then ``repeats`` times warm."""
    timings = []
    for label, path, query in targets:
        client = clients.pick(path)
        timing = _timed(lambda c=client, p=path, q=query: c.get(p, params=q), label)
        for _ in range(repeats):
            _timed(lambda c=client, p=path, q=query: c.get(p, params=q), label, into=timing)
        timings.append(timing)
        print(f"  {timing.median:7.0f} ms  {label}", file=sys.stderr, flush=True)
    return timings


def _timed(request: Callable[[], httpx.Response], label: str, *, into: Timing | None = None) -> Timing:
    wall, cpu = time.perf_counter(), time.process_time()
    answer = request()
    wall_ms, cpu_ms = 1000 * (time.perf_counter() - wall), 1000 * (time.process_time() - cpu)
    if into is None:
        return Timing(label, answer.status_code, wall_ms, [], [], len(answer.content))
    into.wall_ms.append(wall_ms)
    into.cpu_ms.append(cpu_ms)
    return into


@contextmanager
def served(asgi: FastAPI) -> Iterator[str]:
    """Run ``asgi`` under uvicorn on a free loopback port, in a thread; yields its base URL."""
    config = uvicorn.Config(asgi, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)  # waiting for the server to listen, not for time to pass
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()


def time_served(
    asgi: FastAPI, slowest: list[Timing], targets: dict[str, tuple[str, dict[str, str]]], repeats: int, token: str
) -> list[Timing]:
    """Time the ``slowest`` targets again through uvicorn on loopback (the server runs in this process, on a thread)."""
    timings = []
    with (
        served(asgi) as base,
        httpx.Client(base_url=base) as browser,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api,
        httpx.Client(base_url=base) as anonymous,
    ):
        sign_in(browser)
        for slow in slowest:
            path, query = targets[slow.label]
            client = Clients(browser, api, anonymous).pick(path)
            timing = _timed(lambda c=client, p=path, q=query: c.get(p, params=q), slow.label)
            for _ in range(repeats):
                _timed(lambda c=client, p=path, q=query: c.get(p, params=q), slow.label, into=timing)
            timings.append(timing)
    return timings


def build(url: str) -> tuple[App, FastAPI, str, int]:
    """The console on ``url`` with :data:`USER` (an admin) and an API token of theirs: app, ASGI app, token, token id."""
    clock = ManualClock(END_OF_YEAR)
    app = App(Settings(database_url=url, api_base_url="http://127.0.0.1:9"), clock=clock)  # nothing listens
    asgi = create_console(app)
    accounts = Accounts(app.db, clock)
    if accounts.get(USER) is None:
        accounts.add(USER, Role.ADMIN, PASSWORD)
    tokens = ApiTokens(app.db, clock)
    token = tokens.issue_token(USER, label="benchmark")
    token_id = next(t.id for t in tokens.tokens(USER) if token.startswith(t.prefix))
    return app, asgi, token, token_id


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, time every page, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="a seeded database (sqlite:///FILE or postgresql://...)")
    parser.add_argument("--repeats", type=int, default=7, help="warm requests per URL")
    parser.add_argument("--served", type=int, default=6, help="how many of the slowest to time through uvicorn")
    parser.add_argument("--only", default="", help="only URLs whose label contains this text")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    app, asgi, token, token_id = build(args.url)
    clients = Clients(Browser(asgi), Browser(asgi, {"Authorization": f"Bearer {token}"}), Browser(asgi))
    sign_in(clients.browser)
    targets = [t for t in urls(path_values(app, token_id)) if args.only in t[0]]
    load_before = os.getloadavg()[0]
    timings = sorted(time_asgi(clients, targets, args.repeats), key=lambda t: -t.median)
    header = ["URL (what)", "status", "cold", "warm median", "warm max", "CPU median (this process)", "KiB", ""]
    print(f"\nThrough the ASGI app (ms; {args.repeats} warm requests each):")
    print_table(header, [t.row() for t in timings])
    by_label = {label: (path, query) for label, path, query in targets}
    over_http = time_served(asgi, timings[: args.served], by_label, args.repeats, token)
    print(f"\nThrough uvicorn on loopback (ms; {args.repeats} warm requests each):")
    print_table(header, [t.row() for t in over_http])
    worst = timings[0]
    print(f"\nSlowest: {worst.label}: {worst.median:.0f} ms warm median, {worst.cold_ms:.0f} ms cold")
    # The machine may be shared: wall time then waits for a core, CPU time does not.
    load = (load_before, os.getloadavg()[0])
    print(f"Load average (1 min) before and after: {load[0]:.1f}, {load[1]:.1f} on {os.cpu_count()} cores")
    write_json(
        args.json,
        "console_pages",
        {
            "url": args.url.split("@")[-1],
            "load_average": load,
            "asgi": [t.__dict__ for t in timings],
            "served": [t.__dict__ for t in over_http],
        },
    )
    for client in (clients.browser, clients.api, clients.anonymous):
        client.close()
    app.db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
