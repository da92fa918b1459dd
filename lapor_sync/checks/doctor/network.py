"""The doctor's steps below HTTP: the base URL's host looked up (DNS), connected to (TCP), and its TLS certificate.

Each step is bounded by the doctor's timeout. The name lookup and the connect are injectable
(:data:`Resolver`, :data:`Connector`) so tests need no network beyond loopback. TLS is checked as
the national client checks it: the configured CA bundle (``LAPOR_SYNC_TLS_CA_BUNDLE``) or httpx's
default trust, certificate and host name always verified.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from lapor_sync.checks.doctor.result import Check, Step
from lapor_sync.domain.timezones import display_wib
from lapor_sync.runtime.loopback import is_loopback

if TYPE_CHECKING:
    from lapor_sync.adapters.national.proxy import ProxyRoute

T = TypeVar("T")
Resolver = Callable[[str, int], Sequence[str]]
"""Looks up a host name: ``(host, port)`` → its addresses, in the order to try them; raises ``OSError``."""
Connector = Callable[[str, int, float], socket.socket]
"""Opens a TCP connection: ``(address, port, timeout seconds)`` → the socket; raises ``OSError``."""

MAX_ADDRESSES = 4  # addresses of one name tried in turn, at the most
_DEFAULT_PORTS = {"http": 80, "https": 443}
# OpenSSL's X509_V_ERR_* codes (ssl.SSLCertVerificationError.verify_code), grouped by what fixes them.
_OUT_OF_DATE = {9: "not valid yet", 10: "expired"}
_HOST_MISMATCH = {62, 64}  # a host name, an IP address
_UNKNOWN_CA = {2, 18, 19, 20, 21}
_CA_FIX = (
    "if the city's network inspects TLS (a proxy that re-signs certificates), put that proxy's CA "
    "certificate in a PEM file and set LAPOR_SYNC_TLS_CA_BUNDLE to it; otherwise the server is not "
    "who it claims to be: do not go on"
)


@dataclass(frozen=True)
class Target:
    """Where the national client connects: the base URL's host, or the proxy it goes through.

    Attributes:
        scheme: ``https`` or ``http``.
        host: the host name of ``LAPOR_SYNC_API_BASE_URL``.
        port: its port (443 or 80 unless given).
        proxy: the proxy the proxy policy chose for the base URL (``adapters/national/proxy.py``),
            or ``None`` (direct).
    """

    scheme: str
    host: str
    port: int
    proxy: ProxyRoute | None = None

    @classmethod
    def of(cls, url: str, proxy: ProxyRoute | None = None) -> Target:
        """The target of the base URL ``url``, reached through ``proxy`` when one is given."""
        import httpx  # the doctor's CLI imports this lazily anyway; httpx parses URLs as the client does

        parsed = httpx.URL(url)
        return cls(parsed.scheme, parsed.host, parsed.port or _DEFAULT_PORTS.get(parsed.scheme, 0), proxy)

    @property
    def dialled(self) -> tuple[str, int]:
        """The host and port a connection is opened to: the proxy's, or the base URL's."""
        return self.proxy.address if self.proxy else (self.host, self.port)

    def where(self) -> str:
        """``host:port``, and the proxy when there is one, for the lines."""
        host, port = self.dialled
        return f"{host}:{port}" + (f" (proxy for {self.host}, from {self.proxy.source})" if self.proxy else "")


def bounded(call: Callable[[], T], seconds: float, what: str) -> T:
    """Run ``call`` on a thread of its own and wait ``seconds`` at most for it.

    For what takes no timeout of its own: the system's name lookup (``getaddrinfo``), a database
    driver's connect. A call still running then is left to end by itself (a daemon thread); Ctrl-C
    ends the wait at once.

    Raises:
        TimeoutError: ``call`` did not end in time (the message names ``what``).
        Exception: whatever ``call`` raised.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # noqa: BLE001 - handed back to the waiting thread, which raises it
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name=f"doctor {what}", daemon=True).start()
    if not done.wait(seconds):
        raise TimeoutError(f"{what}: no answer within {seconds:g} s")
    if failure:
        raise failure[0]
    return outcome[0]


def system_resolver(host: str, port: int) -> list[str]:
    """Look ``host`` up with the system resolver: its distinct addresses, in the order given."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def system_connector(address: str, port: int, timeout: float) -> socket.socket:
    """Open a TCP connection to ``address:port`` within ``timeout`` seconds."""
    return socket.create_connection((address, port), timeout=timeout)


def check_dns(target: Target, resolve: Resolver, timeout: float) -> tuple[Check, list[str]]:
    """Step 2: look the host (or the proxy) up, within ``timeout`` seconds.

    Returns:
        The check, and the addresses found (empty when it failed).
    """
    host, port = target.dialled
    try:
        addresses = list(bounded(lambda: resolve(host, port), timeout, f"looking up {host}"))[:MAX_ADDRESSES]
    except TimeoutError as exc:
        return Check.failed(Step.DNS, str(exc), "the name server does not answer: check /etc/resolv.conf"), []
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        fix = (
            "check the host name in LAPOR_SYNC_API_BASE_URL (production and sandbox: api-splp.layanan.go.id), "
            "and that this machine can resolve public names (try: getent hosts api-splp.layanan.go.id)"
        )
        if target.proxy:
            fix = f"check the proxy's host name in {target.proxy.source}"
        return Check.failed(Step.DNS, f"cannot look up {host}: {reason}", fix), []
    if not addresses:
        return Check.failed(Step.DNS, f"{host} has no address", "check the host name in LAPOR_SYNC_API_BASE_URL"), []
    via = " (proxy)" if target.proxy else ""
    return Check.passed(Step.DNS, f"{host}{via} → {', '.join(addresses)}"), addresses


def check_tcp(
    target: Target, addresses: Sequence[str], connect: Connector, timeout: float
) -> tuple[Check, socket.socket | None]:
    """Step 3: connect to the first address that answers, all of them within ``timeout`` seconds.

    Returns:
        The check, and the open socket (for the TLS step; the caller closes it), or ``None``.
    """
    _, port = target.dialled
    failures: list[tuple[str, OSError]] = [(addresses[0], TimeoutError())] if addresses else []
    ends = time.monotonic() + timeout
    for address in addresses:
        started = time.monotonic()
        if started >= ends:
            break
        try:
            sock = connect(address, port, ends - started)
        except OSError as exc:
            failures.append((address, exc))
            continue
        took = (time.monotonic() - started) * 1000
        return Check.passed(Step.TCP, f"connected to {_at(address, port)} in {took:.0f} ms"), sock
    address, exc = failures[-1]
    return _tcp_failure(target, address, exc, timeout), None


def _tcp_failure(target: Target, address: str, exc: OSError, timeout: float) -> Check:
    where = _at(address, target.dialled[1])
    if isinstance(exc, TimeoutError):
        return Check.failed(
            Step.TCP,
            f"no answer from {where} within {timeout:g} s",
            "a firewall drops the traffic: ask the network team to allow this machine out to "
            f"{target.where()}, or set HTTPS_PROXY when the city's network goes out through a proxy",
        )
    if target.proxy is not None and isinstance(exc, ConnectionRefusedError):
        return Check.failed(
            Step.TCP,
            f"cannot reach the proxy {where} (from {target.proxy.source}): connection refused",
            f"check the proxy's host and port in {target.proxy.source} and that it runs; "
            "LAPOR_SYNC_PROXY_URL=none connects direct",
        )
    if isinstance(exc, ConnectionRefusedError):
        fix = "check the port in LAPOR_SYNC_API_BASE_URL"
        if is_loopback(address):
            fix += ", and that the service on this machine runs (the simulator: `lapor-sync simulator --port P`)"
        return Check.failed(Step.TCP, f"connection refused by {where}: nothing listens there", fix)
    reason = exc.strerror or type(exc).__name__
    return Check.failed(
        Step.TCP, f"cannot connect to {where}: {reason}", "check this machine's network, routes and firewall"
    )


def _at(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def check_tls(
    target: Target, sock: socket.socket, context: ssl.SSLContext, timeout: float, *, tunnelled: bool = False
) -> Check:
    """Step 4: shake hands over ``sock`` with ``context``, verifying the certificate and the host name.

    Through a proxy the handshake happens inside the tunnel the proxy step opened (``tunnelled``),
    as the client does; a tunnel the doctor cannot open itself (SOCKS) leaves it to the gateway
    step. Closes ``sock``.
    """
    if target.scheme != "https":
        sock.close()
        if is_loopback(target.host):
            return Check.skipped(Step.TLS, "skipped (http on loopback)")
        return Check.skipped(Step.TLS, "skipped: plain http, not encrypted (allowed by LAPOR_SYNC_ALLOW_INSECURE_HTTP)")
    if target.proxy and not tunnelled:
        sock.close()
        return Check.skipped(Step.TLS, "skipped here: through the proxy, TLS is checked by the gateway request")
    sock.settimeout(timeout)
    try:
        with context.wrap_socket(sock, server_hostname=target.host) as tls:
            certificate, version = tls.getpeercert(), tls.version()
    except ssl.SSLCertVerificationError as exc:
        return _certificate_refused(target, exc)
    except (TimeoutError, socket.timeout):
        return Check.failed(
            Step.TLS,
            f"no TLS handshake within {timeout:g} s",
            "check that the port in LAPOR_SYNC_API_BASE_URL is HTTPS",
        )
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
        return Check.failed(
            Step.TLS,
            f"TLS handshake failed: {reason}",
            "check that the scheme and port in LAPOR_SYNC_API_BASE_URL are those of an HTTPS server",
        )
    finally:
        sock.close()
    return Check.passed(Step.TLS, _describe(certificate or {}, version))


def _certificate_refused(target: Target, exc: ssl.SSLCertVerificationError) -> Check:
    """Say why the certificate was refused, and what fixes it."""
    code, reason = exc.verify_code, exc.verify_message or "certificate verify failed"
    if code in _OUT_OF_DATE:
        return Check.failed(
            Step.TLS,
            f"certificate {_OUT_OF_DATE[code]} ({reason})",
            f"check this machine's clock first (timedatectl); if it is right, the certificate {target.host} "
            "presents must be renewed (the gateway's: tell SPLP; a city proxy's: renew it there)",
        )
    if code in _HOST_MISMATCH:
        return Check.failed(
            Step.TLS,
            f"certificate is not for {target.host} ({reason})",
            "check the host name in LAPOR_SYNC_API_BASE_URL; a proxy answering in the gateway's place shows "
            "its own certificate: " + _CA_FIX,
        )
    if code in _UNKNOWN_CA:
        return Check.failed(Step.TLS, f"certificate signed by an unknown CA ({reason})", _CA_FIX)
    return Check.failed(Step.TLS, f"certificate refused ({reason})", _CA_FIX)


def _describe(certificate: dict[str, Any], version: str | None) -> str:
    """``certificate <name>, valid until <WIB>, <TLS version>``: who the certificate is for, and until when."""
    names = [value for rdn in certificate.get("subject", ()) for key, value in rdn if key == "commonName"]
    if not names:
        names = [value for kind, value in certificate.get("subjectAltName", ()) if kind == "DNS"][:3]
    text = f"certificate {', '.join(names) or '(no name)'}"
    not_after = certificate.get("notAfter")
    if isinstance(not_after, str):
        text += f", valid until {display_wib(datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), UTC))}"
    return text + (f", {version}" if version else "")
