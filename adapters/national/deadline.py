"""A wall-clock deadline for each attempt of a request, kept at every socket operation under httpx.

httpx's timeouts bound one socket operation each, never a request (encode/httpx#1450): a body
trickled a byte at a time within the read timeout holds a request for as long as the server likes,
and a name lookup (``getaddrinfo``) takes no timeout at all. The retry policy opens a :func:`scope`
around each attempt; :class:`DeadlineBackend`, the httpcore network backend that :func:`install`
puts under every transport of the client, gives each name lookup, connect, TLS handshake, read and
write at most the time the attempt has left (the OAuth2 token request made inside it included).
Name lookups and reads wait in slices of a tenth of a second, so that a stop request (the worker's
SIGTERM) ends them within a fraction of a second; a TCP connect, a TLS handshake and a write are
not sliced and end at their own timeouts (connect: 10 s at most; a follow-up's body fits in the
socket's buffer), well within the worker's shutdown timeout.

When an attempt runs out of time or is stopped it fails with httpcore's timeouts, which httpx and
``classify`` treat as ever: ``ConnectTimeout`` while nothing of the request was sent (so a write is
surely not applied), ``WriteTimeout`` or ``ReadTimeout`` once something was (a write may have been).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

DEFAULT_REQUEST_DEADLINE_SECONDS = 60.0
"""One attempt's wall-clock limit when none is configured (``LAPOR_SYNC_REQUEST_DEADLINE_SECONDS``)."""
_SLICE_SECONDS = 0.1  # how long a wait runs before it looks at the stop request again
# Name lookups in flight at once, process-wide. An abandoned lookup runs on in its thread until the
# resolver gives up (``getaddrinfo`` cannot be interrupted): the bound keeps a hung resolver from
# piling up threads run after run.
_LOOKUP_SLOTS = threading.BoundedSemaphore(8)
# The lookups in flight, by (host, port): the next attempt waits for the one under way rather than
# start another, so a resolver slower than one attempt answers a later attempt instead of none.
_in_flight: dict[tuple[str, int], _Lookup] = {}
_in_flight_lock = threading.Lock()
_MAX_ADDRESSES = 8  # addresses of one name tried in turn, at the most


@dataclass
class Attempt:
    """The time one attempt of one request has, what can stop it, and whether any of it was sent.

    Attributes:
        ends_at: when the attempt must be over, on ``time.monotonic()``'s clock (seconds).
        stop: when set, the attempt ends now (the worker's stop event).
        sent: whether a byte of the request under way (the OAuth2 token request, then the call
            itself) was handed to a socket yet.
    """

    ends_at: float
    stop: threading.Event | None = None
    sent: bool = False

    def until(self, timeout: float | None) -> float:
        """When an operation given httpx's ``timeout`` (seconds; ``None``: none) must end: its limit or the attempt's.

        Returns:
            A ``time.monotonic()`` instant, whichever of the two comes first.
        """
        return self.ends_at if timeout is None else min(self.ends_at, time.monotonic() + timeout)

    def cut(self) -> str | None:
        """Why the attempt must end now (``"stopped"`` or ``"request deadline reached"``), or ``None``."""
        if self.stop is not None and self.stop.is_set():
            return "stopped"
        return "request deadline reached" if time.monotonic() >= self.ends_at else None

    def wait(self, step: Callable[[float], bool], until: float) -> bool:
        """Run ``step`` in slices until it succeeds; give up at ``until`` or on a stop request.

        Args:
            step: waits at most the seconds it is given and tells whether what it waits for came.
            until: the ``time.monotonic()`` instant to give up at.

        Returns:
            Whether ``step`` succeeded in time.
        """
        while self.stop is None or not self.stop.is_set():
            left = until - time.monotonic()
            if left <= 0:
                return False
            if step(min(left, _SLICE_SECONDS)):
                return True
        return False

    def timeout(self, kind: type[httpcore.TimeoutException]) -> httpcore.TimeoutException:
        """The failure of an attempt out of time or stopped: ``kind``, or a connect timeout while nothing was sent."""
        reason = self.cut() or "timed out"
        return kind(reason) if self.sent else httpcore.ConnectTimeout(f"{reason}; nothing was sent")


_current: ContextVar[Attempt | None] = ContextVar("lapor_sync_attempt", default=None)


def scope(seconds: float, *, stop: threading.Event | None = None) -> _Scope:
    """Give the requests made inside the ``with`` block ``seconds`` of wall-clock time in all, cut short by ``stop``.

    Args:
        seconds: the attempt's time (the retry policy's: the request deadline or what is left of
            the retry total cap, whichever is less).
        stop: the event that ends the attempt at once when set (``RetryPolicy.interrupt``).

    Returns:
        A context manager; ``with`` gives the :class:`Attempt`.
    """
    return _Scope(Attempt(time.monotonic() + seconds, stop))


class _Scope:
    """The block of one attempt: its :class:`Attempt` is the current one inside.

    A class, not ``@contextmanager``: it is entered once per request, and a generator-based
    context manager costs several times as much CPU.
    """

    __slots__ = ("_attempt", "_token")

    def __init__(self, attempt: Attempt) -> None:
        self._attempt = attempt

    def __enter__(self) -> Attempt:
        self._token = _current.set(self._attempt)
        return self._attempt

    def __exit__(self, *_exc: object) -> None:
        _current.reset(self._token)


class _Lookup:
    """One name lookup in a thread of its own, so that waiting for it can end while it goes on.

    The thread only looks the name up: connecting is left to whoever still waits for the answer, so
    an abandoned lookup never goes on to connect. While it runs it is in ``_in_flight``, where the
    next attempt for the same name and port finds it. The caller holds one of ``_LOOKUP_SLOTS``,
    which the thread gives back when the resolver answers.
    """

    def __init__(self, host: str, port: int) -> None:
        self.done = threading.Event()
        self._key = (host, port)
        self._addresses: list[str] = []
        self._error: OSError | UnicodeError | None = None
        threading.Thread(target=self._run, name="lapor-sync name lookup", daemon=True).start()

    def _run(self) -> None:
        try:
            # Looked up on the module at each call, so a test can stand in a slow resolver.
            infos = socket.getaddrinfo(*self._key, type=socket.SOCK_STREAM)
            self._addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        except (OSError, UnicodeError) as exc:  # gaierror: no such name, no resolver; a name IDNA refuses
            self._error = exc
        finally:
            with _in_flight_lock:
                if _in_flight.get(self._key) is self:
                    del _in_flight[self._key]
            self.done.set()
            _LOOKUP_SLOTS.release()

    def addresses(self) -> list[str]:
        """The addresses found, in the resolver's order.

        Raises:
            httpcore.ConnectError: the name could not be looked up.
        """
        if self._error is not None:
            raise httpcore.ConnectError(str(self._error))
        return self._addresses


class _Stream(httpcore.NetworkStream):
    """A network stream whose reads and writes end when the current attempt's time does (or on a stop request)."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Read up to ``max_bytes``, waiting at most ``timeout`` seconds and never past the attempt's end."""
        attempt = _current.get()
        if attempt is None:
            return self._inner.read(max_bytes, timeout)
        data = b""

        def step(seconds: float) -> bool:
            nonlocal data
            try:  # a timed-out read can be tried again: the socket (and TLS) lose nothing by it
                data = self._inner.read(max_bytes, seconds)
            except httpcore.ReadTimeout:
                return False
            return True

        if not attempt.wait(step, attempt.until(timeout)):
            raise attempt.timeout(httpcore.ReadTimeout)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Write ``buffer``, for at most ``timeout`` seconds and never past the attempt's end.

        Not waited in slices: a write cut off part way could not tell how much of ``buffer`` went.
        A stop request ends the attempt before the write, or at the next read.
        """
        attempt = _current.get()
        if attempt is None:
            self._inner.write(buffer, timeout)
            return
        left = attempt.until(timeout) - time.monotonic()
        if attempt.cut() is not None or left <= 0:
            raise attempt.timeout(httpcore.WriteTimeout)
        if buffer:
            attempt.sent = True
        self._inner.write(buffer, left)

    def close(self) -> None:
        """Close the connection."""
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        """Make the TLS handshake within ``timeout`` seconds and the attempt's time; the TLS stream is kept too.

        An attempt already over closes the connection, as a failed handshake does (httpcore leaves that to us).
        """
        attempt = _current.get()
        if attempt is not None:
            timeout = attempt.until(timeout) - time.monotonic()
            if attempt.cut() is not None or timeout <= 0:
                self._inner.close()
                raise attempt.timeout(httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        """What httpcore asks of the connection (``"is_readable"``, ``"ssl_object"``, ...)."""
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """An httpcore network backend keeping the current attempt's deadline (see :func:`scope`) and stop request.

    The name is looked up in a thread of its own, waited for in slices; then each address is
    connected to in turn, with what is left of the connect timeout and of the attempt. Outside a
    scope it behaves as ``inner``.

    Args:
        inner: the backend doing the work (httpcore's ``SyncBackend``).
    """

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Connect to ``host``:``port`` within ``timeout`` seconds (name lookup included) and the attempt's time.

        Raises:
            httpcore.ConnectTimeout: out of time, or stopped, before a connection was made.
            httpcore.ConnectError: the name is unknown, or no address took the connection.
        """
        attempt = _current.get()
        if attempt is None:
            return _Stream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))
        until = attempt.until(timeout)
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in self._addresses(host, port, attempt, until)[:_MAX_ADDRESSES]:
            left = until - time.monotonic()
            if attempt.cut() is not None or left <= 0:
                break
            try:
                return _Stream(self._inner.connect_tcp(address, port, left, local_address, socket_options))
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure or attempt.timeout(httpcore.ConnectTimeout)

    def _addresses(self, host: str, port: int, attempt: Attempt, until: float) -> list[str]:
        try:
            ipaddress.ip_address(host)
            return [host]  # an address already: nothing to look up
        except ValueError:
            pass
        lookup = self._lookup(host, port, attempt, until)
        if not attempt.wait(lookup.done.wait, until):
            # Abandoned: the thread runs on until the resolver answers, and nothing connects to that answer.
            raise attempt.timeout(httpcore.ConnectTimeout)
        return lookup.addresses()

    @staticmethod
    def _lookup(host: str, port: int, attempt: Attempt, until: float) -> _Lookup:
        """The lookup of ``host`` under way (an earlier attempt's, another job's), or a new one once a slot is free."""
        with _in_flight_lock:
            running = _in_flight.get((host, port))
        if running is not None:
            return running
        if not attempt.wait(lambda seconds: _LOOKUP_SLOTS.acquire(timeout=seconds), until):
            raise attempt.timeout(httpcore.ConnectTimeout)
        with _in_flight_lock:
            running = _in_flight.get((host, port))
            if running is None:
                running = _in_flight[host, port] = _Lookup(host, port)
                return running
        _LOOKUP_SLOTS.release()  # another thread started one meanwhile: wait for that
        return running


def _request_starts(_request: httpx.Request) -> None:
    """A request of the attempt starts (the OAuth2 token request, then the call): none of it is sent yet."""
    attempt = _current.get()
    if attempt is not None:
        attempt.sent = False


def install(client: httpx.Client) -> None:
    """Put :class:`DeadlineBackend` under every network transport of ``client``: its default one and each mount.

    A request hook marks where each request starts, so that an attempt cut before the call itself
    sent a byte says so even when its OAuth2 token request was sent.

    httpx builds its transports itself (one more per proxy named in the environment) and lets no
    network backend be given to them (encode/httpx discussion #3180; PR #3749 is not in httpx
    0.29), so the backend is set on each transport's httpcore pool, where httpcore 1.0 keeps it.
    A transport that is no ``httpx.HTTPTransport`` (a test's ``MockTransport``) is left as it is.

    Raises:
        RuntimeError: an ``httpx.HTTPTransport`` keeps no network backend there (httpx or httpcore
            changed): better no client than one whose requests have no deadline.
    """
    for transport in [client._transport, *client._mounts.values()]:
        if not isinstance(transport, httpx.HTTPTransport):
            continue
        pool = transport._pool
        backend = getattr(pool, "_network_backend", None)
        if not isinstance(backend, httpcore.NetworkBackend):
            raise RuntimeError(f"cannot give {type(pool).__name__} a request deadline: httpx or httpcore changed")
        if not isinstance(backend, DeadlineBackend):
            pool._network_backend = DeadlineBackend(backend)
    if _request_starts not in client.event_hooks["request"]:
        client.event_hooks["request"] = [*client.event_hooks["request"], _request_starts]
