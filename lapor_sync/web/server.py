"""Serving the console: on its own thread, for ``lapor-sync web`` and inside ``lapor-sync worker --web``."""

from __future__ import annotations

import logging
import threading

from lapor_sync.app import App
from lapor_sync.runtime.loopback import is_loopback, listening_notice
from lapor_sync.scheduler.http import REQUEST_SECONDS, STOP_SECONDS, make_server
from lapor_sync.web.app import create_console

log = logging.getLogger("lapor_sync.web")


class ConsoleServer:
    """The console of ``app`` served on ``host:port`` from a daemon thread (uvicorn).

    Behind a reverse proxy: ``web_root_path`` is the prefix it is served under, and the proxy's
    ``X-Forwarded-For``/``-Proto`` are believed from ``web_forwarded_allow_ips`` only (so the audit log
    records the client's address, and cookies get ``Secure`` when the proxy speaks HTTPS).

    Args:
        app: the composition root (the console migrates its database).
        host, port: where to listen (default: ``web_host``, ``web_port``; port 0 picks a free one).

    Raises:
        ConfigurationError: the address cannot be listened on (``LAPOR_SYNC_WEB_PORT`` in use), or the
            database or mapping cannot be used.
    """

    def __init__(self, app: App, *, host: str | None = None, port: int | None = None) -> None:
        settings = app.settings
        self._host = settings.web_host if host is None else host
        self._console = create_console(app)
        self._server = make_server(
            self._host,
            settings.web_port if port is None else port,
            self._console,
            request_seconds=REQUEST_SECONDS,
            setting="LAPOR_SYNC_WEB",
            turn_off="",
            proxy_headers=True,
            forwarded_allow_ips=settings.web_forwarded_allow_ips,
            root_path=settings.web_root_path,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="console-http", daemon=True)

    @property
    def url(self) -> str:
        """What to open, e.g. ``http://127.0.0.1:8470/`` (brackets for IPv6)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._server.server_address[1]}/"

    def notice(self) -> str:
        """Where it listens and who can reach it."""
        return listening_notice(
            self.url,
            self._host,
            how_to_expose="put it behind a reverse proxy with TLS to reach it from other machines (README)",
            exposed_risk="serve it over HTTPS (a reverse proxy): sign-in cookies are Secure and a browser "
            "sends them over HTTPS only",
        )

    def start(self) -> None:
        """Start serving, and log where (INFO on loopback, else WARNING)."""
        self._thread.start()
        log.log(logging.INFO if is_loopback(self._host) else logging.WARNING, "console %s", self.notice())

    def stop(self) -> None:
        """Stop serving and close the socket; waits for answers in progress, a bounded time."""
        self._console.state.console.stopping.set()  # live event streams end within a poll
        self._server.shutdown()
        self._thread.join(STOP_SECONDS + 1)
        self._server.server_close()
