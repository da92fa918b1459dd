"""A stand-in for the SPLP gateway on loopback: canned answers by path, over plain HTTP or TLS.

For the doctor's tests: the real layers below (name lookup, TCP, TLS handshake) run for real on
127.0.0.1, and each answer is chosen by the test: a WSO2 fault, LAPOR!'s 401, a throttling 429,
an institution list. Every request's method and path are recorded (never a header's value).
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BASE_PATH = "/lapor/3.0.0"


@dataclass
class Answer:
    """What the stub answers on one path: a status, a JSON body and extra headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def paginated(rows: list[dict[str, Any]], *, total: int | None = None) -> Answer:
    """A one-page Laravel paginator holding ``rows`` (CONTRACT §2)."""
    page = {
        "current_page": 1,
        "per_page": max(len(rows), 1),
        "last_page": 1,
        "total": len(rows) if total is None else total,
        "next_page_url": None,
        "data": rows,
    }
    return Answer(200, {"results": page})


CITY_INSTITUTIONS = paginated(
    [
        {"id": 6271, "name": "Pemerintah Kota Palangka Raya", "parent_id": None},
        {"id": 627104, "name": "Dinas Sosial Kota Palangka Raya", "parent_id": 6271},
    ]
)
EMPTY_INBOX = paginated([], total=0)


@dataclass
class GatewayStub:
    """The running stub: its base URL, the answers by path (after the base path), the requests seen."""

    base_url: str
    answers: dict[str, Answer]
    seen: list[str] = field(default_factory=list)


@contextmanager
def gateway_stub(answers: dict[str, Answer], *, tls: ssl.SSLContext | None = None) -> Iterator[GatewayStub]:
    """Serve ``answers`` on 127.0.0.1 (a free port) until the block ends; HTTPS when ``tls`` is a server context.

    A path with no answer gets LAPOR!'s 404 ``{"message": ...}``.
    """
    stub = GatewayStub("", dict(answers))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self._answer()

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self._answer()

        def _answer(self) -> None:
            path = self.path.split("?", 1)[0].removeprefix(BASE_PATH)
            stub.seen.append(f"{self.command} {path}")
            answer = stub.answers.get(path, Answer(404, {"message": "Not Found"}))
            body = json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            """No access log on the test's stderr."""

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, *_args: Any) -> None:
            """A client that refused the certificate drops the connection: no traceback."""

    server = Server(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, name="gateway-stub", daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    stub.base_url = f"{scheme}://127.0.0.1:{server.server_address[1]}{BASE_PATH}"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
