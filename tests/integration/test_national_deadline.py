"""Every attempt of a request has a wall-clock deadline, the retry total cap holds, a stop request cuts in.

Real sockets on loopback, real time: each test takes about a second at most. The servers here play
a slow network: an answer trickled a byte at a time, a server that never answers, a proxy that
never answers, and (through ``socket.getaddrinfo``) a name lookup that hangs.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import httpcore
import httpx
import pytest

from lapor_sync.adapters.national import LaporClient, RetryPolicy
from lapor_sync.app import App
from lapor_sync.config.settings import Settings
from lapor_sync.domain.errors import AmbiguousWriteError, TransientError
from lapor_sync.domain.ports import NationalPlatform
from tests.support.national import client_settings

SLOW_HOST = "slow-dns.lapor.test"
# A valid answer to GET /categories, 40 bytes: trickled a byte every 0.1 s it takes 4 s.
CATEGORIES = b'{"results": []}'.ljust(40)
Answer = Callable[[socket.socket, threading.Event], None]


class Loopback:
    """A TCP server on 127.0.0.1 answering each connection with ``answer``, in a thread per connection.

    Attributes:
        port: where it listens.
        requests: ``time.monotonic()`` of each request head received.
        closing: set when the test ends; answers stop on it.
    """

    def __init__(self, answer: Answer) -> None:
        self._answer = answer
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self.requests: list[float] = []
        self.closing = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2.0)
            head = b""
            try:
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    head += chunk
            except OSError:
                return
            self.requests.append(time.monotonic())
            self._answer(conn, self.closing)

    def __enter__(self) -> Loopback:
        self._threads[0].start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        for thread in list(self._threads):
            thread.join(timeout=5)
        self._listener.close()


def trickle(body: bytes, every: float) -> Answer:
    """An answer: a 200 with ``body``, sent one byte every ``every`` seconds (each read gets a byte in time)."""

    def answer(conn: socket.socket, closing: threading.Event) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        try:
            conn.sendall(head.encode())
            for byte in body:
                if closing.wait(every):
                    return
                conn.sendall(bytes([byte]))
        except OSError:  # the client gave up: the point
            return

    return answer


def silence(conn: socket.socket, closing: threading.Event) -> None:
    """An answer that never comes (until the test ends)."""
    closing.wait()


def static_settings(base_url: str, **changes: object) -> SimpleNamespace:
    """:func:`client_settings` on ``base_url``, a 0.5 s timeout, plain http allowed (the hosts are fake)."""
    return client_settings(
        **({"api_base_url": base_url, "http_timeout_seconds": 0.5, "allow_insecure_http": True} | changes)
    )


@contextmanager
def slow_lookup(
    monkeypatch: pytest.MonkeyPatch, *, on_lookup: Callable[[], None] = lambda: None, answer_port: int = 0
) -> Iterator[threading.Event]:
    """Make ``SLOW_HOST`` take up to 2 s to look up (it then names 127.0.0.1); yields the event that releases it.

    Other names are looked up as usual. On leaving, the lookup is released and every thread started
    meanwhile (the resolver's) is joined, so whatever it would do next has been done.
    """
    real = socket.getaddrinfo
    release = threading.Event()

    def getaddrinfo(host: object, port: object, *args: object, **kwargs: object) -> object:
        if host == SLOW_HOST:
            on_lookup()
            release.wait(2.0)
            return real("127.0.0.1", answer_port or port, *args, **kwargs)  # type: ignore[arg-type]
        return real(host, port, *args, **kwargs)  # type: ignore[arg-type]

    before = set(threading.enumerate())
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    try:
        yield release
    finally:
        release.set()
        for thread in set(threading.enumerate()) - before:
            thread.join(timeout=5)


def timed(call: Callable[[], object]) -> tuple[BaseException | None, float]:
    """Run ``call``; return what it raised (or ``None``) and how long it took, seconds."""
    started = time.monotonic()
    try:
        call()
    except BaseException as exc:  # noqa: BLE001 - the test looks at it
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


def test_a_trickled_answer_ends_at_the_request_deadline_not_at_the_sum_of_read_timeouts() -> None:
    with Loopback(trickle(CATEGORIES, every=0.1)) as server:
        base = f"http://127.0.0.1:{server.port}/lapor/3.0.0"
        settings = static_settings(base, http_timeout_seconds=0.5, request_deadline_seconds=0.6)
        with LaporClient.from_settings(settings, retry=RetryPolicy.no_wait(max_attempts=1)) as lapor:
            error, took = timed(lapor.list_categories)

    # Each read got its byte well within 0.5 s; only the deadline can end the 4 s answer.
    assert isinstance(error, TransientError), f"the answer was read to its end in {took:.1f} s"
    assert 0.55 < took < 1.5


def test_a_slow_name_lookup_ends_at_the_deadline_and_the_abandoned_lookup_never_connects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listener = socket.create_server(("127.0.0.1", 0))  # takes connections into its backlog, answers none
    settings = static_settings(
        f"http://{SLOW_HOST}/lapor/3.0.0", http_timeout_seconds=1.0, request_deadline_seconds=0.4
    )
    with listener:
        with slow_lookup(monkeypatch, answer_port=listener.getsockname()[1]):
            with LaporClient.from_settings(settings, retry=RetryPolicy.no_wait(max_attempts=1)) as lapor:
                error, took = timed(lapor.list_categories)
        # ``slow_lookup`` has released the resolver and joined its thread: had the lookup gone on
        # to connect, the connection would be waiting in the listener's backlog.
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()

    assert type(error) is TransientError and 0.35 < took < 1.2


def test_a_lookup_slower_than_one_attempt_answers_the_next_attempt_instead_of_starting_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real, lookups = socket.getaddrinfo, []

    def slow(host: object, port: object, *args: object, **kwargs: object) -> object:
        if host != SLOW_HOST:
            return real(host, port, *args, **kwargs)  # type: ignore[arg-type]
        lookups.append(time.monotonic())
        threading.Event().wait(0.5)  # each lookup takes 0.5 s: longer than an attempt's 0.3 s
        return real("127.0.0.1", port, *args, **kwargs)  # type: ignore[arg-type]

    before = set(threading.enumerate())
    monkeypatch.setattr(socket, "getaddrinfo", slow)
    with Loopback(trickle(CATEGORIES, every=0)) as server:
        settings = static_settings(
            f"http://{SLOW_HOST}:{server.port}/lapor/3.0.0", http_timeout_seconds=1.0, request_deadline_seconds=0.3
        )
        with LaporClient.from_settings(settings, retry=RetryPolicy.no_wait(max_attempts=3)) as lapor:
            error, took = timed(lapor.list_categories)
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=5)

    # The second attempt waited for the first one's lookup; a fresh lookup per attempt would never end in time.
    assert error is None, error
    assert len(lookups) == 1 and len(server.requests) == 1 and took < 1.0


def test_a_request_stopped_before_it_sent_a_byte_says_so_after_an_earlier_request_of_the_attempt_was_sent() -> None:
    def answer_and_keep_the_connection(conn: socket.socket, closing: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        closing.wait()

    # Its own parts, unknown before this module (the other tests go through the client).
    from lapor_sync.adapters.national import deadline

    stop = threading.Event()
    with Loopback(answer_and_keep_the_connection) as server, httpx.Client() as client:
        deadline.install(client)
        with deadline.scope(5.0, stop=stop):
            client.post(f"http://127.0.0.1:{server.port}/oauth2/token")  # as the OAuth2 token request does
            stop.set()
            # The call itself, on the same connection: stopped before its first byte, so surely not applied.
            with pytest.raises(httpx.ConnectTimeout):
                client.post(f"http://127.0.0.1:{server.port}/complaints/followup/add", content=b"x")

    assert len(server.requests) == 1


def test_a_connection_whose_attempt_ended_before_its_tls_handshake_is_closed() -> None:
    class Plain(httpcore.NetworkStream):
        closed = False

        def close(self) -> None:
            self.closed = True

    # Its own parts, unknown before this module (the other tests go through the client).
    from lapor_sync.adapters.national import deadline

    plain = Plain()
    with deadline.scope(0.0), pytest.raises(httpcore.ConnectTimeout):
        deadline._Stream(plain).start_tls(ssl.create_default_context(), "api.lapor.test", timeout=5.0)

    assert plain.closed, "left open until garbage collection"


def test_the_retry_total_cap_holds_across_attempts_including_their_duration() -> None:
    with Loopback(silence) as server:
        settings = static_settings(
            f"http://127.0.0.1:{server.port}/lapor/3.0.0", http_timeout_seconds=0.8, request_deadline_seconds=10.0
        )
        with LaporClient.from_settings(settings, retry=RetryPolicy.no_wait(max_total_seconds=1.0)) as lapor:
            error, took = timed(lapor.list_categories)

    # Read timeouts at 0.8 s: the second attempt starts at 0.8 s and is cut at the 1 s cap, not at 1.6 s.
    assert isinstance(error, TransientError)
    assert len(server.requests) == 2 and 0.95 < took < 1.35


def test_a_proxy_from_the_environment_keeps_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    with Loopback(silence) as proxy:  # never answers the CONNECT
        for name in ("ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy", "https_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        settings = static_settings(
            "https://api.lapor.test/lapor/3.0.0", http_timeout_seconds=1.5, request_deadline_seconds=0.4
        )
        with LaporClient.from_settings(settings, retry=RetryPolicy.no_wait(max_attempts=1)) as lapor:
            error, took = timed(lapor.list_categories)

    assert isinstance(error, TransientError) and len(proxy.requests) == 1
    assert 0.35 < took < 1.1


@pytest.fixture
def app_on(clean_env: None) -> Callable[[str], App]:
    """An ``App`` (the worker's way of building the client) for the API at ``base_url``, 2 s timeouts."""

    def build(base_url: str) -> App:
        return App(
            Settings(
                api_base_url=base_url,
                api_key="sim-api-key",
                api_token="{guid}",
                http_timeout_seconds=2.0,
                allow_insecure_http=True,
            )
        )

    return build


def post_followup(platform: NationalPlatform) -> Callable[[], object]:
    """A follow-up POST on ``platform``, to be timed."""
    return lambda: platform.post_followup(7, institution_id=6271, content="[LS-abc] ditindaklanjuti", is_secret=False)


def test_a_stop_request_ends_a_write_waiting_for_its_answer_at_once_and_it_may_have_been_applied(
    app_on: Callable[[str], App],
) -> None:
    stop = threading.Event()

    def stop_once_received(conn: socket.socket, closing: threading.Event) -> None:
        stop.set()  # SIGTERM while the server holds the request
        closing.wait()

    with Loopback(stop_once_received) as server:
        with app_on(f"http://127.0.0.1:{server.port}/lapor/3.0.0").platform(stop=stop) as platform:
            error, took = timed(post_followup(platform))

    assert isinstance(error, AmbiguousWriteError), "the request was sent: it may have been applied"
    assert len(server.requests) == 1 and took < 1.0  # not the 2 s read timeout


def test_a_stop_request_during_the_name_lookup_ends_a_write_at_once_and_it_surely_was_not_sent(
    app_on: Callable[[str], App],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stop = threading.Event()
    with Loopback(silence) as server, slow_lookup(monkeypatch, on_lookup=stop.set, answer_port=server.port):
        with app_on(f"http://{SLOW_HOST}/lapor/3.0.0").platform(stop=stop) as platform:
            error, took = timed(post_followup(platform))

    assert type(error) is TransientError, "nothing was sent: no read-back is needed"
    assert server.requests == [] and took < 1.0
