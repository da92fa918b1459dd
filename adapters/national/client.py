"""``LaporClient``: the national platform port (``NationalPlatform``) over the SP4N-LAPOR! v3 HTTP API.

Each HTTP request is one retried unit: it is sent, classified (``classify``), and retried by the
``RetryPolicy`` when that is safe. Lists are walked by ``paginator``; JSON is read by ``wire``.
Every request and answer passes the ``OutboundPolicy`` (``outbound``): configured hosts only, no
plain http over a network, TLS verified, answers size-limited. Every attempt has a wall-clock
deadline, name lookup to last byte (``deadline``). Nothing here logs headers or puts secrets into
URLs or error texts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

import httpx

from lapor_sync.adapters.national import classify, config, deadline, wire
from lapor_sync.adapters.national.auth import credentials_of
from lapor_sync.adapters.national.outbound import AnswerTooLargeError, OutboundPolicy
from lapor_sync.adapters.national.paginator import DEFAULT_MAX_PAGES, walk_pages
from lapor_sync.adapters.national.quota import DEFAULT_QUOTA_WAIT_SECONDS, Quota, WaitSpan
from lapor_sync.adapters.national.retry import RetryPolicy
from lapor_sync.adapters.national.wire.models import WirePage
from lapor_sync.config.endpoints import SINCE_PARAM, NationalEndpoints, complaint_path
from lapor_sync.domain.clock import Clock, SystemClock
from lapor_sync.domain.complaint import ComplaintSnapshot, InboxItem, MalformedRecord, ThreadEntry
from lapor_sync.domain.errors import AmbiguousWriteError, MalformedRecordError, QuotaExceededError
from lapor_sync.domain.masters import MasterInstitution, MasterList, ReplyTemplate
from lapor_sync.domain.ports import InboxWalkReport, QuotaListener
from lapor_sync.domain.timezones import WIB

logger = logging.getLogger(__name__)
quota_log = logging.getLogger("lapor_sync.quota")
"""The quota waits, at INFO: a worker's log has them at its level, and ``lapor-sync sync`` run by hand shows them."""
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)
MAX_PER_PAGE = 100  # CONTRACT §5: the inbox serves at most 100 rows a page
_TOLD_WAIT_SECONDS = 1.0  # a shorter wait for the quota is counted, not logged nor shown in ``status``

MASTERS_PAGE_SIZE = 1000  # CONTRACT §7 G8: master lists seen read with page_size=1000


class LaporClient:
    """The SP4N-LAPOR! integration API in domain terms; implements ``NationalPlatform`` (CONTRACT §5).

    Use it as a context manager (or call ``close``) so the connection pool is released.

    Args:
        base_url: the API base, e.g. ``https://api-splp.layanan.go.id/lapor/3.0.0``.
        auth: ``StaticKeyAuth`` or ``OAuth2ClientCredentialsAuth`` (see ``auth``).
        timeout: connect/read/write/pool timeouts in seconds, each per socket operation.
        deadline_seconds: the wall-clock limit of one attempt of one request, seconds: name lookup,
            connect, TLS, sending and the whole answer together (the retry policy's total cap may
            leave an attempt less).
        max_retry_after_seconds: the longest ``Retry-After`` honoured, seconds; a longer one is cut
            to this (``classify.parse_retry_after``).
        retry: the retry policy applied to every request.
        per_page: inbox rows per page, 1..100.
        endpoints: the deployment's paths and list parameters; ``None`` for the contract's
            (CONTRACT §5; §7 G7, G8: paths are deployment settings).
        followup_extras: fields added to every follow-up form, e.g. ``{"user_id": "..."}`` (G9);
            ``None`` for none.
        max_pages: the most pages one list walk may take before the run is stopped.
        clock: "now", for ``Retry-After`` HTTP-dates.
        outbound: where requests may go, TLS trust and the answer size limit; ``None`` allows the
            origin of ``base_url`` only, with the defaults (``config.outbound_from_settings`` builds
            the configured one, the OAuth2 token host included).
        transport: an httpx transport (tests); ``None`` for the default network transport.
        quota: the request quota every request waits its turn in, shared by the clients of one
            process (``App.quota``); ``None``: no limit.
        quota_wait_seconds: after a throttle answer (a 429 without ``Retry-After``, CONTRACT §7
            G3), how long no request of the quota starts before the one more try, seconds.

    Raises:
        ValueError: when ``per_page``, ``max_pages``, ``deadline_seconds``, ``max_retry_after_seconds``
            or ``quota_wait_seconds`` is out of range.
    """

    def __init__(
        self,
        base_url: str,
        auth: httpx.Auth,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        deadline_seconds: float = deadline.DEFAULT_REQUEST_DEADLINE_SECONDS,
        max_retry_after_seconds: float = classify.DEFAULT_MAX_RETRY_AFTER_SECONDS,
        retry: RetryPolicy | None = None,
        per_page: int = MAX_PER_PAGE,
        endpoints: NationalEndpoints | None = None,
        followup_extras: Mapping[str, str] | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
        clock: Clock | None = None,
        outbound: OutboundPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        quota: Quota | None = None,
        quota_wait_seconds: float = DEFAULT_QUOTA_WAIT_SECONDS,
    ) -> None:
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}")
        if max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        if deadline_seconds <= 0:
            raise ValueError("deadline_seconds must be positive")
        if max_retry_after_seconds < 0:
            raise ValueError("max_retry_after_seconds must not be negative")
        if quota_wait_seconds <= 0:
            raise ValueError("quota_wait_seconds must be positive")
        self._quota = quota or Quota(0)
        self._quota_wait = quota_wait_seconds
        self._listener: QuotaListener | None = None
        self._waited = WaitSpan()
        self._checks = threading.local()  # per thread: a push's delivery threads each hold their own row
        self._deadline_seconds = deadline_seconds
        self._max_retry_after = max_retry_after_seconds
        self._retry = retry or RetryPolicy()
        self._per_page = per_page
        self._endpoints = endpoints or NationalEndpoints()
        self._followup_extras = dict(followup_extras or {})
        self._max_pages = max_pages
        self._clock = clock or SystemClock()
        self._outbound = outbound or OutboundPolicy.for_urls(base_url)
        mounts = None
        if transport is None:  # a test's transport is used as it is
            transport, mounts = self._outbound.transports()
        self._http = httpx.Client(
            base_url=base_url,
            auth=auth,
            timeout=timeout,
            transport=transport,
            mounts=mounts,
            trust_env=False,  # the proxy policy chose the proxies (``outbound``); httpx reads no variable
            verify=self._outbound.verify,
            event_hooks=self._outbound.event_hooks(),
            headers={"Accept": "application/json"},
            follow_redirects=False,  # a redirect would carry the credentials elsewhere
        )
        deadline.install(self._http)
        _keep_no_cookies(self._http)
        # What ``httpx.Client.build_request`` would merge into every request, worked out once: the
        # base URL's prefix (httpx gives it a trailing slash), the client's headers and timeouts.
        # Merging a relative URL costs a URL parse and a copy per request (``_request``).
        # Its path set again: ``str`` leaves out a root path that was not written
        # ("https://gateway.test"), and the prefix would glue host and path together.
        # No fragment: it would swallow the path.
        base = self._http.base_url
        self._prefix = str(base.copy_with(raw_path=base.raw_path, fragment=None))
        self._extensions = {"timeout": self._http.timeout.as_dict()}

    @classmethod
    def from_settings(
        cls,
        settings: Any,
        *,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        quota: Quota | None = None,
    ) -> LaporClient:
        """Build a client from the application settings (attribute names in ``config``).

        ``quota`` is the process's request quota; ``None`` makes one for this client from
        ``requests_per_minute`` and ``requests_per_second``. ``quota_wait_seconds`` is read too.

        Raises:
            ConfigurationError: a needed setting is missing or refused (plain http over a network,
                an unusable CA bundle); the message names its environment variable.
        """
        clock = clock or SystemClock()
        return cls(
            config.base_url_from_settings(settings),
            config.auth_from_settings(settings, clock=clock),
            timeout=config.timeout_from_settings(settings),
            deadline_seconds=config.deadline_from_settings(settings),
            max_retry_after_seconds=config.max_retry_after_from_settings(settings),
            per_page=getattr(settings, "per_page", MAX_PER_PAGE),
            endpoints=config.endpoints_from_settings(settings),
            followup_extras=config.followup_extras_from_settings(settings),
            retry=retry,
            clock=clock,
            outbound=config.outbound_from_settings(settings),
            transport=transport,
            quota=quota or Quota.from_settings(settings),
            quota_wait_seconds=float(getattr(settings, "quota_wait_seconds", DEFAULT_QUOTA_WAIT_SECONDS)),
        )

    def __enter__(self) -> LaporClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def watch_requests(self, hook: Callable[[httpx.Request], None]) -> None:
        """Call ``hook`` with every request about to be sent, the OAuth2 token request included.

        For counting what a command spends of the gateway's per-minute quota (``lapor-sync doctor``).
        A request the outbound policy refuses is never sent and never seen. ``hook`` must not raise
        and must not read the request's headers' values out anywhere: they hold the credentials.
        """
        self._http.event_hooks["request"] = [*self._http.event_hooks["request"], hook]

    def report_quota_to(self, listener: QuotaListener | None) -> None:
        """Tell ``listener`` (a sync run's journal) about the waits for the request quota from now on."""
        self._listener = listener

    def check_before_requests(self, check: Callable[[], None] | None) -> None:
        """Run ``check`` right before each request this thread sends from now on, after its quota turn; ``None``: none.

        For a push's claim on a row (``sync.claims``): a wait for the quota, or for the gateway's
        window after a throttle answer, may outlast the claim, so it is re-checked after the wait,
        before every attempt. An error of ``check`` (``ClaimLost``) is raised unsent and not retried.
        """
        self._checks.check = check

    # --- the NationalPlatform port -------------------------------------------------------------

    def walk_inbox(
        self, updated_since: datetime, report: InboxWalkReport | None = None
    ) -> Iterator[InboxItem | MalformedRecord]:
        """Walk ``GET /complaints/inbox`` (the ``inbox`` endpoint) once from ``updated_since`` (aware; inclusive; in WIB).

        Yields one ``InboxItem`` per row in the server's order, or a ``MalformedRecord`` for a row
        that cannot be read; fills ``report`` (pages, each page's ``total``, unreadable rows) as it
        goes. Raises ``RunStoppingError`` on a pagination loop (CONTRACT §6).
        """
        report = InboxWalkReport() if report is None else report
        params = {
            SINCE_PARAM: wire.format_wib_datetime(updated_since),
            self._endpoints.page_size_param: self._per_page,
        }
        for page in self._pages(self._endpoints.inbox, params):
            report.pages += 1
            report.totals.append(page.total)
            for row in page.data:
                entry = wire.read_inbox_row(row)
                report.unreadable += isinstance(entry, MalformedRecord)
                yield entry

    def fetch_complaint(self, complaint_id: int, *, unchanged_since: datetime | None = None) -> ComplaintSnapshot:
        """Read ``GET /complaints/{id}/complaint`` and, unless it shows nothing new, every page of its follow-ups.

        When the detail's ``updated_at`` equals ``unchanged_since``, the follow-ups are not
        requested and the snapshot's ``thread`` is ``None`` (see the port, CONTRACT §4). The
        snapshot's ``requests`` counts the detail and each follow-up page.

        Raises:
            MalformedRecordError: the detail or a follow-up cannot be read, or is over the size limit.
            ItemRejectedError: unknown complaint (404).
        """
        with _oversize_is_malformed(complaint_id):
            results = self._call("GET", complaint_path(self._endpoints.complaint_detail, complaint_id))
        complaint, status_log = wire.read_complaint_detail(results, complaint_id)
        if unchanged_since is not None and complaint.updated_at == unchanged_since:
            return ComplaintSnapshot(complaint=complaint, status_log=status_log, thread=None)
        thread, pages = self._followups(complaint_id)
        return ComplaintSnapshot(complaint=complaint, status_log=status_log, thread=tuple(thread), requests=1 + pages)

    def list_followups(self, complaint_id: int) -> list[ThreadEntry]:
        """Read every page of ``GET /complaints/{id}/followups``, sorted by ``created_at`` then id.

        Raises:
            MalformedRecordError: a follow-up cannot be read, or a page is over the size limit.
        """
        return self._followups(complaint_id)[0]

    def _followups(self, complaint_id: int) -> tuple[list[ThreadEntry], int]:
        """Read every page of a complaint's follow-ups: the sorted entries, and how many pages it took."""
        with _oversize_is_malformed(complaint_id):
            pages = list(self._pages(complaint_path(self._endpoints.followups, complaint_id), {}))
        return wire.read_followups([row for page in pages for row in page.data], complaint_id), len(pages)

    def post_followup(self, complaint_id: int, *, institution_id: int, content: str, is_secret: bool) -> ThreadEntry:
        """Post a follow-up as a multipart form (CONTRACT §5: ``POST /complaints/followup/add``).

        The form also carries the configured extra fields (``user_id``, ``info_disposition``, §7 G9).

        Returns:
            The follow-up as the server stored it.

        Raises:
            AmbiguousWriteError: it may have been stored (timeout, dropped connection, 5xx, or an
                answer that cannot be read); read back before posting again (CONTRACT §6).
            ItemRejectedError: refused for this complaint (400/404/422).
        """
        form = {
            "complaint_id": str(complaint_id),
            "institution_from_id": str(institution_id),
            "content": content,
            "template_code": "followup",
            "rating": "0",
            "is_secret": "1" if is_secret else "0",
            **self._followup_extras,
        }
        # (None, value) parts make httpx send multipart/form-data fields without file names.
        results = self._call(
            "POST", self._endpoints.followup_add, files={name: (None, value) for name, value in form.items()}
        )
        try:
            return wire.read_posted_followup(results, complaint_id)
        except MalformedRecordError as exc:
            raise AmbiguousWriteError(f"follow-up accepted but its answer is unreadable ({exc.reason})") from None

    def set_status(self, complaint_id: int, *, status_code: int, note: str) -> None:
        """Ask for a status transition (CONTRACT §5: ``POST /complaints/process/{id}/status``)."""
        self._call(
            "POST",
            complaint_path(self._endpoints.status, complaint_id),
            json={"status_code": status_code, "note": note},
        )

    def request_reject(
        self, complaint_id: int, *, not_authority: bool, target_institution_id: int | None, reason: str
    ) -> None:
        """Ask an admin to forward (``not_authority``) or archive the complaint (CONTRACT §5: ``/reject``).

        Raises:
            ValueError: a forward without ``target_institution_id``, or an archive with one.
        """
        if not_authority != (target_institution_id is not None):
            raise ValueError("a forward needs a target institution; an archive request takes none")
        body = {
            "is_request": 1,
            "reason": target_institution_id or 0,
            "reason_description": reason,
            "not_authority": 1 if not_authority else 0,
        }
        self._call("POST", complaint_path(self._endpoints.reject, complaint_id), json=body)

    # --- reference data -------------------------------------------------------------------------

    def list_institutions(self) -> list[wire.Institution]:
        """Read every page of ``GET /institutions``: the caller's institution and its sub-units."""
        return wire.read_institutions(self._all_rows(self._endpoints.institutions))

    def list_categories(self) -> list[wire.Category]:
        """Read ``GET /categories`` (a plain list or a paginator)."""
        return wire.read_categories(self._all_rows(self._endpoints.categories))

    def list_master_institutions(self) -> MasterList[MasterInstitution]:
        """Read every page of ``GET /masters/institutions/external?page_size=`` (CONTRACT §7 G8).

        Returns:
            The institutions the platform knows, ``{id, name}``; a row that cannot be read is set
            aside in ``unreadable`` with its reason (field names only), the others are kept.

        Raises:
            NationalPlatformError: the list could not be read (``RunStoppingError`` for refused
                credentials or a pagination loop); nothing of it is returned.
        """
        return wire.read_master_institutions(self._master_rows(self._endpoints.masters_institutions))

    def list_reply_templates(self) -> MasterList[ReplyTemplate]:
        """Read every page of ``GET /masters/templates?page_size=`` (CONTRACT §7 G8), as ``list_master_institutions``."""
        return wire.read_reply_templates(self._master_rows(self._endpoints.masters_templates))

    # --- plumbing -------------------------------------------------------------------------------

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[WirePage]:
        def fetch(page_number: int) -> WirePage:
            page_params = {**params, self._endpoints.page_param: page_number}
            page: WirePage = self._call("GET", path, params=page_params, read=wire.read_page)
            return page

        return walk_pages(fetch, what=f"GET {path}", max_pages=self._max_pages, page_param=self._endpoints.page_param)

    def _all_rows(self, path: str) -> list[Any]:
        return [row for page in self._pages(path, {}) for row in page.data]

    def _master_rows(self, path: str) -> list[Any]:
        """Every row of a master list, paged by its own page-size parameter (``page_size``, G8): whole pages or nothing."""
        params = {self._endpoints.masters_page_size_param: MASTERS_PAGE_SIZE}
        return [row for page in self._pages(path, params) for row in page.data]

    def _call(self, method: str, path: str, *, read: Callable[[object], Any] | None = None, **kwargs: Any) -> Any:
        """Send one request under the retry policy and return its ``results`` (through ``read``).

        ``read`` raises ``ValueError`` for an answer that is not the protocol; that is classified
        like an HTML body, so it is retried on a GET.
        """
        write = method != "GET"

        def attempt() -> Any:
            request = self._request(method, path, **kwargs)
            # One buffer: httpx's multipart encoder yields a follow-up form in ~27 pieces, and the
            # connection writes each to the socket (through ``deadline``) on its own. Same bytes.
            request.read()
            response, body = self._exchange(request, write=write)
            results = classify.check_response(
                response,
                body,
                write=write,
                now=self._clock.now(),
                credentials=credentials_of(self._http.auth),
                max_retry_after=self._max_retry_after,
            )
            if read is None:
                return results
            try:
                return read(results)
            except ValueError as exc:
                raise classify.protocol_error(str(exc), status=response.status_code, write=write) from None

        description = f"{method} {path}"
        try:
            return self._retry.call(
                attempt, description=description, attempt_seconds=self._deadline_seconds, turn=self._take_turn
            )
        except QuotaExceededError as exc:
            if self._retry.max_attempts < 2:
                raise  # one attempt a request was asked for (``doctor``): no wait, no second try
            # CONTRACT §7 G3/G4: the gateway's throttle answer has no Retry-After; its window is a
            # minute. No request of this process starts until it has passed, then this one is tried
            # once more; a second throttle answer goes up and stops the run.
            logger.warning(
                "%s throttled (%s); no request for %g s (LAPOR_SYNC_QUOTA_WAIT_SECONDS), then one more try",
                description,
                exc,
                self._quota_wait,
            )
            self._quota.hold(self._quota_wait)
        try:
            return self._retry.call(
                attempt, description=description, attempt_seconds=self._deadline_seconds, turn=self._take_turn
            )
        except QuotaExceededError as again:
            raise QuotaExceededError(
                f"{again.detail}; again after the {self._quota_wait:g} s wait (the next run goes on; is "
                "LAPOR_SYNC_REQUESTS_PER_MINUTE above the key's tier?)",
                status=again.status,
                layer=again.layer,
                fault_code=again.fault_code,
            ) from None

    def _take_turn(self) -> float:
        """Wait for the request's turn in the quota (ended by the retry policy's stop), then run this thread's check.

        Returns the seconds waited for the turn.
        """
        waited = self._quota.take_turn(stop=self._retry.interrupt, announce=self._waiting)
        listener = self._listener
        if waited > 0 and listener is not None:
            ended = self._quota.now()
            listener.waited_on_quota(self._waited.add(ended - waited, ended))
        check = getattr(self._checks, "check", None)
        if check is not None:
            check()
        return waited

    def _waiting(self, seconds: float) -> None:
        """Say that a request waits ``seconds`` for its turn: a log line and the listener, for a wait of 1 s or more."""
        if seconds < _TOLD_WAIT_SECONDS:
            return
        until = self._clock.now() + timedelta(seconds=seconds)
        quota_log.info(
            "waiting on the SPLP quota until %s (%s: LAPOR_SYNC_REQUESTS_PER_MINUTE)",
            f"{until.astimezone(WIB):%H:%M:%S} WIB",
            self._quota.describe(),
        )
        listener = self._listener
        if listener is not None:
            listener.waiting_on_quota(until)

    def _request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, **content: Any
    ) -> httpx.Request:
        """Build the request for ``path`` (relative to the base URL) as ``httpx.Client.build_request`` would.

        The same URL, query, headers and timeouts, from the parts worked out once in ``__init__``;
        ``content`` is ``files=`` or ``json=``. No cookies: the platform sets none (see
        :func:`_keep_no_cookies`).
        """
        url = self._prefix + path.lstrip("/")
        if params:
            url += "?" + str(httpx.QueryParams(params))
        return httpx.Request(method, url, headers=self._http.headers, extensions=self._extensions, **content)

    def _exchange(self, request: httpx.Request, *, write: bool) -> tuple[httpx.Response, bytes]:
        """Send ``request`` and read its answer within the size limit (streamed: never more is held).

        Raises:
            NationalPlatformError: a transport failure or an answer over the limit, classified.
            RunStoppingError: the outbound policy refused the request (or the token request).
        """
        try:
            response = self._http.send(request, stream=True)
            try:
                return response, self._outbound.read(response)
            finally:
                response.close()
        except httpx.TransportError as exc:
            write = write and not _on_token_request(exc, request)
            route = self._outbound.proxy_for(exc.request.url if classify.has_request(exc) else request.url)
            raise classify.transport_error(exc, write=write, proxy=route) from exc
        except AnswerTooLargeError as exc:
            own_answer = exc.request is request
            raise classify.answer_too_large(exc, write=write and own_answer, own_answer=own_answer) from None


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing: the platform sets no cookies (CONTRACT), and none is ever sent."""

    def extract_cookies(self, response: httpx.Response) -> None:
        """Keep nothing of ``response``'s ``Set-Cookie`` headers."""


def _keep_no_cookies(client: httpx.Client) -> None:
    """Give ``client`` a jar that keeps no cookies.

    httpx reads every answer's cookies into the client's jar, a ``urllib`` request and answer built
    for it each time (a twentieth of the client's CPU per request), and the jar is only ever read
    by ``build_request``, which the client no longer calls. httpx offers no public switch: the
    client's jar is its ``_cookies`` attribute (httpx 0.28 and 0.29).

    Raises:
        RuntimeError: the client keeps its jar elsewhere (httpx changed).
    """
    if not isinstance(getattr(client, "_cookies", None), httpx.Cookies):
        raise RuntimeError("cannot turn the cookie jar off: httpx changed")
    client._cookies = _NoCookies()  # noqa: SLF001


@contextmanager
def _oversize_is_malformed(complaint_id: int) -> Iterator[None]:
    """Make an oversized answer about one complaint a fact about that complaint: it is set aside, the run goes on."""
    try:
        yield
    except classify.OversizeAnswerError as exc:
        raise MalformedRecordError(exc.detail, complaint_id=complaint_id) from None


def _on_token_request(exc: httpx.TransportError, request: httpx.Request) -> bool:
    """Tell whether the failure hit the OAuth2 token request, which never reaches the complaint."""
    try:
        return exc.request is not request
    except RuntimeError:  # no request attached: assume the worst, it was ours
        return False
