"""The worker's HTTP endpoints on a loopback port: ``/healthz`` (JSON) and ``/metrics`` (Prometheus).

``/healthz`` answers 200 with ``{"status": "ok" | "degraded", ...}``, or 503 when failing (or
when the database cannot be read), so a probe or a load balancer can act on the code alone.
Neither asks for credentials: they hold no complaint data, but counts and ages tell about the
city's backlog, so they bind to loopback by default and say so at start (a warning otherwise).

Served by uvicorn on its own thread and event loop (no signal handlers of its own: the worker
owns SIGTERM), so one slow or silent client never holds up the others: each answer is worked out
on a worker thread (Starlette's pool, at most 40 at once, each reading the database), at most
:data:`MAX_CONNECTIONS` connections are open at once (uvicorn answers 503 beyond), and a connection
whose request has not fully arrived within :data:`REQUEST_SECONDS` is closed. uvicorn has no such
deadline of its own: its keep-alive timer runs only between requests and every byte received resets
it, so half a request line would hold a connection open for as long as the client likes.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from lapor_sync.domain.errors import ConfigurationError
from lapor_sync.reports.health import Health, HealthReport
from lapor_sync.runtime.loopback import is_loopback, listening_notice
from lapor_sync.storage.faults import database_fault

log = logging.getLogger("lapor_sync.worker")
REQUEST_SECONDS = 5.0
"""How long a client has to send its whole request, from connecting or from the previous answer, seconds."""
MAX_CONNECTIONS = 64
"""Connections open at once, idle ones included; a request beyond is answered 503 at once. Well above what
probes and scrapers use, so that a few silent clients (closed after :data:`REQUEST_SECONDS`) cannot
turn a probe away."""
STOP_SECONDS = 5.0
"""How long stopping waits for answers in progress, seconds."""


def healthz_body(report: HealthReport, worker: dict[str, Any]) -> dict[str, Any]:
    """The ``/healthz`` answer: status, reasons, the key ages and counts, and the worker's jobs."""
    facts = report.facts
    return {
        "status": report.health.value,
        "reasons": report.reasons,
        "checked_at": facts["now"],
        "last_pull_age_seconds": facts["last_pull"]["age_seconds"] if facts["last_pull"] else None,
        # The last push that delivered a row: a push whose every attempt failed is no sign of life.
        "last_push_age_seconds": facts["last_push_delivered"]["age_seconds"] if facts["last_push_delivered"] else None,
        "outbox": facts["outbox"],
        "oldest_pending_age_seconds": facts["oldest_pending_age_seconds"],
        "worker": worker,
    }


def _json(value: object) -> bytes:
    return json.dumps(value, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)).encode()


class _RequestDeadline(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request has not fully arrived in time.

    The clock starts when the connection opens and again when an answer is complete; it is met
    when a new request's head has arrived (these endpoints take no body).
    """

    def __init__(self, *args: Any, request_seconds: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._request_seconds = request_seconds

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock of the first request."""
        super().connection_made(transport)
        self._start_deadline(self.cycle)

    def on_response_complete(self) -> None:
        """Start the clock of the next request on this connection."""
        answered = self.cycle  # uvicorn starts a request sent meanwhile (pipelined) in the call below: it arrived
        super().on_response_complete()
        self._start_deadline(answered)

    def _start_deadline(self, cycle_now: object) -> None:
        self.loop.call_later(self._request_seconds, self._deadline_passed, cycle_now)

    def _deadline_passed(self, cycle_then: object) -> None:
        # A new request cycle since the clock started: its head arrived in time.
        if self.cycle is cycle_then and not self.transport.is_closing():
            self.transport.close()


class _ThreadedServer:
    """A uvicorn server on a socket bound at once, run on a thread: ``serve_forever`` until ``shutdown``.

    Binding in the constructor makes a port in use an error of the worker's start, in its own words.
    """

    def __init__(self, listener: socket.socket, app: ASGIApp, request_seconds: float, **options: Any) -> None:
        self._listener = listener
        self.server_address: tuple[Any, ...] = listener.getsockname()
        config = uvicorn.Config(
            app,
            http=partial(_RequestDeadline, request_seconds=request_seconds),  # type: ignore[arg-type]
            lifespan="off",
            log_config=None,
            access_log=False,
            limit_concurrency=MAX_CONNECTIONS,
            timeout_graceful_shutdown=int(STOP_SECONDS),
            **options,
        )
        self._server = uvicorn.Server(config)

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` (off the main thread, uvicorn installs no signal handler)."""
        self._server.run(sockets=[self._listener])

    def shutdown(self) -> None:
        """Ask the server to stop; the serving thread ends within about :data:`STOP_SECONDS`."""
        self._server.should_exit = True

    def server_close(self) -> None:
        """Close the listening socket (uvicorn closes it too when it stops; twice is harmless)."""
        self._listener.close()


def make_server(
    host: str,
    port: int,
    app: ASGIApp,
    *,
    request_seconds: float,
    setting: str = "LAPOR_SYNC_HEALTH",
    turn_off: str = ", or 0 to turn /healthz and /metrics off",
    **options: Any,
) -> _ThreadedServer:
    """Listen on ``host:port`` and return the server of ``app`` there, not yet serving.

    Args:
        host: the address to listen on.
        port: the TCP port (0: any free port).
        app: what to serve.
        request_seconds: how long a client has to send a whole request (:data:`REQUEST_SECONDS`).
        setting: the settings' prefix named in errors (``LAPOR_SYNC_HEALTH`` -> ``..._PORT``, ``..._HOST``).
        turn_off: the end of the "port in use" advice (how to do without this server).
        options: more ``uvicorn.Config`` options (the console's proxy headers and root path).

    Raises:
        ConfigurationError: the address cannot be listened on; names ``{setting}_PORT`` (in use,
            or not allowed) or ``{setting}_HOST`` (no such address here).
    """
    try:
        listener = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            # os.strerror: socket.create_server's own text repeats the address ("while attempting to bind on ...").
            raise ConfigurationError(
                f"{setting}_PORT: cannot listen on port {port} of {host} ({os.strerror(exc.errno)}): "
                f"another process (a second worker?) may hold it; choose a free port{turn_off}"
            ) from None
        raise ConfigurationError(
            f"{setting}_HOST: cannot listen on {host} ({exc.strerror or exc}); "
            "give an address of this machine, such as 127.0.0.1"
        ) from None
    return _ThreadedServer(listener, app, request_seconds, **options)


class HealthServer:
    """Serves ``/healthz`` and ``/metrics`` from a daemon thread.

    Args:
        host: address to bind (keep it on loopback).
        port: TCP port; 0 picks a free one (see :attr:`port`).
        assess: reads the current health (may raise when the database is down).
        worker_state: the worker's own state for ``/healthz`` (jobs, next run times UTC).
        registry: the Prometheus registry served at ``/metrics``.

    Raises:
        ConfigurationError: ``host:port`` cannot be listened on (see :func:`make_server`).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        assess: Callable[[], HealthReport],
        worker_state: Callable[[], dict[str, Any]],
        registry: CollectorRegistry,
    ) -> None:
        self._host = host
        self._assess, self._worker_state, self._registry = assess, worker_state, registry
        app = Starlette(
            routes=[
                Route("/healthz", self._healthz),
                Route("/metrics", self._metrics),
                Route("/{path:path}", _not_found),
            ]
        )
        self._server = make_server(host, port, app, request_seconds=REQUEST_SECONDS)
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
            f"{self.url}/healthz and /metrics",
            self._host,
            how_to_expose="LAPOR_SYNC_HEALTH_HOST=0.0.0.0 exposes them",
            exposed_risk="health and metrics are readable by anyone who can reach this port, without credentials",
        )

    def start(self) -> None:
        """Start serving, and log where (INFO on loopback, else WARNING)."""
        self._thread.start()
        log.log(logging.INFO if is_loopback(self._host) else logging.WARNING, "health endpoints %s", self.notice())

    def stop(self) -> None:
        """Stop serving and close the socket; waits for answers in progress, a bounded time."""
        self._server.shutdown()
        self._thread.join(STOP_SECONDS + 1)
        self._server.server_close()

    def _healthz(self, _request: Request) -> Response:
        # A plain function: Starlette runs it on a worker thread, so a slow database holds up no other client.
        try:
            report = self._assess()
            body: dict[str, Any] = healthz_body(report, self._worker_state())
            failing = report.health is Health.FAILING
        except (SQLAlchemyError, OSError) as exc:  # the database is down: that is an answer too
            reason = database_fault(exc) if isinstance(exc, SQLAlchemyError) else None
            # Debug only: probes come every few seconds, and the jobs say it once (StorageState).
            log.debug("healthz: cannot read the database (%s)", reason or type(exc).__name__)
            body = {
                "status": Health.FAILING.value,
                "reasons": [f"cannot read the database ({reason or type(exc).__name__})"],
            }
            failing = True
        return Response(_json(body), status_code=503 if failing else 200, media_type="application/json")

    def _metrics(self, request: Request) -> Response:
        # On a worker thread too: the gauges read the database (and prometheus_client's ASGI app would
        # read it on the event loop). The text format unless the scraper asks for OpenMetrics.
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(self._registry), headers={"Content-Type": content_type})


def _not_found(_request: Request) -> Response:
    return PlainTextResponse("not found: try /healthz or /metrics\n", status_code=404)
