"""The SPLP gateway's fault codes as data: what each means, how a city's IT officer fixes it, what the client does.

LAPOR! sits behind SPLP, a WSO2 API Manager gateway; its refusals carry a WSO2 fault code (CONTRACT
§7 G1-G3, after WSO2's own table). The authentication faults 9009xx stop the run, except 900900
(often the gateway's key validation unreachable) and 900907 (API blocked for a while), which are
transient; 900903 (token expired) reaches the classifier only after the OAuth2 flow renewed the
token once and the resent request was refused again, so it stops the run too. The throttling
faults 900800-900807 (with a 429 and no ``Retry-After``) are a wait for the quota window
(:mod:`~lapor_sync.adapters.national.quota`). A code not in the table is kept as received and
classified by HTTP status (``classify.error_for_status``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from lapor_sync.adapters.national.wire import WireFault
from lapor_sync.domain.errors import Layer, NationalPlatformError, RunStoppingError, TransientError


class FaultAction(StrEnum):
    """What the client does with a fault: stop the run, or try again later (a next attempt, the next run)."""

    STOP = "stop"
    RETRY_LATER = "retry later"


@dataclass(frozen=True, slots=True)
class GatewayFault:
    """One row of the fault table.

    Attributes:
        meaning: what the gateway says, in a few words.
        fix: what the city's IT officer checks or does, naming the setting where there is one.
        action: stop the run, or retry later.
    """

    meaning: str
    fix: str
    action: FaultAction


_STOP, _LATER = FaultAction.STOP, FaultAction.RETRY_LATER
_NOT_SUBSCRIBED = "the key's application is not subscribed to this API: subscribe it in the SPLP portal"

FAULTS = MappingProxyType(
    {
        900900: GatewayFault(
            "unclassified authentication failure",
            "often the gateway's key validation is unreachable; the next attempt or run tries again "
            "(if it lasts, ask the SPLP helpdesk)",
            _LATER,
        ),
        900901: GatewayFault(
            "invalid credentials",
            "check LAPOR_SYNC_SPLP_KEY (an SPLP key works for one API only); a SANDBOX key on a "
            "PRODUCTION URL, or the other way round, also gets this (LAPOR_SYNC_API_BASE_URL)",
            _STOP,
        ),
        900902: GatewayFault(
            "missing credentials",
            "set the gateway credentials (LAPOR_SYNC_AUTH_MODE and its key or OAuth2 client) and check "
            "the header names they are sent in",
            _STOP,
        ),
        900903: GatewayFault(
            "access token expired",
            "an OAuth2 token was renewed once and refused again: check the OAuth2 client "
            "(LAPOR_SYNC_OAUTH_*); an SPLP key past its expiry: get a new one from the SPLP portal",
            _STOP,
        ),
        900904: GatewayFault(
            "access token inactive", "the key or token was revoked: get a new one from the SPLP portal", _STOP
        ),
        900905: GatewayFault(
            "wrong token type",
            "use a key of the type the URL serves (a SANDBOX key for the sandbox URL, a PRODUCTION key "
            "for production: LAPOR_SYNC_API_BASE_URL)",
            _STOP,
        ),
        900906: GatewayFault(
            "no matching resource",
            "check the endpoint paths and LAPOR_SYNC_API_BASE_URL (lapor-sync config show)",
            _STOP,
        ),
        900907: GatewayFault(
            "API temporarily blocked", "the gateway blocked the API for now; the next run tries again", _LATER
        ),
        900908: GatewayFault("resource forbidden", _NOT_SUBSCRIBED, _STOP),
        900909: GatewayFault("subscription inactive", _NOT_SUBSCRIBED + " (or unblock its subscription)", _STOP),
        900910: GatewayFault(
            "scope not allowed",
            "the token does not allow this resource: ask SPLP for this API's scopes for the OAuth2 client",
            _STOP,
        ),
    }
)
"""WSO2's authentication faults (CONTRACT §7 G2), by code."""

THROTTLE_CODES = range(900800, 900808)
"""WSO2's throttling faults (CONTRACT §7 G3): 900800 "message throttled out", 900801-900807 name the tier."""


def is_throttle(fault: WireFault | None) -> bool:
    """Whether ``fault`` says the gateway's quota refused the request (900800-900807)."""
    return fault is not None and fault.code in THROTTLE_CODES


def named(fault: WireFault) -> str:
    """Name ``fault`` for a message: ``"fault 900901 invalid credentials"`` from the table, or as received.

    An unknown code is kept with the gateway's own message and description (the caller masks them).
    """
    known = FAULTS.get(fault.code) if fault.code is not None else None
    if known is not None:
        return f"fault {fault.code} {known.meaning}"
    said = "; ".join(part for part in (fault.message, fault.description) if part)
    return f"fault {fault.raw_code}" + (f" {said}" if said else "")


def known_fault_error(fault: WireFault, *, status: int, retry_after: float | None) -> NationalPlatformError | None:
    """The error for a fault of the table (CONTRACT §7 G2), or ``None`` for a code it does not hold.

    A gateway refusal never reached LAPOR!, so a write refused here was not applied: a
    transient one is a ``TransientError``, never an ambiguous write.

    Args:
        fault: the fault as received.
        status: the answer's HTTP status.
        retry_after: the answer's ``Retry-After``, seconds, when it had one.

    Returns:
        ``RunStoppingError`` saying ``SPLP gateway refused: HTTP <status>: fault <code> <meaning>;
        <fix>`` for a fault that stops the run, ``TransientError`` for 900900 and 900907, or ``None``.
    """
    known = FAULTS.get(fault.code) if fault.code is not None else None
    if known is None:
        return None
    detail = f"{named(fault)}; {known.fix}"
    if known.action is FaultAction.RETRY_LATER:
        return TransientError(
            detail, status=status, retry_after=retry_after, layer=Layer.GATEWAY, fault_code=fault.code
        )
    return RunStoppingError(detail, status=status, layer=Layer.GATEWAY, fault_code=fault.code)
