"""The simulator and the worker's health endpoints say at start who can reach them; loopback is the default."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from lapor_sync.cli import simulator as simulator_cli
from lapor_sync.reports.health import HealthReport
from lapor_sync.runtime.loopback import is_loopback
from lapor_sync.scheduler import http as health_http
from lapor_sync.scheduler.http import HealthServer
from lapor_sync.simulator import Simulator
from tests.support.cli import simulator_app


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LocalHost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.10", False),
        ("api-splp.layanan.go.id", False),
        ("localhost.example.org", False),
    ],
)
def test_loopback_is_this_machine_only(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def stop_at_once() -> None:
    raise KeyboardInterrupt


def test_the_simulator_says_it_listens_on_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulator_cli, "_wait_for_ctrl_c", stop_at_once)
    result = CliRunner().invoke(simulator_app(), ["simulator", "--port", "0"])
    assert result.exit_code == 0, result.output
    [first] = [line for line in result.stdout.splitlines() if "listening on" in line]
    assert first.startswith("SP4N-LAPOR! simulator listening on http://127.0.0.1:")
    assert "(loopback only: not reachable from other machines; --host 0.0.0.0 exposes it)" in first
    assert result.stderr == ""


def test_the_simulator_warns_when_bound_beyond_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    @contextmanager
    def serve(self: Simulator, host: str, port: int) -> Iterator[str]:
        yield f"http://{host}:{port}/lapor/3.0.0"  # no socket: a test never listens beyond loopback

    monkeypatch.setattr(simulator_cli, "_wait_for_ctrl_c", stop_at_once)
    monkeypatch.setattr(Simulator, "serve", serve)
    result = CliRunner().invoke(simulator_app(), ["simulator", "--host", "0.0.0.0", "--port", "8765"])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == (
        "Warning: listening on http://0.0.0.0:8765: reachable from the network; "
        "the simulator has no real authentication."
    )
    assert "loopback only" not in result.stdout


def started_and_stopped(host: str, caplog: pytest.LogCaptureFixture) -> HealthServer:
    """A health server on ``host`` started and stopped, its notices caught: nothing asks it for /healthz."""
    caplog.set_level(logging.INFO, logger="lapor_sync")
    server = HealthServer(host, 0, assess=unused, worker_state=dict, registry=CollectorRegistry())
    server.start()
    server.stop()
    return server


def unused() -> HealthReport:
    raise AssertionError("not asked")


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def notices(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.getMessage().startswith("health endpoints")]


def test_the_health_endpoints_say_they_listen_on_loopback_only(caplog: pytest.LogCaptureFixture) -> None:
    server = started_and_stopped("127.0.0.1", caplog)
    [(level, message)] = notices(caplog)
    assert level == logging.INFO
    assert message == (
        f"health endpoints listening on http://127.0.0.1:{server.port}/healthz and /metrics (loopback only: not "
        "reachable from other machines; LAPOR_SYNC_HEALTH_HOST=0.0.0.0 exposes them)"
    )


def test_the_health_endpoints_warn_when_bound_beyond_loopback(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Unbound:
        """Stands for the WSGI server: a test never listens beyond loopback."""

        server_address = ("0.0.0.0", 9464)

        def serve_forever(self) -> None: ...
        def shutdown(self) -> None: ...
        def server_close(self) -> None: ...

    monkeypatch.setattr(health_http, "make_server", lambda *args, **kwargs: Unbound())
    started_and_stopped("0.0.0.0", caplog)
    [(level, message)] = notices(caplog)
    assert level == logging.WARNING
    assert message == (
        "health endpoints listening on http://0.0.0.0:9464/healthz and /metrics: reachable from the network; "
        "health and metrics are readable by anyone who can reach this port, without credentials"
    )


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_loopback_is_served_and_shown_in_brackets(caplog: pytest.LogCaptureFixture) -> None:
    server = started_and_stopped("::1", caplog)
    assert server.url == f"http://[::1]:{server.port}"
    assert notices(caplog)[0][0] == logging.INFO
