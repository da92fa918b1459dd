"""The worker's HTTP endpoints on a loopback port: ``/healthz`` (JSON) and ``/metrics`` (Prometheus).

``/healthz`` answers 200 with ``{"status": "ok" | "degraded", ...}``, or 503 when failing (or
when the database cannot be read), so a probe or a load balancer can act on the code alone.
Neither asks for credentials: they hold no complaint data, but counts and ages tell about the
city's backlog, so they bind to loopback by default and say so at start (a warning otherwise).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIEnvironment

from prometheus_client import CollectorRegistry, make_wsgi_app
from sqlalchemy.exc import SQLAlchemyError

from lapor_sync.health import Health, HealthReport
from lapor_sync.loopback import is_loopback, listening_notice

log = logging.getLogger("lapor_sync.worker")


class _IPv6Server(WSGIServer):
    address_family = socket.AF_INET6  # wsgiref's server binds IPv4 only


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Scrapes every few seconds would flood the worker's log; stay silent."""


def healthz_body(report: HealthReport, worker: dict[str, Any]) -> dict[str, Any]:
    """The ``/healthz`` answer: status, reasons, the key ages and counts, and the worker's jobs."""
    facts = report.facts
    return {
        "status": report.health.value, "reasons": report.reasons, "checked_at": facts["now"],
        "last_pull_age_seconds": facts["last_pull"]["age_seconds"] if facts["last_pull"] else None,
        "last_push_age_seconds": facts["last_push"]["age_seconds"] if facts["last_push"] else None,
        "outbox": facts["outbox"], "oldest_pending_age_seconds": facts["oldest_pending_age_seconds"],
        "worker": worker,
    }


def _json(value: object) -> bytes:
    return json.dumps(value, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)).encode()


class HealthServer:
    """Serves ``/healthz`` and ``/metrics`` from a daemon thread.

    Args:
        host: address to bind (keep it on loopback).
        port: TCP port; 0 picks a free one (see :attr:`port`).
        assess: reads the current health (may raise when the database is down).
        worker_state: the worker's own state for ``/healthz`` (jobs, next run times UTC).
        registry: the Prometheus registry served at ``/metrics``.
    """

    def __init__(self, host: str, port: int, *, assess: Callable[[], HealthReport],
                 worker_state: Callable[[], dict[str, Any]], registry: CollectorRegistry) -> None:
        self._host = host
        self._assess, self._worker_state = assess, worker_state
        self._metrics = make_wsgi_app(registry)
        self._server: WSGIServer = make_server(host, port, self._app, handler_class=_QuietHandler,
                                               server_class=_IPv6Server if ":" in host else WSGIServer)
        self._thread = threading.Thread(target=self._server.serve_forever, name="health-http", daemon=True)

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Where it serves, e.g. ``http://127.0.0.1:9464`` (the address as configured, brackets for IPv6)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def notice(self) -> str:
        """Where it listens and who can reach it, for the log at start."""
        return listening_notice(
            f"{self.url}/healthz and /metrics", self._host,
            how_to_expose="LAPOR_SYNC_HEALTH_HOST=0.0.0.0 exposes them",
            exposed_risk="health and metrics are readable by anyone who can reach this port, without credentials",
        )

    def start(self) -> None:
        """Start serving, and log where (INFO on loopback, else WARNING)."""
        self._thread.start()
        log.log(logging.INFO if is_loopback(self._host) else logging.WARNING, "health endpoints %s", self.notice())

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return self._metrics(environ, start_response)
        if path != "/healthz":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: try /healthz or /metrics\n"]
        try:
            report = self._assess()
            body: dict[str, Any] = healthz_body(report, self._worker_state())
            failing = report.health is Health.FAILING
        except (SQLAlchemyError, OSError) as exc:  # the database is down: that is an answer too
            log.warning("healthz: cannot read the database (%s)", type(exc).__name__)
            body = {"status": Health.FAILING.value, "reasons": [f"cannot read the database ({type(exc).__name__})"]}
            failing = True
        start_response("503 Service Unavailable" if failing else "200 OK", [("Content-Type", "application/json")])
        return [_json(body)]
