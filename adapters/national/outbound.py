"""The outbound policy of the national client: which hosts it may call, over what, and how much it will read.

Checked on every request the client sends, the OAuth2 token request included (httpx runs the
client's event hooks for each request an auth flow yields, and for each answer):

- only the configured origins: scheme, host and port of ``api_base_url`` and, in OAuth2 mode, of
  ``oauth_token_url``. Anything else (a bug, a hostile ``next_page_url`` or ``Location``) is
  refused before it is sent, so the credentials go nowhere else.
- plain ``http://`` only to loopback, unless ``allow_insecure_http``: over a network the key, the
  app token and reporters' data would travel unencrypted.
- answers no larger than ``max_response_bytes``: refused on a larger ``Content-Length`` before the
  body is read, and cut off as soon as a streamed body goes over, so a broken or hostile gateway
  cannot make the worker hold gigabytes.

TLS verification is always on (httpx's default); ``tls`` only says which CAs are trusted. Which
proxy carries a request is decided by ``proxy`` (``proxies``: the route of each configured origin
that has one), never by httpx reading the environment (:meth:`OutboundPolicy.transports`).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import httpx

from lapor_sync.adapters.national.proxy import ProxyRoute
from lapor_sync.domain.errors import RunStoppingError
from lapor_sync.runtime.loopback import is_loopback

DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
# Request extension carrying a smaller limit for one request's answer (the OAuth2 token answer).
ANSWER_LIMIT = "lapor_sync.max_response_bytes"
_DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]
"""Scheme, host (lowercase) and port: what a request may be sent to."""


def origin(url: httpx.URL) -> Origin:
    """Return the origin of ``url`` with its default port: ``https://a.test/x`` → ``("https", "a.test", 443)``."""
    return url.scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(url.scheme, 0)


def describe(url: httpx.URL) -> str:
    """Show where ``url`` goes as ``scheme://host:port``: never its userinfo, path or query (they may hold secrets)."""
    scheme, host, port = origin(url)
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def _pattern(where: Origin) -> str:
    """The httpx mount pattern of an origin: ``("https", "a.test", 443)`` → ``https://a.test``."""
    scheme, host, port = where
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + ("" if _DEFAULT_PORTS.get(scheme) == port else f":{port}")


def plain_http_refused(url: httpx.URL, *, allow_insecure_http: bool) -> bool:
    """Tell whether ``url`` is plain ``http://`` to a host that is not loopback, and that is not allowed."""
    return _plain_http_refused(url.scheme, url.host, allow_insecure_http=allow_insecure_http)


def _plain_http_refused(scheme: str, host: str, *, allow_insecure_http: bool) -> bool:
    return scheme == "http" and not allow_insecure_http and not is_loopback(host)


class AnswerTooLargeError(Exception):
    """An answer was refused for its size; raised before more than ``limit`` bytes of it are held.

    The client classifies it (``classify.answer_too_large``); it never leaves the client.

    Attributes:
        request: the request the answer belongs to (the OAuth2 token request, or the client's own).
        limit: the limit it went over, bytes.
    """

    def __init__(self, request: httpx.Request, limit: int) -> None:
        super().__init__(f"answer from {describe(request.url)} larger than {limit} bytes")
        self.request = request
        self.limit = limit


def _capped(chunks: Iterable[bytes], request: httpx.Request, limit: int) -> Iterator[bytes]:
    """Pass ``chunks`` on until they add up to more than ``limit`` bytes, then raise ``AnswerTooLargeError``."""
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise AnswerTooLargeError(request, limit)
        yield chunk


class _CappedStream(httpx.SyncByteStream):
    """An answer's raw (wire) bytes, cut off at the limit, for bodies httpx reads itself (inside auth flows)."""

    def __init__(self, inner: httpx.SyncByteStream, request: httpx.Request, limit: int) -> None:
        self._inner, self._request, self._limit = inner, request, limit

    def __iter__(self) -> Iterator[bytes]:
        return _capped(self._inner, self._request, self._limit)

    def close(self) -> None:
        self._inner.close()


@dataclass(frozen=True)
class OutboundPolicy:
    """Where the national client may send requests, and how much of an answer it reads.

    Build it with :meth:`for_urls`; give it to ``LaporClient`` (``config.outbound_from_settings``
    reads it from the settings).

    Attributes:
        origins: the origins requests may go to (see :func:`origin`).
        allow_insecure_http: allow plain ``http://`` to a host that is not loopback.
        max_response_bytes: the largest answer read, bytes (after content decoding, and on the wire).
        tls: the TLS context verifying the server (``CERT_REQUIRED``, host name checked), or
            ``None`` for httpx's default trust (certifi, or ``SSL_CERT_FILE``); never unverified.
        proxies: the proxy of each origin that goes through one (``proxy.choose``); the others
            are sent direct.
    """

    origins: frozenset[Origin]
    allow_insecure_http: bool = False
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    tls: ssl.SSLContext | None = field(default=None, compare=False)
    proxies: Mapping[Origin, ProxyRoute] = field(default_factory=dict, compare=False)
    _sendable: frozenset[Origin] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The verdict on an origin never changes: work it out once for each configured origin, so
        # that a request to one of them is checked by one set lookup (``check_request`` runs on
        # every request; telling a loopback host parses it as an IP address).
        sendable = frozenset(
            (scheme, host, port)
            for scheme, host, port in self.origins
            if not _plain_http_refused(scheme, host, allow_insecure_http=self.allow_insecure_http)
        )
        object.__setattr__(self, "_sendable", sendable)  # frozen: set once, here

    @classmethod
    def for_urls(
        cls,
        *urls: str,
        allow_insecure_http: bool = False,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        tls: ssl.SSLContext | None = None,
        proxies: Mapping[str, ProxyRoute] | None = None,
    ) -> OutboundPolicy:
        """Return the policy allowing exactly the origins of ``urls`` (the API base, the token URL).

        ``proxies`` maps some of ``urls`` to the proxy their requests go through.

        Raises:
            ValueError: ``max_response_bytes`` is not positive.
        """
        if max_response_bytes < 1:
            raise ValueError("max_response_bytes must be positive")
        routes = {origin(httpx.URL(url)): route for url, route in (proxies or {}).items()}
        origins = frozenset(origin(httpx.URL(url)) for url in urls)
        return cls(origins, allow_insecure_http, max_response_bytes, tls, routes)

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """The ``verify=`` argument of the httpx client: the TLS context, or ``True`` (never ``False``)."""
        return True if self.tls is None else self.tls

    def transports(self) -> tuple[httpx.BaseTransport, dict[str, httpx.BaseTransport]]:
        """The httpx client's ``transport`` (direct) and ``mounts`` (one per origin with a proxy).

        Give them to a client built with ``trust_env=False``: httpx then reads no proxy variable
        itself, and a request goes through a proxy only when the proxy policy chose one for its
        origin (an ``ALL_PROXY=socks5://`` in the environment no longer reaches the loopback
        simulator, nor a plain ``http://`` request with its credentials).
        """
        mounts: dict[str, httpx.BaseTransport] = {
            _pattern(where): route.transport(self.verify) for where, route in self.proxies.items()
        }
        return httpx.HTTPTransport(verify=self.verify), mounts

    def proxy_for(self, url: httpx.URL) -> ProxyRoute | None:
        """The proxy requests to ``url`` go through, or ``None`` (direct)."""
        return self.proxies.get(origin(url))

    def event_hooks(self) -> dict[str, list[Callable[..., None]]]:
        """The httpx event hooks enforcing this policy on every request and every answer."""
        return {"request": [self.check_request], "response": [self.limit_answer]}

    def check_request(self, request: httpx.Request) -> None:
        """Refuse a request to an origin not configured, or plain ``http://`` over a network.

        Raises:
            RunStoppingError: naming ``scheme://host:port`` only (no userinfo, path or query).
        """
        sent_to = origin(request.url)
        if sent_to in self._sendable:
            return
        where = describe(request.url)
        if sent_to not in self.origins:
            raise RunStoppingError(
                f"refused to send a request to {where}: not a configured host "
                "(LAPOR_SYNC_API_BASE_URL, LAPOR_SYNC_OAUTH_TOKEN_URL)"
            )
        # A configured origin that is not sendable is plain http:// over a network (``__post_init__``).
        raise RunStoppingError(
            f"refused to send a request to {where} over plain http://: the credentials would cross the "
            "network unencrypted (use https://, or set LAPOR_SYNC_ALLOW_INSECURE_HTTP=true)"
        )

    def answer_limit(self, request: httpx.Request) -> int:
        """The most bytes read of the answer to ``request``: the policy's, or a smaller one it carries."""
        return min(self.max_response_bytes, int(request.extensions.get(ANSWER_LIMIT, self.max_response_bytes)))

    def limit_answer(self, response: httpx.Response) -> None:
        """Refuse an answer whose ``Content-Length`` is over the limit; cut its body off at the limit.

        httpx reads some bodies itself (the OAuth2 token answer, a 401 before a token refresh):
        replacing the stream here, before anything reads it, caps those too.

        Raises:
            AnswerTooLargeError: the declared length is over the limit (nothing of the body read).
        """
        limit = self.answer_limit(response.request)
        declared = response.headers.get("Content-Length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise AnswerTooLargeError(response.request, limit)
        assert isinstance(response.stream, httpx.SyncByteStream)  # the client is synchronous
        response.stream = _CappedStream(response.stream, response.request, limit)

    def read(self, response: httpx.Response) -> bytes:
        """Read a streamed answer's body, content-decoded, stopping as soon as it goes over the limit.

        Decoded bytes are counted too: a small compressed body can inflate a thousandfold.

        Raises:
            AnswerTooLargeError: the body is larger than the limit.
            httpx.TransportError: the connection failed while reading.
        """
        return b"".join(_capped(response.iter_bytes(), response.request, self.answer_limit(response.request)))
