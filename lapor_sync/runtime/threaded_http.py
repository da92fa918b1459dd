"""An ASGI app served by uvicorn on a background thread for the length of a ``with`` block.

The simulator (``Simulator.serve``) and the browser tests' live server use it. The worker's
``/healthz`` server has its own (``scheduler/http.py``): it also closes slow clients and runs
without a ``with`` block.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

START_SECONDS = 10.0
"""How long :func:`serve_in_thread` waits for the server to listen, seconds."""


class _Server(uvicorn.Server):
    """A uvicorn server that tells a waiting thread when it is listening (or has failed)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()


def _listen(host: str, port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Without it, small answers (headers and body written apart) wait ~40 ms on delayed ACKs.
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    listener.bind((host, port))
    return listener


@contextmanager
def serve_in_thread(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    name: str = "asgi-http",
    stop_seconds: float | None = None,
) -> Iterator[str]:
    """Serve ``app`` from a daemon thread until the block ends.

    No access log, no logging setup, no lifespan and no proxy headers: on loopback no proxy stands in
    front, and reading them is a layer per request.

    Args:
        app: the ASGI application.
        host: the address to bind; keep it on loopback.
        port: the port, 0 for a free one.
        name: the serving thread's name (shows in thread dumps).
        stop_seconds: at the block's end, how long answers in progress may take before they are
            cancelled and the thread is left behind, seconds; ``None`` waits for them however long.

    Yields:
        The origin served, e.g. ``"http://127.0.0.1:54321"`` (brackets around an IPv6 address).

    Raises:
        RuntimeError: the server did not listen within :data:`START_SECONDS`.
        OSError: ``host:port`` cannot be bound.
    """
    listener = _listen(host, port)
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        log_level="warning",
        lifespan="off",
        proxy_headers=False,
        timeout_graceful_shutdown=None if stop_seconds is None else max(1, int(stop_seconds)),
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name=name, daemon=True)
    thread.start()
    server.ready.wait(START_SECONDS)
    try:
        if not server.started:
            raise RuntimeError(f"the HTTP server {name!r} did not start within {START_SECONDS:g} s")
        bound_host, bound_port = listener.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        yield f"http://{shown}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(None if stop_seconds is None else stop_seconds + 1)
        listener.close()
