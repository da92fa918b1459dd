"""The demo's simulator as a child process: ``lapor-sync simulator`` on a free loopback port.

In a process of its own the simulator's CPU overlaps lapor-sync's on a second core instead of
taking turns with it under one interpreter lock. The child is driven over its admin endpoints
(:mod:`lapor_sync.simulator.admin`): its clock moved, its tallies read, its world saved; and it is
stopped on every way out of :func:`simulator_child`.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import httpx

from lapor_sync.simulator.wire import format_wib

START_TIMEOUT = 60.0
"""Seconds the child may take to import, generate its data set and listen (about 2 s on an idle machine)."""
STOP_TIMEOUT = 10.0
"""Seconds the child may take to end after SIGTERM before it is killed."""
REQUEST_TIMEOUT = 60.0
"""Seconds an admin request may take (moving the clock over a busy week applies many events)."""
_BASE_URL_MARK = "base URL"  # the line `lapor-sync simulator` prints once it listens
_KEPT_LINES = 20  # the child's last lines, quoted when it fails to start


def simulator_command(*options: str) -> list[str]:
    """The command line of ``lapor-sync simulator *options`` under this interpreter.

    The console script may not be on PATH (a virtualenv run by its python); this is what it runs.
    """
    return [sys.executable, "-c", "from lapor_sync.cli.app import main; main()", "simulator", *options]


@dataclass
class SimulatorChild:
    """A running simulator child: its base URL and its admin endpoints.

    Attributes:
        process: the child process.
        base_url: the contract's base URL, e.g. ``"http://127.0.0.1:54321/lapor/3.0.0"``.
        http: the client of the admin requests (one for them all: a new client per request costs
            ~20 ms of CPU in building its TLS context).
    """

    process: subprocess.Popen[str]
    base_url: str
    http: httpx.Client

    @property
    def root(self) -> str:
        """The server's root URL, where the ``/_simulator/...`` endpoints live."""
        return self.base_url.removesuffix("/lapor/3.0.0")

    def admin(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Call the admin endpoint ``path`` (``/_simulator/...``; ``kwargs`` as for ``httpx.request``).

        Returns:
            The JSON answer.

        Raises:
            httpx.HTTPError: the child refused the request or did not answer within
                :data:`REQUEST_TIMEOUT` seconds.
        """
        answer = self.http.request(method, f"{self.root}{path}", **kwargs)
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body

    def advance_to(self, instant: datetime) -> None:
        """Move the child's clock to ``instant`` (aware), applying due events (``POST /_simulator/clock``).

        Raises:
            httpx.HTTPError: the child refused (an earlier instant) or did not answer.
        """
        self.admin("POST", "/_simulator/clock", json={"to": format_wib(instant)})

    def save(self) -> None:
        """Save the child's world to the file it was started with (``POST /_simulator/save``).

        Raises:
            httpx.HTTPError: the child was started without a file to save to, or did not answer.
        """
        self.admin("POST", "/_simulator/save")


@dataclass
class StartingSimulator:
    """A simulator child started, perhaps not listening yet: its caller may prepare meanwhile.

    Attributes:
        process: the child process.
        http: the client its admin requests will use.
        lines: the child's output, line by line (``None`` at its end), read on a thread from the start
            so that the pipe never fills.
    """

    process: subprocess.Popen[str]
    http: httpx.Client
    lines: queue.Queue[str | None]

    def answering(self, timeout: float = START_TIMEOUT) -> SimulatorChild:
        """Wait (``timeout`` seconds at most for its base URL) until the child listens and answers; return it.

        Raises:
            RuntimeError: the child ended, or printed no base URL within ``timeout`` seconds, or did
                not answer then (its last lines quoted: the simulator prints only fake credentials).
        """
        base_url = _wait_for_base_url(self.process, self.lines, timeout)
        return _answering(SimulatorChild(self.process, base_url, self.http))


@contextmanager
def started_simulator(*options: str) -> Iterator[StartingSimulator]:
    """Start ``lapor-sync simulator --port 0 *options`` as a child process for the block; yield it at once.

    The child imports, builds its world and starts listening (over a second) while the block
    prepares what does not need it; :meth:`StartingSimulator.answering` then waits for it. The child
    runs in a session of its own, so a Ctrl-C at the terminal reaches only this process, which then
    stops the child here like any other way out: SIGTERM (which saves nothing: only
    ``POST /_simulator/save`` does), then SIGKILL after :data:`STOP_TIMEOUT` seconds.
    """
    process = subprocess.Popen(
        simulator_command("--port", "0", *options),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        lines: queue.Queue[str | None] = queue.Queue()
        assert process.stdout is not None  # noqa: S101 - opened with stdout=PIPE just above
        threading.Thread(target=_drain, args=(process.stdout, lines), name="simulator-output", daemon=True).start()
        with httpx.Client(timeout=REQUEST_TIMEOUT, trust_env=False) as http:  # loopback: never a proxy
            yield StartingSimulator(process, http, lines)
    finally:
        _stop(process)


@contextmanager
def simulator_child(*options: str, start_timeout: float = START_TIMEOUT) -> Iterator[SimulatorChild]:
    """Run ``lapor-sync simulator --port 0 *options`` as a child process for the block; yield it once it answers.

    :func:`started_simulator`, then :meth:`StartingSimulator.answering` at once; stopped the same way.

    Raises:
        RuntimeError: the child ended, or printed no base URL within ``start_timeout`` seconds, or
            did not answer then (its last lines quoted: the simulator prints only fake credentials).
    """
    with started_simulator(*options) as starting:
        yield starting.answering(start_timeout)


def _answering(child: SimulatorChild) -> SimulatorChild:
    """Return ``child`` once it has answered an admin request.

    Raises:
        RuntimeError: it did not answer.
    """
    try:
        child.admin("GET", "/_simulator/clock")
    except httpx.HTTPError as failed:
        raise RuntimeError(f"the simulator at {child.root} does not answer: {type(failed).__name__}") from None
    return child


def _wait_for_base_url(process: subprocess.Popen[str], lines: queue.Queue[str | None], timeout: float) -> str:
    """Read the child's output ``lines`` until its base URL line; bounded by ``timeout`` seconds in all."""
    deadline = time.monotonic() + timeout
    seen: deque[str] = deque(maxlen=_KEPT_LINES)
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise RuntimeError(f"the simulator printed no base URL within {timeout:.0f} s") from None
        if line is None:
            tail = "".join(seen).strip()
            raise RuntimeError(f"the simulator ended before it listened (exit {process.wait()}): {tail}")
        if _BASE_URL_MARK in line:
            return line.split(_BASE_URL_MARK, 1)[1].strip()
        seen.append(line)


def _drain(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Pass every line of ``stream`` on, then ``None`` at its end; reading on keeps the pipe from filling."""
    with stream:
        for line in stream:
            lines.put(line)
    lines.put(None)


def _stop(process: subprocess.Popen[str]) -> None:
    """End ``process``: SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT` seconds; reap it either way."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
