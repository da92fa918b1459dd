"""The worker's /healthz and /metrics over a real loopback socket: a silent client holds up nobody.

A liveness probe that waits behind one idle connection would restart a healthy worker.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client import CollectorRegistry

from lapor_sync.reports.health import Health, HealthReport
from lapor_sync.scheduler import http as health_http
from lapor_sync.scheduler.http import HealthServer
from tests.support.e2e import child_env, run_command

FACTS = {
    "now": datetime(2026, 3, 2, 3, 0, tzinfo=UTC),
    "last_pull": {"age_seconds": 60},
    "last_push_delivered": None,
    "outbox": {"pending": 0},
    "oldest_pending_age_seconds": None,
}


def healthy() -> HealthReport:
    return HealthReport(Health.OK, [], FACTS)


def serve() -> HealthServer:
    server = HealthServer(
        "127.0.0.1", 0, assess=healthy, worker_state=lambda: {"running": []}, registry=CollectorRegistry()
    )
    server.start()
    return server


def half_request(port: int) -> socket.socket:
    """A client that sends half a request line and then nothing (as a stuck or hostile client does)."""
    idle = socket.create_connection(("127.0.0.1", port), timeout=5)
    idle.sendall(b"GET /heal")
    return idle


def still_open(sock: socket.socket) -> bool:
    """Whether the server has not closed ``sock`` (nothing to read yet, no end of stream)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    finally:
        sock.setblocking(True)


@pytest.fixture
def server() -> Iterator[HealthServer]:
    running = serve()
    yield running
    running.stop()


def test_a_half_sent_request_line_does_not_hold_up_healthz_or_metrics(server: HealthServer) -> None:
    with half_request(server.port) as idle:
        health = httpx.get(f"{server.url}/healthz", timeout=1)
        metrics = httpx.get(f"{server.url}/metrics", timeout=1)

        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert metrics.status_code == 200
        assert still_open(idle)  # answered beside it, not after it went away


def test_a_connection_that_never_finishes_its_request_is_closed_after_the_request_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(health_http, "REQUEST_SECONDS", 0.5, raising=False)
    server = serve()
    try:
        with half_request(server.port) as idle:
            idle.settimeout(5)
            try:
                closed = idle.recv(1) == b""
            except TimeoutError:
                closed = False
            except OSError:  # a reset is a close too
                closed = True
    finally:
        server.stop()

    assert closed, "the idle connection was still open 5 s after a 0.5 s request timeout"


def test_a_pipelined_request_whose_answer_takes_longer_than_the_request_timeout_is_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(health_http, "REQUEST_SECONDS", 0.5, raising=False)
    calls: list[int] = []

    def slow_second_time() -> HealthReport:
        calls.append(1)
        if len(calls) == 2:
            threading.Event().wait(1.0)  # the database is slow: past the 0.5 s the request had to arrive
        return healthy()

    server = HealthServer(
        "127.0.0.1", 0, assess=slow_second_time, worker_state=lambda: {"running": []}, registry=CollectorRegistry()
    )
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as client:
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 2)  # both heads at once, in time
            received = b""
            while received.count(b"HTTP/1.1 200") < 2 and (chunk := client.recv(65536)):
                received += chunk
    finally:
        server.stop()

    assert received.count(b"HTTP/1.1 200") == 2, "the connection was closed while the second answer was worked out"


def test_a_port_in_use_stops_the_worker_with_one_line_naming_the_setting(tmp_path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = child_env(
            f"sqlite:///{tmp_path / 'w.db'}",
            "http://127.0.0.1:9/lapor",  # never called: the worker stops first
            health_port=port,
        )
        result = run_command(env, "worker", timeout=60)

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        f"error: LAPOR_SYNC_HEALTH_PORT: cannot listen on port {port} of 127.0.0.1 (Address already in use): "
    )
