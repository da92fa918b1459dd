"""The doctor's steps over HTTP: gateway credentials, LAPOR credentials, the institution, the inbox.

Two kinds of GET, never a write (CONTRACT §7: every request counts against the gateway's per-minute
quota, so each one earns its place; in OAuth2 mode the auth flow asks for a token first):

1. ``GET /institutions`` (every page; the caller's institution and its sub-units: one page for a
   city) tells three things at once: the gateway let the request through (steps 6), LAPOR! took
   the key and app token (7), and which institutions the key sees (8).
2. ``GET /complaints/inbox`` page 1 of size 1 (9): the one list a pull needs.

Each request is sent once (no retry: a retry would spend the quota the doctor reports on) and
bounded by the doctor's timeout. Who refused is read from the error: the gateway when it carries a
WSO2 fault (``NationalPlatformError.layer``/``fault_code``, CONTRACT §7 G1-G3) or came from the
OAuth2 token request; LAPOR! when it answered with a status of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from lapor_sync.adapters.national.gateway_faults import FAULTS, THROTTLE_CODES
from lapor_sync.checks.doctor.result import Check, Step
from lapor_sync.domain.errors import Layer, MalformedRecordError, NationalPlatformError
from lapor_sync.domain.ports import InboxWalkReport
from lapor_sync.domain.timezones import display_wib

if TYPE_CHECKING:
    import httpx

    from lapor_sync.adapters.national import Institution, LaporClient
    from lapor_sync.app import App

THROTTLED = "not checked: throttled by the gateway (see quota)"
# Headers every HTTP request carries; the rest are the ones that authenticate (shown by name only).
_PLAIN_HEADERS = frozenset(
    {"host", "accept", "accept-encoding", "connection", "user-agent", "content-length", "content-type"}
)
# What LAPOR! itself is sent in every mode, beside the gateway's SPLP key or OAuth2 token.
_LAPOR_CREDENTIALS = "LAPOR_SYNC_API_KEY (in the LAPOR_SYNC_AUTH_HEADER_NAME header) and LAPOR_SYNC_API_TOKEN"
# What the gateway checks, by auth mode (CONTRACT §7 G5, G6).
_GATEWAY_CREDENTIALS = {
    "static": _LAPOR_CREDENTIALS,
    "splp_key": "LAPOR_SYNC_SPLP_KEY (in the LAPOR_SYNC_SPLP_KEY_HEADER header)",
    "oauth2": "LAPOR_SYNC_OAUTH_CLIENT_ID, LAPOR_SYNC_OAUTH_CLIENT_SECRET and LAPOR_SYNC_OAUTH_TOKEN_URL",
}


@dataclass
class Spent:
    """The requests the doctor sent to the national side: how many, and of which kind.

    The doctor's own requests are GETs: a POST is the OAuth2 token request, made by the auth flow.

    Attributes:
        requests: requests sent, the OAuth2 token request included.
        token_requests: of those, OAuth2 token requests.
        header_names: the names of the authenticating headers sent (never their values).
        last_was_token: whether the last request sent was a token request.
    """

    requests: int = 0
    token_requests: int = 0
    header_names: set[str] = field(default_factory=set)
    last_was_token: bool = False

    def record(self, request: httpx.Request) -> None:
        """Count ``request`` (a hook of ``LaporClient.watch_requests``)."""
        self.requests += 1
        self.last_was_token = request.method == "POST"
        self.token_requests += self.last_was_token
        self.header_names |= {name for name in request.headers if name.lower() not in _PLAIN_HEADERS}

    def said(self) -> str:
        """``doctor sent 2 GETs``, ``doctor sent 1 OAuth2 token request and 2 GETs``, ``doctor sent no request``."""
        gets = self.requests - self.token_requests
        parts = [
            f"{count} {kind}{'s' if count != 1 else ''}"
            for count, kind in ((self.token_requests, "OAuth2 token request"), (gets, "GET"))
            if count
        ]
        return "doctor sent " + (" and ".join(parts) or "no request")


@dataclass
class Findings:
    """Steps 6 to 9, and the throttling answer if the gateway gave one (for the quota step)."""

    checks: list[Check]
    throttled: NationalPlatformError | None = None


def check_national(app: App, spent: Spent, *, timeout: float, since: datetime | None = None) -> Findings:
    """Steps 6-9: one ``GET /institutions`` walk, then one inbox page of size 1, each sent once within ``timeout`` s.

    Args:
        app: the composition root on valid settings (its mapping loaded).
        spent: counts the requests sent.
        timeout: the longest one request may take, seconds (capped by ``request_deadline_seconds``).
        since: the inbox's ``updated_since`` (aware); default ``initial_since``, where a first pull starts.
    """
    with _client(app, timeout) as client:
        client.watch_requests(spent.record)
        try:
            institutions = client.list_institutions()
        except (NationalPlatformError, MalformedRecordError) as exc:
            return _first_call_refused(exc, app, spent)
        checks = [
            _gateway_passed(spent),
            Check.passed(Step.LAPOR, "accepted the key and app token"),
            _institution(app.institution_id, institutions),
        ]
        if checks[-1].ok:
            inbox, throttled = _inbox(client, since or app.settings.initial_since, app, spent)
            return Findings([*checks, inbox], throttled)
        return Findings([*checks, Check.skipped(Step.INBOX)])


def _client(app: App, timeout: float) -> LaporClient:
    """The national client of the settings, one attempt per request, inbox pages of one row."""
    from lapor_sync.adapters.national import LaporClient, RetryPolicy

    deadline = min(app.settings.request_deadline_seconds, timeout)
    settings = app.settings.model_copy(update={"per_page": 1, "request_deadline_seconds": deadline})
    retry = RetryPolicy(max_attempts=1, max_total_seconds=deadline)
    return LaporClient.from_settings(settings, clock=app.clock, retry=retry)


def _throttled(exc: NationalPlatformError) -> bool:
    """A 429, or a WSO2 throttling fault (900800-900807, CONTRACT §7 G3)."""
    return exc.status == 429 or exc.fault_code in THROTTLE_CODES


def _by_gateway(exc: NationalPlatformError, spent: Spent) -> bool:
    """Whether the gateway refused: a WSO2 fault, or a failure of the OAuth2 token request (the gateway's)."""
    return exc.layer is Layer.GATEWAY or exc.fault_code is not None or spent.last_was_token


def _first_call_refused(exc: NationalPlatformError | MalformedRecordError, app: App, spent: Spent) -> Findings:
    """Steps 6-9 after the institutions list failed: which layer refused decides which step fails."""
    rest = [Check.skipped(Step.INSTITUTION), Check.skipped(Step.INBOX)]
    if isinstance(exc, MalformedRecordError):
        lapor = Check.failed(Step.LAPOR, f"answered an institution list it cannot be read: {exc}", _UNEXPECTED)
        return Findings([_gateway_passed(spent), lapor, *rest])
    if _throttled(exc):
        return Findings(
            [Check.skipped(s, THROTTLED) for s in (Step.GATEWAY, Step.LAPOR, Step.INSTITUTION, Step.INBOX)], exc
        )
    if _by_gateway(exc, spent):
        gateway = Check.failed(Step.GATEWAY, _gateway_said(exc), gateway_fix(exc.fault_code, app.settings.auth_mode))
        return Findings([gateway, Check.skipped(Step.LAPOR), *rest])
    if exc.status is None:
        return Findings([Check.failed(Step.GATEWAY, f"no answer: {exc}", _NO_ANSWER), Check.skipped(Step.LAPOR), *rest])
    lapor = Check.failed(Step.LAPOR, str(exc), lapor_fix(exc.status, app.settings.auth_mode))
    return Findings([_gateway_passed(spent, exc.status), lapor, *rest])


def _gateway_passed(spent: Spent, status: int | None = None) -> Check:
    answered = "" if status is None else f"; LAPOR! answered HTTP {status}"
    return Check.passed(
        Step.GATEWAY, f"let the request through (sent: {', '.join(sorted(spent.header_names))}){answered}"
    )


def _institution(institution_id: int, institutions: list[Institution]) -> Check:
    """Step 8: the configured institution is among those the key sees."""
    mine = next((i for i in institutions if i.id == institution_id), None)
    if mine is not None:
        return Check.passed(Step.INSTITUTION, f"{mine.id} {mine.name} visible ({len(institutions)} institutions)")
    seen = ", ".join(str(i.id) for i in institutions[:5]) + (", ..." if len(institutions) > 5 else "")
    return Check.failed(
        Step.INSTITUTION,
        f"{institution_id} is not among the {len(institutions)} institutions this key sees ({seen or 'none'})",
        "check LAPOR_SYNC_INSTITUTION_ID and the mapping file's [institution] id; ask the LAPOR! admin which "
        "institution the key was issued for",
    )


def _inbox(client: LaporClient, since: datetime, app: App, spent: Spent) -> tuple[Check, NationalPlatformError | None]:
    """Step 9: read page 1 of the inbox, one row a page."""
    report = InboxWalkReport()
    walk = client.walk_inbox(since, report)
    try:
        next(walk, None)  # the walk is lazy: page 2 is never asked for
    except MalformedRecordError as exc:
        return Check.failed(Step.INBOX, f"answered an inbox page it cannot be read: {exc}", _UNEXPECTED), None
    except NationalPlatformError as exc:
        return _inbox_refused(exc, app, spent)
    finally:
        walk.close()
    total = report.totals[0] if report.totals else None
    count = "an unknown number of" if total is None else f"{total:,}"
    return Check.passed(Step.INBOX, f"readable: {count} complaints updated since {display_wib(since)}"), None


def _inbox_refused(exc: NationalPlatformError, app: App, spent: Spent) -> tuple[Check, NationalPlatformError | None]:
    if _throttled(exc):
        return Check.skipped(Step.INBOX, THROTTLED), exc
    if _by_gateway(exc, spent):
        return Check.failed(Step.INBOX, _gateway_said(exc), gateway_fix(exc.fault_code, app.settings.auth_mode)), None
    if exc.status == 403:
        fix = "the key may read institutions but not the inbox: ask the LAPOR! admin for inbox access for it"
        return Check.failed(Step.INBOX, _said_by(Layer.LAPOR, exc), fix), None
    return Check.failed(Step.INBOX, _said_by(Layer.LAPOR, exc), lapor_fix(exc.status, app.settings.auth_mode)), None


def _gateway_said(exc: NationalPlatformError) -> str:
    """The gateway's refusal; a fault of the table without the fix its text carries (the fix line gives one)."""
    known = FAULTS.get(exc.fault_code) if exc.fault_code is not None else None
    if known is None or exc.status is None:
        return _said_by(Layer.GATEWAY, exc)
    return f"{Layer.GATEWAY} refused: HTTP {exc.status}: fault {exc.fault_code} {known.meaning}"


def _said_by(layer: Layer, exc: NationalPlatformError) -> str:
    text = str(exc)
    return _with_fault(text if text.startswith(layer.value) else f"{layer.value}: {text}", exc)


def _with_fault(text: str, exc: NationalPlatformError) -> str:
    """``text``, with the gateway's fault code when it does not say it already (it is what SPLP's support asks for)."""
    if exc.fault_code is None or str(exc.fault_code) in text:
        return text
    return f"{text} (SPLP fault {exc.fault_code})"


_NO_ANSWER = (
    "the connection works but no HTTP answer came in time: run doctor again; if it lasts, check a proxy or "
    "firewall that holds HTTPS connections, or raise --timeout"
)
_UNEXPECTED = (
    "the answer is not what docs/api.md models: check LAPOR_SYNC_API_BASE_URL, and compare the real API "
    "documentation with the contract (README: 'Pointing it at the real platform')"
)


_CREDENTIAL_FAULTS = (900901, 900902, 900903, 900904, 900905)  # the key or token itself (CONTRACT §7 G2)


def gateway_fix(fault_code: int | None, auth_mode: str) -> str:
    """What fixes a refusal by the SPLP gateway, by its WSO2 fault code (CONTRACT §7 G2, G5).

    A fault about the credentials names the settings of ``auth_mode``; a passing one says to run
    the doctor again; any other fault of the table gets the table's fix (``gateway_faults.FAULTS``).

    Args:
        fault_code: the gateway's fault code, or ``None`` (the OAuth2 token request was refused).
        auth_mode: ``LAPOR_SYNC_AUTH_MODE``, naming the settings that hold the credentials.
    """
    if fault_code in (900900, 900907):
        return "a passing fault of the gateway: run doctor again in a few minutes; if it lasts, ask SPLP"
    if fault_code in FAULTS and fault_code not in _CREDENTIAL_FAULTS:
        return FAULTS[fault_code].fix
    settings = _GATEWAY_CREDENTIALS.get(auth_mode, f"the credentials of auth mode {auth_mode}")
    return (
        f"check {settings}; a gateway key is for one API and for one of sandbox or production: it must "
        "match LAPOR_SYNC_API_BASE_URL (production /lapor/3.0.0, sandbox /sandbox-konsolidasi/1.0)"
    )


_LAPOR_FIXES: dict[int, Callable[[str], str]] = {
    401: lambda _mode: f"LAPOR! refused the credentials: check {_LAPOR_CREDENTIALS}",
    403: lambda _mode: "the key may not read this: ask the LAPOR! admin for API access for this institution",
    404: lambda _mode: "LAPOR! has no such endpoint here: check the path of LAPOR_SYNC_API_BASE_URL",
}


def lapor_fix(status: int | None, auth_mode: str) -> str:
    """What fixes a refusal by LAPOR! itself, by HTTP status."""
    if status in _LAPOR_FIXES:
        return _LAPOR_FIXES[status](auth_mode)
    if status is not None and status >= 500:
        return "LAPOR! (behind the gateway) is failing: run doctor again later; if it lasts, tell the LAPOR! team"
    return _UNEXPECTED
