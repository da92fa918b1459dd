"""Measure: odd ``Retry-After`` values, a trickled answer, a slow name lookup, SIGTERM mid-request.

Usage: ``.venv/bin/python scripts/slow_network.py [--parts retry-after,trickle,lookup,sigterm]
[--deadline SECONDS]``. Serves the simulator at 1 February 2024 behind a wrapper that misbehaves as
each part asks, and reports the waits, the durations and the run outcomes it sees:

- ``retry-after``: every follow-up POST on the complaint posted to first gets a 429 with
  ``Retry-After`` ``99999999999999999999``, an epoch in milliseconds, then one in seconds; two
  ``sync --push-only`` runs follow. What the row waits, its state and attempts, the runs' outcomes,
  the rows behind it.
- ``trickle``: every GET answer comes one byte every 2.5 s, the read timeout is 3 s; one
  ``sync --pull-only`` (``--deadline`` sets ``LAPOR_SYNC_REQUEST_DEADLINE_SECONDS``, default 60).
- ``lookup``: the API's host name takes 25 s to look up (``socket.getaddrinfo`` stands in for a
  slow resolver); one call, then one cut short by a stop request after 1 s. Whether an abandoned
  lookup went on to connect is read from the simulator's requests once the calls are over and
  every lookup has answered.
- ``sigterm``: a worker's follow-up POST is held by the server; SIGTERM arrives while it waits for
  the answer. How long the worker takes to exit, the runs' outcomes, then a restart with
  ``worker --once``: follow-ups per reference token (none twice).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from measure_support import (
    WATCHER_ONLY,
    Served,
    city_app,
    cli,
    fresh_database,
    print_push_runs,
    pull_then_staff_round,
    runs,
    start_worker,
    worker_env,
)
from sqlmodel import col, select

from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.timezones import WIB
from lapor_sync.simulator import Simulator
from lapor_sync.storage.models import OutboxItem

START = datetime(2024, 2, 1, 16, 30, tzinfo=WIB)
SLOW_HOST = "slow-dns.lapor.test"
LOOKUP_SECONDS = 25.0
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Message, Receive, Send], Awaitable[None]]


@dataclass
class Plan:
    """What the wrapped simulator does to the next requests; each part of the measurement sets it.

    Attributes:
        retry_after: while set, every follow-up POST on the complaint posted to first is answered
            429 with this ``Retry-After``.
        refused: that complaint's id.
        trickle_every: GET answers are sent one byte every so many seconds.
        hold_posts: follow-up POSTs wait this long before the simulator sees them; one whose
            client leaves meanwhile is dropped, never applied.
        posted: set when a follow-up POST arrives.
        seen: every request: (``time.monotonic()``, Host header, method, path).
    """

    retry_after: str | None = None
    refused: bytes | None = None
    trickle_every: float | None = None
    hold_posts: float = 0.0
    posted: threading.Event = field(default_factory=threading.Event)
    seen: list[tuple[float, str, str, str]] = field(default_factory=list)


async def _trickled(inner: ASGIApp, scope: Message, receive: Receive, send: Send, every: float) -> None:
    """Let ``inner`` answer, then send its body a byte every ``every`` seconds until done or the client leaves."""
    messages: list[Message] = []

    async def keep(message: Message) -> None:
        messages.append(message)

    await inner(scope, receive, keep)
    body = b"".join(message.get("body", b"") for message in messages[1:])
    await send(messages[0])
    for at in range(len(body)):
        try:
            if (await asyncio.wait_for(receive(), every))["type"] == "http.disconnect":
                return
        except TimeoutError:
            pass
        await send({"type": "http.response.body", "body": body[at : at + 1], "more_body": at + 1 < len(body)})


async def _request(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole request body; return it and a ``receive`` that gives it again to the simulator."""
    parts: list[Message] = []
    while not parts or parts[-1].get("more_body", False):
        parts.append(await receive())

    async def replay() -> Message:
        return parts.pop(0) if parts else await receive()

    return b"".join(part.get("body", b"") for part in parts), replay


async def _left(receive: Receive, seconds: float) -> bool:
    """Wait ``seconds`` for the client to leave (the request already read); tell whether it did."""
    try:
        return (await asyncio.wait_for(receive(), seconds))["type"] == "http.disconnect"
    except TimeoutError:
        return False


def misbehaving(inner: ASGIApp, plan: Plan) -> ASGIApp:
    """``inner`` (the simulator) behind the misbehaviour ``plan`` asks for."""

    async def app(scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        plan.seen.append((time.monotonic(), dict(scope["headers"]).get(b"host", b"").decode(), method, path))
        if method == "POST" and path.endswith("/complaints/followup/add"):
            plan.posted.set()
            body, replay = await _request(receive)
            complaint = re.search(rb'name="complaint_id"\r\n\r\n([0-9]+)', body)
            if plan.retry_after is not None and complaint is not None:
                plan.refused = plan.refused or complaint.group(1)
                if complaint.group(1) == plan.refused:
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 429,
                            "headers": [
                                (b"retry-after", plan.retry_after.encode()),
                                (b"content-type", b"application/json"),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": b'{"message": "Too Many Requests"}'})
                    return
            if not (plan.hold_posts and await _left(receive, plan.hold_posts)):
                await inner(scope, replay, send)
            return
        if method == "GET" and plan.trickle_every:
            await _trickled(inner, scope, receive, send, plan.trickle_every)
            return
        await inner(scope, receive, send)

    return app


@contextmanager
def misbehaving_simulator(plan: Plan) -> Iterator[Served]:
    """A fresh simulator (the 2024 data set at ``START``, no rate limit) served behind ``misbehaving``."""
    simulator = Simulator.generate(clock=ManualClock(START), rate_limit=None)
    simulator.app = misbehaving(simulator.app, plan)  # type: ignore[assignment]
    with simulator.serve() as base_url:
        yield Served(simulator, base_url, threading.Event())


def outbox(app: Any) -> list[OutboxItem]:
    """Every outbox row, by id."""
    with app.db.session() as session:
        return list(session.exec(select(OutboxItem).order_by(col(OutboxItem.id))))


def describe_row(row: OutboxItem) -> str:
    """One line: the row's state, attempts, read-back flag, seconds to its next try, last error."""
    at = row.next_attempt_at if row.next_attempt_at.tzinfo else row.next_attempt_at.replace(tzinfo=UTC)
    return (
        f"row #{row.id}: {row.state}, {row.attempts} attempt(s), read back first: {row.needs_readback}, "
        f"next try in {(at - datetime.now(UTC)).total_seconds():.0f} s; last error: {(row.last_error or '')[:140]}"
    )


def timed_cli(env: dict[str, str], *args: str) -> tuple[dict[str, Any] | None, int, float, str]:
    """Run ``lapor-sync *args --json``: its JSON (or ``None``), exit code, seconds taken, stderr."""
    started = time.monotonic()
    done = cli(env, *args, "--json")
    took = time.monotonic() - started
    try:
        summary = json.loads(done.stdout)
    except ValueError:
        summary = None
    return summary, done.returncode, took, done.stderr


def describe_run(summary: dict[str, Any] | None, code: int, took: float, stderr: str) -> str:
    """One line: outcome, counters that moved, error, exit code, duration (and any Retry-After log line)."""
    if summary is None:
        return f"no run summary (exit {code}, {took:.1f} s): {stderr.strip()[-300:]}"
    cut = [line for line in stderr.splitlines() if "Retry-After" in line]
    counts = ", ".join(
        f"{name} {summary[name]}"
        for name in ("fetched", "created", "pushed", "failed", "dead_lettered")
        if summary.get(name)
    )
    error = f"; error: {summary['error'][:160]}" if summary.get("error") else ""
    logged = "".join(f"\n    log: {line[:300]}" for line in cut)
    return (
        f"run #{summary['run_id']} {summary['outcome']} ({counts or 'nothing moved'}){error}; "
        f"exit {code}, {took:.1f} s{logged}"
    )


def part_retry_after(plan: Plan) -> None:
    """A 429 with an odd ``Retry-After`` on a follow-up POST, then two push runs."""
    epoch_seconds = str(int(time.time()))
    for label, value in [
        ("a huge number", "99999999999999999999"),
        ("an epoch in milliseconds", epoch_seconds + "000"),
        ("an epoch in seconds", epoch_seconds),
    ]:
        print(
            f"\n[retry-after] 429 to every follow-up POST on the first complaint posted to, "
            f"Retry-After: {value} ({label})"
        )
        with misbehaving_simulator(plan) as served, fresh_database("sqlite") as url:
            app = city_app(url, served.base_url)
            env = worker_env(url, served.base_url)
            done = pull_then_staff_round(env, app)
            plan.retry_after = value
            for number in (1, 2):
                print(f"  push {number}: {describe_run(*timed_cli(env, 'sync', '--push-only'))}")
            rows = outbox(app)
            hit = [row for row in rows if row.state != "delivered"]
            states = Counter(row.state for row in rows)
            print(f"  outbox ({done.followups} follow-ups written by staff): {dict(states)}")
            for row in hit[:3]:
                print(f"  {describe_row(row)}")
            if not hit:
                print("  every row was delivered")
            app.db.dispose()
        plan.retry_after = plan.refused = None


def part_trickle(plan: Plan, deadline: float | None) -> None:
    """Every GET answer trickled a byte every 2.5 s with a 3 s read timeout: one pull."""
    limits = {"http_timeout_seconds": 3} | ({"request_deadline_seconds": deadline} if deadline else {})
    print(f"\n[trickle] GET answers one byte every 2.5 s; {limits} (others default)")
    with misbehaving_simulator(plan) as served, fresh_database("sqlite") as url:
        env = worker_env(url, served.base_url, **limits)
        plan.trickle_every, since = 2.5, time.monotonic()
        try:
            result = timed_cli(env, "sync", "--pull-only")
        finally:
            plan.trickle_every = None
    print(f"  pull: {describe_run(*result)}")
    starts = [round(at - since, 1) for at, _, method, _ in plan.seen if at >= since and method == "GET"]
    print(f"  GET requests started at (s): {starts}")


def _slow_getaddrinfo(real: Callable[..., Any], lookups: list[float]) -> Callable[..., Any]:
    """``real`` (``socket.getaddrinfo``), but ``SLOW_HOST`` answers after 25 s; ``lookups`` gets each one's start."""

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == SLOW_HOST:
            lookups.append(time.monotonic())
            time.sleep(LOOKUP_SECONDS)  # a resolver that answers late (it names this machine)
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    return getaddrinfo


def part_lookup(plan: Plan) -> None:
    """The API's host name takes 25 s to look up: one call, then one stopped after 1 s."""
    with misbehaving_simulator(plan) as served:
        _slow_lookups(served, plan)


def _slow_lookups(served: Served, plan: Plan) -> None:
    port = served.base_url.split(":")[2].split("/")[0]
    base = f"http://{SLOW_HOST}:{port}/lapor/3.0.0"
    app = city_app("sqlite://", base, allow_insecure_http=True)
    print(
        f"\n[lookup] {SLOW_HOST} takes {LOOKUP_SECONDS:.0f} s to look up; http_timeout_seconds 30 "
        "(connect at most 10), request deadline 60, retry cap 60 s"
    )
    real, lookups = socket.getaddrinfo, []
    socket.getaddrinfo = _slow_getaddrinfo(real, lookups)
    try:
        for label, stop_after in (("a call", None), ("a call stopped after 1 s (as SIGTERM)", 1.0)):
            stop = threading.Event()
            if stop_after is not None:
                threading.Timer(stop_after, stop.set).start()
            started, before = time.monotonic(), len(lookups)
            with app.platform(stop=stop) as platform:
                try:
                    platform.list_categories()  # type: ignore[attr-defined]
                    outcome = "answered"
                except Exception as exc:  # noqa: BLE001 - reported, whatever it is
                    outcome = f"{type(exc).__name__}: {exc}"
            print(
                f"  {label}: {time.monotonic() - started:.2f} s, lookups started at (s): "
                f"{[round(at - started, 1) for at in lookups[before:]]}; {outcome}"
            )
        since = time.monotonic()  # the calls are over: a request from now on is an abandoned lookup's
        waiting = [t for t in threading.enumerate() if t.name == "lapor-sync name lookup"]
        print(f"  waiting for the {len(waiting)} abandoned lookup(s) still running to answer ...")
        for thread in waiting:
            thread.join(LOOKUP_SECONDS + 5)
    finally:
        socket.getaddrinfo = real
    reached = [entry for entry in plan.seen if entry[0] >= since and entry[1].startswith(SLOW_HOST)]
    print(f"  requests that reached the server after the calls ended: {len(reached)}")


def part_sigterm(plan: Plan) -> None:
    """SIGTERM to a worker whose follow-up POST the server holds; then a restart."""
    print("\n[sigterm] the server holds follow-up POSTs 120 s; SIGTERM once one is waiting for its answer")
    with misbehaving_simulator(plan) as served, fresh_database("sqlite") as url, TemporaryDirectory() as logs:
        app = city_app(url, served.base_url)
        env = worker_env(url, served.base_url, **WATCHER_ONLY)
        pull_then_staff_round(env, app)
        plan.hold_posts = 120.0
        plan.posted.clear()
        try:
            worker = start_worker(env, Path(logs) / "worker.log")
            if not plan.posted.wait(60):
                print("  no follow-up POST within 60 s")
            time.sleep(0.5)  # the POST is well into its wait for an answer
            worker.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            code = worker.wait(timeout=120)
            print(
                f"  worker exited {code} {time.monotonic() - signalled:.2f} s after SIGTERM "
                "(shutdown_timeout_seconds 45)"
            )
        finally:
            plan.hold_posts = 0.0
        print_push_runs(app)
        rows = outbox(app)
        print(
            f"  outbox: {dict(Counter(row.state for row in rows))}; "
            f"to read back first: {sum(row.needs_readback for row in rows)}"
        )
        again = cli(env, "worker", "--once")
        last = runs(app)[-1]
        print(
            f"  restart (`worker --once`): exit {again.returncode}; run #{last.id} {last.job}: {last.outcome}, "
            f"pushed {last.pushed}; outbox {dict(Counter(row.state for row in outbox(app)))}"
        )
        for row in outbox(app):
            if row.state != "delivered":
                print(f"  {describe_row(row)}")
        twice = {ref: n for ref, n in served.followups_per_reference().items() if n > 1}
        print(f"  reference tokens posted more than once: {len(twice)} {twice or ''}")
        app.db.dispose()


def main() -> None:
    """Run the chosen parts and print what happened."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="retry-after,trickle,lookup,sigterm")
    parser.add_argument(
        "--deadline",
        type=float,
        default=None,
        help="LAPOR_SYNC_REQUEST_DEADLINE_SECONDS for the trickle part (default: the setting's)",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    plan = Plan()
    if "retry-after" in parts:
        part_retry_after(plan)
    if "trickle" in parts:
        part_trickle(plan, args.deadline)
    if "lookup" in parts:
        part_lookup(plan)
    if "sigterm" in parts:
        part_sigterm(plan)


if __name__ == "__main__":
    main()
