"""The error classifier: turns a failed call to the national platform into a domain error (CONTRACT §6).

What a caller may do next depends on the class: ``TransientError`` is safe to retry,
``AmbiguousWriteError`` needs a read-back first, ``RunStoppingError`` ends the run,
``ItemRejectedError`` is permanent for the one item. A write counts as surely not applied only after
a connect failure, a 429, or a 503 with ``Retry-After`` (a maintenance window); every other failure
of a write is ambiguous. A redirect is never followed (it would carry the credentials elsewhere) and
an answer over the size limit is never read to its end (``outbound``). Texts carry the server's
``message`` and status, never bodies, and never the credentials a server may quote in its message
(:func:`without_credentials`).
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from lapor_sync.adapters.national import wire
from lapor_sync.adapters.national.outbound import AnswerTooLargeError, describe, origin
from lapor_sync.domain.errors import (
    AmbiguousWriteError,
    ItemRejectedError,
    NationalPlatformError,
    RunStoppingError,
    TransientError,
)


class OversizeAnswerError(RunStoppingError):
    """An answer to a read was over ``max_response_bytes``: not retried, the run stops and reports it.

    The client turns it into ``MalformedRecordError`` for the detail of one complaint, which is then
    set aside while the run goes on.
    """


_RETRY_LATER_4XX = frozenset({408, 429})  # 4xx codes that say "later", not "never"
# A shorter "credential" is no real one (test doubles): hiding it would garble every message.
_SHORTEST_CREDENTIAL = 6
HIDDEN = "***"
# The request never reached the complaint: the connection was not made, or no pooled one was free.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Read a ``Retry-After`` header in either form (RFC 9110 §10.2.3) as seconds from ``now``.

    Args:
        value: the header value: delta-seconds (``"120"``) or an HTTP-date
            (``"Wed, 21 Oct 2015 07:28:00 GMT"``), or ``None`` when absent.
        now: the current instant (aware), from the injected clock.

    Returns:
        Seconds to wait (0 or more), or ``None`` when the header is absent or unreadable.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with no claim about local time (RFC 5322)
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def without_credentials(text: str, credentials: Iterable[str]) -> str:
    """Return ``text`` with each credential in it, as sent or URL-encoded and in any case, replaced by ``***``.

    A gateway may quote what it refused in its ``message`` ("invalid client secret abc..."), and that
    message travels on into run errors, events, outbox rows and the log.

    Args:
        text: a server's message.
        credentials: the secret values the client sent (see ``auth.credentials_of``).
    """
    for credential in credentials:
        for form in {credential, quote(credential, safe="")}:
            if len(form) >= _SHORTEST_CREDENTIAL:
                text = re.sub(re.escape(form), HIDDEN, text, flags=re.IGNORECASE)
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


def error_for_status(response: httpx.Response, body: bytes, *, write: bool, now: datetime,
                     credentials: Iterable[str] = ()) -> NationalPlatformError:
    """Classify a non-2xx answer (CONTRACT §6).

    Args:
        response: the answer (status and headers).
        body: its body, as read within the size limit.
        write: True for a request that changes data on the platform (POST).
        now: the current instant, for a ``Retry-After`` given as an HTTP-date.
        credentials: the secrets sent with the request, hidden from the server's message.

    Returns:
        ``RunStoppingError`` for a 3xx (the API does not redirect: following one would send the
        credentials to wherever it points), for 401, and for 403 on a GET; ``ItemRejectedError``
        for a 403 on a write and for other 4xx except 408/429;
        ``TransientError`` for 408, 429 and 5xx on a GET, and on a write only for 429 and 503
        with ``Retry-After``; ``AmbiguousWriteError`` for every other failure of a write.
    """
    status = response.status_code
    if 300 <= status < 400:
        return RunStoppingError(
            f"{_redirect_refused(response)}: the client follows no redirect, so the credentials stay with "
            "the configured host; check LAPOR_SYNC_API_BASE_URL (and LAPOR_SYNC_OAUTH_TOKEN_URL)",
            status=status,
        )
    if status == 401:
        # The body is not quoted: a gateway may echo the credentials it refused.
        return RunStoppingError("authentication refused: check the API key, app token or OAuth2 client", status=status)
    detail = wire.error_message(body, lambda text: without_credentials(text, credentials),
                                fallback=response.reason_phrase) or "no message"
    if status == 403 and write:
        # CONTRACT §5 answers 403 to a write on a complaint no longer dispositioned to the caller:
        # a fact about that one item. Stopping every run on it would block the outbox for good.
        return ItemRejectedError(f"forbidden for this complaint: {detail}", status=status)
    if status == 403:
        return RunStoppingError(f"forbidden: {detail}", status=status)
    if 400 <= status < 500 and status not in _RETRY_LATER_4XX:
        return ItemRejectedError(detail, status=status)
    retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
    surely_not_applied = status == 429 or (status == 503 and retry_after is not None)
    if write and not surely_not_applied:
        return AmbiguousWriteError(f"{detail}; the write may have been applied", status=status, retry_after=retry_after)
    return TransientError(detail, status=status, retry_after=retry_after)


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        exc.request  # noqa: B018  (httpx raises RuntimeError when no request is attached)
    except RuntimeError:
        return False
    return True


def transport_error(exc: httpx.TransportError, *, write: bool) -> TransientError:
    """Classify a transport failure: transient, unless a write may have reached the server.

    A read timeout or a dropped connection (``RemoteProtocolError``) after the request was sent is
    ambiguous for a write (CONTRACT §6); connect failures and pool timeouts never are.
    """
    # The class and the host only: exception texts may hold proxy URLs with credentials.
    where = ""
    if _has_request(exc):
        url = exc.request.url
        where = f" talking to {url.host}" + (f":{url.port}" if url.port else "")
    detail = f"transport failure ({type(exc).__name__}){where}; check LAPOR_SYNC_API_BASE_URL and the network"
    if write and not isinstance(exc, _NOT_SENT):
        return AmbiguousWriteError(f"{detail}; the write may have been applied")
    return TransientError(detail)


def check_response(response: httpx.Response, body: bytes, *, write: bool, now: datetime,
                   credentials: Iterable[str] = ()) -> object:
    """Return the ``results`` of a successful answer, or raise the classified error.

    The arguments are those of :func:`error_for_status`.

    Raises:
        NationalPlatformError: a subclass chosen by ``error_for_status`` for a non-2xx answer, or
            by ``protocol_error`` for a 2xx answer whose body is not ``{"results": <not null>}``.
    """
    if not response.is_success:
        raise error_for_status(response, body, write=write, now=now, credentials=credentials)
    try:
        return wire.unwrap_envelope(body)
    except ValueError as exc:
        raise protocol_error(str(exc), status=response.status_code, write=write) from None
