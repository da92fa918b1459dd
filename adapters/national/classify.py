"""The error classifier: turns a failed call to the national platform into a domain error (CONTRACT §6).

What a caller may do next depends on the class: ``TransientError`` is safe to retry,
``AmbiguousWriteError`` needs a read-back first, ``RunStoppingError`` ends the run,
``ItemRejectedError`` is permanent for the one item, ``QuotaExceededError`` waits for the quota
window. Each says which layer refused: the SPLP gateway (a WSO2 fault body, read with its code:
``gateway_faults``) or LAPOR! (CONTRACT §7). A write counts as surely not applied only after
a connect failure, a 429, or a 503 with ``Retry-After`` (a maintenance window); every other failure
of a write is ambiguous. A redirect is never followed (it would carry the credentials elsewhere) and
an answer over the size limit is never read to its end (``outbound``). Texts carry the server's
``message`` and status, never bodies, and never the credentials a server may quote in its message
(:func:`without_credentials`). A server's ``Retry-After`` is honoured up to a configured maximum
(:func:`parse_retry_after`).
"""

from __future__ import annotations

import base64
import email.utils
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict, TypeVar, Unpack
from urllib.parse import quote

import httpx

from lapor_sync.adapters.national import gateway_faults, wire
from lapor_sync.adapters.national.outbound import AnswerTooLargeError, describe, origin
from lapor_sync.adapters.national.proxy import ProxyRoute
from lapor_sync.domain.errors import (
    AmbiguousWriteError,
    ItemRejectedError,
    Layer,
    NationalPlatformError,
    QuotaExceededError,
    RunStoppingError,
    TransientError,
)


class OversizeAnswerError(RunStoppingError):
    """An answer to a read was over ``max_response_bytes``: not retried, the run stops and reports it.

    The client turns it into ``MalformedRecordError`` for the detail of one complaint, which is then
    set aside while the run goes on.
    """


logger = logging.getLogger(__name__)

_RETRY_LATER_4XX = frozenset({408, 429})  # 4xx codes that say "later", not "never"
# A shorter "credential" is no real one (test doubles): hiding it would garble every message.
_SHORTEST_CREDENTIAL = 6
HIDDEN = "***"
# The request never reached the complaint: the connection was not made, no pooled one was free, or
# the attempt ran out of time (or was stopped) before a byte of it was sent (``deadline``).
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
DEFAULT_MAX_RETRY_AFTER_SECONDS = 3600.0
"""The longest server-given wait honoured when none is configured (``LAPOR_SYNC_MAX_RETRY_AFTER_SECONDS``)."""
# delta-seconds (RFC 9110 §10.2.3) are digits; a decimal fraction is read too, as some gateways send one.
_DELTA_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def parse_retry_after(
    value: str | None, now: datetime, *, max_seconds: float = DEFAULT_MAX_RETRY_AFTER_SECONDS
) -> float | None:
    """Read a ``Retry-After`` header in either form (RFC 9110 §10.2.3) as seconds from ``now``, capped.

    A server's wait is not trusted beyond ``max_seconds``: ``99999999999999999999``, an epoch in
    seconds or milliseconds, or a date decades ahead would otherwise park an outbox row for years
    (or overflow a ``timedelta``). A cut wait is logged (the number of seconds, never the raw header).

    Args:
        value: the header value: delta-seconds (``"120"``; ``"1.5"`` is read too) or an HTTP-date
            (``"Wed, 21 Oct 2015 07:28:00 GMT"``), or ``None`` when absent.
        now: the current instant (aware), from the injected clock.
        max_seconds: the longest wait honoured, seconds (``LAPOR_SYNC_MAX_RETRY_AFTER_SECONDS``).

    Returns:
        Seconds to wait, from 0 to ``max_seconds``; ``None`` when the header is absent or unreadable
        (garbage, a negative number, a date no calendar has): the caller's own backoff applies.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and _DELTA_SECONDS.fullmatch(value):
        seconds = float(value)  # a number too long for a float is ``inf``, cut below
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: a year too large for a C long
            return None
        if when.tzinfo is None:  # "-0000" means UTC with no claim about local time (RFC 5322)
            when = when.replace(tzinfo=UTC)
        seconds = max(0.0, (when - now).total_seconds())
    if seconds > max_seconds:
        logger.warning(
            "the server asked to wait %.6g s (Retry-After); waiting %g s at most (LAPOR_SYNC_MAX_RETRY_AFTER_SECONDS)",
            seconds,
            max_seconds,
        )
        return float(max_seconds)
    return seconds


def _patterns(credential: str) -> set[str]:
    """Regular expressions for the forms ``credential`` may be quoted in: as sent, URL-encoded, base64, base64url.

    A gateway may quote the header it refused decoded or not: the HTTP Basic credentials of the
    token request are base64 on the wire (RFC 7617), and a key may come back base64-encoded, with
    its ``=`` padding or without.
    """
    encoded = credential.encode()
    b64 = {base64.b64encode(encoded), base64.urlsafe_b64encode(encoded)}
    return {re.escape(credential), re.escape(quote(credential, safe=""))} | {
        re.escape(form.decode("ascii").rstrip("=")) + "=*" for form in b64
    }


def without_credentials(text: str, credentials: Iterable[str]) -> str:
    """Return ``text`` with each credential in it replaced by ``***``, in any form a server may quote it.

    The forms: as sent, URL-encoded, base64 and base64url (with or without ``=`` padding), in any
    case. A gateway may quote what it refused in its ``message`` ("invalid client secret abc..."),
    and that message travels on into run errors, events, outbox rows and the log.

    Args:
        text: a server's message.
        credentials: the secret values the client sent (see ``auth.credentials_of``).
    """
    patterns = {
        pattern
        for credential in credentials
        if len(credential) >= _SHORTEST_CREDENTIAL
        for pattern in _patterns(credential)
    }
    # Longest first: a shorter form inside a longer one must not leave the rest of the longer one behind.
    for pattern in sorted(patterns, key=len, reverse=True):
        text = re.sub(pattern, HIDDEN, text, flags=re.IGNORECASE)
    return text


def protocol_error(detail: str, *, status: int | None, write: bool) -> TransientError:
    """Classify an answer that is not the protocol (HTML, empty, ``{"results": null}``: CONTRACT §2).

    On a GET it is transient; on a write the server did answer, so the write may have been applied.
    """
    detail = f"protocol error: {detail}"
    return AmbiguousWriteError(detail, status=status) if write else TransientError(detail, status=status)


def answer_too_large(exc: AnswerTooLargeError, *, write: bool, own_answer: bool) -> NationalPlatformError:
    """Classify an answer refused for its size (``LAPOR_SYNC_MAX_RESPONSE_BYTES``); never retried.

    Args:
        exc: the refusal, from ``outbound``.
        write: True for a request that changes data on the platform (POST).
        own_answer: False when the answer was another request's (the OAuth2 token answer): the
            request itself was then never sent.

    Returns:
        ``AmbiguousWriteError`` for the answer to a write (the server did answer: it may have
        applied it); ``OversizeAnswerError`` for the answer to a read; ``RunStoppingError`` for the
        token answer.
    """
    if not own_answer:
        return RunStoppingError(f"OAuth2 token endpoint: {exc}, refused")
    detail = f"{exc}, refused (LAPOR_SYNC_MAX_RESPONSE_BYTES)"
    if write:
        return AmbiguousWriteError(f"{detail}; the write may have been applied")
    return OversizeAnswerError(detail)


def _redirect_refused(response: httpx.Response) -> str:
    """Word a refused redirect, naming the origin it points to when that is another one (never a path or query)."""
    try:
        here = response.request.url
        there = here.join(response.headers.get("Location", ""))
    except (RuntimeError, httpx.InvalidURL):  # no request attached, or a Location that is no URL
        return "redirect refused"
    return "redirect refused" if origin(there) == origin(here) else f"redirect to {describe(there)} refused"


def error_for_status(
    response: httpx.Response,
    body: bytes,
    *,
    write: bool,
    now: datetime,
    credentials: Iterable[str] = (),
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER_SECONDS,
) -> NationalPlatformError:
    """Classify a non-2xx answer (CONTRACT §6, and §7 for the SPLP gateway in front).

    A WSO2 fault body (JSON or XML, CONTRACT §7 G1) says the SPLP gateway refused; any other answer
    is LAPOR's own. The error's ``layer`` and ``fault_code`` say which, and its text starts with
    ``"SPLP gateway refused: "`` or ``"LAPOR! refused: "``. A fault of the table
    (``gateway_faults.FAULTS``) is classified by it, with the fix; an unknown code is kept as
    received (masked) and classified by status like LAPOR's answers.

    Args:
        response: the answer (status and headers).
        body: its body, as read within the size limit.
        write: True for a request that changes data on the platform (POST).
        now: the current instant, for a ``Retry-After`` given as an HTTP-date.
        credentials: the secrets sent with the request, hidden from the server's message.
        max_retry_after: the longest ``Retry-After`` honoured, seconds (see :func:`parse_retry_after`).

    Returns:
        ``RunStoppingError`` for a 3xx (the API does not redirect: following one would send the
        credentials to wherever it points), for 401, for 403 on a GET and for the gateway faults
        that stop a run; ``QuotaExceededError`` for a 429 without ``Retry-After`` and for the
        throttling faults 900800-900807 without one (nothing was applied: CONTRACT §7 G3);
        ``ItemRejectedError`` for a 403 on a write and for other 4xx except 408/429;
        ``TransientError`` for 408, 429 and 5xx on a GET, and on a write only for 429 and 503
        with ``Retry-After``, and for the gateway faults 900900 and 900907; ``AmbiguousWriteError``
        for every other failure of a write.
    """
    status = response.status_code
    if 300 <= status < 400:
        return RunStoppingError(
            f"{_redirect_refused(response)}: the client follows no redirect, so the credentials stay with "
            "the configured host; check LAPOR_SYNC_API_BASE_URL (and LAPOR_SYNC_OAUTH_TOKEN_URL)",
            status=status,
        )
    fault = wire.read_fault(body)
    retry_after = parse_retry_after(response.headers.get("Retry-After"), now, max_seconds=max_retry_after)
    if fault is not None and (known := gateway_faults.known_fault_error(fault, status=status, retry_after=retry_after)):
        return known

    def hide(text: str) -> str:
        return without_credentials(text, credentials)

    if fault is None:
        said = wire.error_message(body, hide, fallback=response.reason_phrase) or "no message"
        refused = _Refusal(status, Layer.LAPOR, None, said)
    else:
        refused = _Refusal(status, Layer.GATEWAY, fault.code, wire.server_text(gateway_faults.named(fault), hide))
    if retry_after is None and (status == 429 or gateway_faults.is_throttle(fault)):
        return refused.make(
            QuotaExceededError,
            f"{refused.said}; throttled: the quota is spent, nothing was applied",
        )
    return _by_status(refused, write=write, retry_after=retry_after, quoted=fault is not None)


_E = TypeVar("_E", bound=NationalPlatformError)


@dataclass(frozen=True, slots=True)
class _Refusal:
    """Who refused a request and what they said (already cleaned): the parts every error of one answer shares."""

    status: int
    layer: Layer
    fault_code: int | None
    said: str

    def make(self, kind: type[_E], detail: str, **more: Any) -> _E:
        return kind(detail, status=self.status, layer=self.layer, fault_code=self.fault_code, **more)


def _by_status(refused: _Refusal, *, write: bool, retry_after: float | None, quoted: bool) -> NationalPlatformError:
    """Classify by HTTP status alone (CONTRACT §6); ``quoted``: the refusal may be quoted on a 401 (a fault's, masked)."""
    status, said = refused.status, refused.said
    if status == 401:
        # LAPOR's body is not quoted: a gateway may echo the credentials it refused. A fault's code
        # and message are kept (masked) so that an unknown code still says what it was.
        hint = "authentication refused: check the API key, app token or OAuth2 client"
        return refused.make(RunStoppingError, f"{said}; {hint}" if quoted else hint)
    if status == 403 and write:
        # CONTRACT §5 answers 403 to a write on a complaint no longer dispositioned to the caller:
        # a fact about that one item. Stopping every run on it would block the outbox for good.
        return refused.make(ItemRejectedError, f"forbidden for this complaint: {said}")
    if status == 403:
        return refused.make(RunStoppingError, f"forbidden: {said}")
    if 400 <= status < 500 and status not in _RETRY_LATER_4XX:
        return refused.make(ItemRejectedError, said)
    surely_not_applied = status == 429 or (status == 503 and retry_after is not None)
    if write and not surely_not_applied:
        return refused.make(AmbiguousWriteError, f"{said}; the write may have been applied", retry_after=retry_after)
    return refused.make(TransientError, said, retry_after=retry_after)


def has_request(exc: httpx.TransportError) -> bool:
    """Tell whether httpx attached the request that failed to ``exc``."""
    try:
        exc.request  # noqa: B018  (httpx raises RuntimeError when no request is attached)
    except RuntimeError:
        return False
    return True


def transport_error(
    exc: httpx.TransportError, *, write: bool, proxy: ProxyRoute | None = None
) -> NationalPlatformError:
    """Classify a transport failure: transient, unless a write may have reached the server.

    A read timeout or a dropped connection (``RemoteProtocolError``) after the request was sent is
    ambiguous for a write (CONTRACT §6); connect failures and pool timeouts never are. With a
    ``proxy`` in the way, a failure to reach it or to open its tunnel says so (:func:`proxy_error`).
    """
    if proxy is not None and isinstance(exc, httpx.ProxyError | httpx.ConnectError | httpx.ConnectTimeout):
        return proxy_error(exc, proxy)
    # The class and the host only: exception texts may hold proxy URLs with credentials.
    where = ""
    if has_request(exc):
        url = exc.request.url
        where = f" talking to {url.host}" + (f":{url.port}" if url.port else "")
    detail = f"transport failure ({type(exc).__name__}){where}; check LAPOR_SYNC_API_BASE_URL and the network"
    if write and not isinstance(exc, _NOT_SENT):
        return AmbiguousWriteError(f"{detail}; the write may have been applied")
    return TransientError(detail)


def proxy_error(exc: httpx.TransportError, proxy: ProxyRoute) -> NationalPlatformError:
    """Say what the proxy did: refused the credentials (407, not retried), refused the tunnel, or is down.

    Nothing was sent to the server through a proxy that failed, so no write is ambiguous. Texts
    name the proxy by ``host:port`` and the variable it came from, never its URL (credentials).

    Returns:
        ``RunStoppingError`` for a 407 (or SOCKS credentials refused) and a 403: retrying cannot
        help; ``TransientError`` otherwise (the proxy down, busy, or its upstream failing).
    """
    at, source = proxy.where, proxy.source
    said = str(exc).strip()
    status = said.split(" ", 1)[0]
    if status == "407" or "username/password" in said.lower():
        hint = "" if source.endswith("_FILE") else " (LAPOR_SYNC_PROXY_URL_FILE keeps them out of the environment)"
        if not proxy.has_credentials:
            return RunStoppingError(
                f"the proxy at {at} asks for credentials (407): put its user and password in {source} "
                f"as http://user:password@{at}{hint}"
            )
        return RunStoppingError(
            f"the proxy at {at} refused the credentials (407): check the user and password in {source}{hint}"
        )
    if isinstance(exc, httpx.ProxyError) and status == "403":
        return RunStoppingError(
            f"the proxy at {at} (from {source}) refused the tunnel (403): ask the network team to allow "
            "this machine to reach LAPOR! through it"
        )
    if isinstance(exc, httpx.ProxyError):
        return TransientError(f"the proxy at {at} (from {source}) could not open the tunnel ({said[:60]})")
    if isinstance(exc, httpx.ConnectTimeout):
        return TransientError(f"no answer in time connecting through the proxy {at} (from {source})")
    if "refused" in said.lower():
        return TransientError(f"cannot reach the proxy {at} (from {source}): connection refused")
    return TransientError(
        f"transport failure ({type(exc).__name__}) through the proxy {at} (from {source}); "
        "check the proxy, LAPOR_SYNC_API_BASE_URL and the network"
    )


class Exchange(TypedDict):
    """How an answer came about, which its classification depends on: the keywords of :func:`error_for_status`."""

    write: bool
    now: datetime
    credentials: NotRequired[Iterable[str]]
    max_retry_after: NotRequired[float]


def check_response(response: httpx.Response, body: bytes, **exchange: Unpack[Exchange]) -> object:
    """Return the ``results`` of a successful answer, or raise the classified error.

    The arguments are those of :func:`error_for_status`.

    Raises:
        NationalPlatformError: a subclass chosen by ``error_for_status`` for a non-2xx answer, or
            by ``protocol_error`` for a 2xx answer whose body is not ``{"results": <not null>}``.
    """
    if not response.is_success:
        raise error_for_status(response, body, **exchange)
    try:
        return wire.unwrap_envelope(body)
    except ValueError as exc:
        raise protocol_error(str(exc), status=response.status_code, write=exchange["write"]) from None
