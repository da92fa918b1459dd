"""A small HTTP forward proxy on loopback that opens ``CONNECT`` tunnels, as a city's proxy does.

Every tunnel leads to 127.0.0.1 on the port asked for, whatever the host name (``gateway.test``),
so a test reaches a loopback stub under a name that is not loopback, which lapor-sync would never
proxy. With ``credentials`` set it answers 407 to a ``CONNECT`` without the matching
``Proxy-Authorization: Basic``. Every tunnel asked for is recorded as ``CONNECT host:port`` with
whether credentials came and whether they were right (never their value).
"""

from __future__ import annotations

import base64
import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from socketserver import StreamRequestHandler, ThreadingTCPServer

RELAY_IDLE_SECONDS = 10.0  # a tunnel idle this long is closed (bounds every relay thread)


@dataclass
class ForwardProxy:
    """The running proxy: its port, the credentials it wants (``user:password``), the tunnels asked for."""

    port: int
    credentials: str | None = None
    seen: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:port``, without credentials."""
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def forward_proxy(credentials: str | None = None) -> Iterator[ForwardProxy]:
    """Run a CONNECT proxy on 127.0.0.1 (a free port) until the block ends.

    Args:
        credentials: ``user:password`` the proxy demands (407 otherwise), or ``None`` for none.
    """
    proxy = ForwardProxy(0, credentials)

    class Handler(StreamRequestHandler):
        def handle(self) -> None:
            head = self._head()
            if not head:
                return
            method, target = (head[0].split(" ") + ["", ""])[:2]
            given = _basic(head[1:])
            verdict = "no credentials" if given is None else ("right" if given == proxy.credentials else "wrong")
            proxy.seen.append(f"{method} {target} ({verdict})")
            if method != "CONNECT":
                self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            if proxy.credentials is not None and given != proxy.credentials:
                self.wfile.write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="city"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'
                )
                return
            port = int(target.rsplit(":", 1)[1])
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            _relay(self.connection, upstream)

        def _head(self) -> list[str]:
            lines: list[str] = []
            while len(lines) < 100:
                line = self.rfile.readline(8192).decode("latin-1").rstrip("\r\n")
                if not line:
                    return lines
                lines.append(line)
            return lines

    class Server(ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

        def handle_error(self, *_args: object) -> None:
            """A client that hung up mid-tunnel: no traceback."""

    server = Server(("127.0.0.1", 0), Handler)
    proxy.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="forward proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _basic(headers: list[str]) -> str | None:
    """The ``user:password`` of a ``Proxy-Authorization: Basic`` header, or ``None``."""
    for header in headers:
        name, _, value = header.partition(":")
        if name.strip().lower() == "proxy-authorization":
            scheme, _, encoded = value.strip().partition(" ")
            if scheme.lower() == "basic":
                return base64.b64decode(encoded).decode()
    return None


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until one side closes or the tunnel is idle for :data:`RELAY_IDLE_SECONDS`."""
    with upstream:
        sockets = [client, upstream]
        while True:
            readable, _, _ = select.select(sockets, [], [], RELAY_IDLE_SECONDS)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (upstream if sock is client else client).sendall(data)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
