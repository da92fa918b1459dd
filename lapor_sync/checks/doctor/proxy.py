"""The doctor's proxy step: over the TCP connection to the proxy, ask it for a tunnel to LAPOR! (``CONNECT``).

It runs only when the proxy policy sends the base URL through a proxy (``adapters/national/proxy.py``):
after DNS and TCP (which then reach the proxy), before TLS, which is shaken hands inside the tunnel
as the national client does. The proxy's answer is read up to the end of its head and no further,
so the socket is handed to the TLS step at the first byte of the tunnel. Credentials go in a
``Proxy-Authorization: Basic`` header and are never shown: the proxy is named ``host:port`` and by
the variable it came from.
"""

from __future__ import annotations

import base64
import socket
import time
from typing import TYPE_CHECKING
from urllib.parse import unquote

from lapor_sync.checks.doctor.result import Check, Step

if TYPE_CHECKING:
    from lapor_sync.adapters.national.proxy import ProxyRoute

MAX_HEAD_BYTES = 16 * 1024  # a proxy's answer head longer than this is not an answer to CONNECT


def check_proxy(host: str, port: int, route: ProxyRoute, sock: socket.socket, timeout: float) -> tuple[Check, bool]:
    """Ask the proxy on ``sock`` for a tunnel to ``host:port``, within ``timeout`` seconds.

    Args:
        host: the base URL's host.
        port: its port.
        route: the ``ProxyRoute`` chosen (its ``where``, ``source``, ``parsed`` are read).
        sock: the open connection to the proxy; closed here when the tunnel is refused.
        timeout: the longest wait for the proxy's answer, seconds.

    Returns:
        The check, and whether ``sock`` now carries the tunnel (``False``: it is closed, or the
        step was skipped because the proxy speaks SOCKS or TLS: the gateway request checks it).
    """
    where, source, url = route.where, route.source, route.parsed
    if url.scheme != "http":
        return Check.skipped(
            Step.PROXY, f"{url.scheme} proxy {where} (from {source}): checked by the gateway request"
        ), False
    try:
        status, reason, took = _connect(sock, host, port, url.username, url.password, timeout)
    except (OSError, ValueError) as exc:
        sock.close()
        why = "no answer in time" if isinstance(exc, TimeoutError) else (getattr(exc, "strerror", None) or str(exc))
        return Check.failed(
            Step.PROXY, f"the proxy {where} did not answer CONNECT: {why}", f"check the proxy named by {source}"
        ), False
    if 200 <= status < 300:
        return Check.passed(
            Step.PROXY, f"{where} (from {source}) opened a tunnel to {host}:{port}: {status} {reason}, {took:.0f} ms"
        ), True
    sock.close()
    return Check.failed(
        Step.PROXY, f"the proxy {where} answered CONNECT with {status} {reason}", _fix(status, source)
    ), False


def _fix(status: int, source: str) -> str:
    if status == 407:
        return (
            f"the proxy refused the credentials: check the user and password in {source} "
            "(http://user:password@host:port; LAPOR_SYNC_PROXY_URL_FILE keeps them out of the environment)"
        )
    if status == 403:
        return "the proxy does not allow this tunnel: ask the network team to allow this machine to reach LAPOR!"
    return f"the proxy could not reach LAPOR!: check the proxy named by {source}, or ask the network team"


def _connect(
    sock: socket.socket, host: str, port: int, user: str, password: str, timeout: float
) -> tuple[int, str, float]:
    """Send ``CONNECT host:port`` and read the answer's head; return its status, reason and milliseconds taken.

    Raises:
        OSError: the connection failed or timed out.
        ValueError: the answer is not an HTTP answer.
    """
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    head = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
    if user or password:
        pair = f"{unquote(user)}:{unquote(password)}".encode()
        head += f"Proxy-Authorization: Basic {base64.b64encode(pair).decode()}\r\n"
    started = time.monotonic()
    sock.settimeout(timeout)
    sock.sendall((head + "\r\n").encode())
    answer = b""
    while not answer.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)  # byte by byte: nothing of the tunnel may be read here
        if not byte:
            raise ValueError("the proxy closed the connection")
        answer += byte
        if len(answer) > MAX_HEAD_BYTES or time.monotonic() - started > timeout:
            raise TimeoutError
    first = answer.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
    if len(first) < 2 or not first[0].startswith("HTTP/") or not first[1].isdigit():
        raise ValueError("the answer is not HTTP")
    return int(first[1]), first[2] if len(first) > 2 else "", (time.monotonic() - started) * 1000
