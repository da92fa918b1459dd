"""The SPLP gateway's refusals: WSO2 fault codes, their HTTP statuses, and the fault bodies (JSON or XML).

CONTRACT §7 G1 (the body shapes), G2 (the authentication codes) and G3 (throttling: 429, no
``Retry-After``). The statuses follow WSO2 API Manager's documented table (wso2/docs-apim,
``en/docs/troubleshooting/error-handling.md``, "HTTP Status Codes and the corresponding error
codes"): 401 for 900901-900905, 900907 and 900909; 403 for 900908 and 900910; 500 for 900900; 429
for 9008xx but 503 for 900801 (hard limit). Two choices of ours: 900906 (a path that matches no
resource) answers 404, as WSO2's resource-mismatch sequence does, not the authentication handler's
403; and a code outside the table answers as WSO2's authentication handler answers any other code
(401 for 9009xx), 429 for 9008xx, else 500.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from xml.sax.saxutils import escape

Answer = tuple[int, dict[str, str], bytes]
"""A whole HTTP answer: status, headers, body."""

THROTTLED = 900800
MISSING_CREDENTIALS = 900902
INVALID_CREDENTIALS = 900901
NO_MATCHING_RESOURCE = 900906


class FaultFormat(StrEnum):
    """How the gateway writes a fault body: JSON (WSO2 3.x and later) or XML (older releases' default)."""

    JSON = "json"
    XML = "xml"


@dataclass(frozen=True, slots=True)
class FaultCode:
    """One WSO2 fault: its HTTP status, its ``message`` and a default ``description``."""

    status: int
    message: str
    description: str


# Messages as WSO2 sends them (its APISecurityConstants / throttle constants); descriptions are ours.
CATALOGUE: dict[int, FaultCode] = {
    900800: FaultCode(429, "Message throttled out", "You have exceeded your quota"),
    900801: FaultCode(503, "Hard limit exceeded", "The hard throttle limit of the API has been reached"),
    900802: FaultCode(429, "Resource level throttle out", "The quota of this resource is exceeded"),
    900803: FaultCode(429, "Application level throttle out", "The quota of your application is exceeded"),
    900804: FaultCode(429, "Subscription level throttled out", "The quota of your subscription is exceeded"),
    900807: FaultCode(429, "Message throttled out", "The burst limit of your subscription is exceeded"),
    900900: FaultCode(500, "Unclassified Authentication Failure", "The key validation service cannot be reached"),
    900901: FaultCode(401, "Invalid Credentials", "Make sure you have provided the correct security credentials"),
    900902: FaultCode(401, "Missing Credentials", "Make sure your API invocation call has a header"),
    900903: FaultCode(401, "Access Token Expired", "Renew the access token and try again"),
    900904: FaultCode(401, "Access Token Inactive", "Generate a new access token and try again"),
    900905: FaultCode(401, "Incorrect Access Token Type is provided", "Use a key of the type this API accepts"),
    900906: FaultCode(
        404, "No matching resource found in the API for the given request", "Check the resource path and method"
    ),
    900907: FaultCode(401, "The requested API is temporarily blocked", "Try again later"),
    900908: FaultCode(403, "Resource forbidden ", "The application is not subscribed to this API"),
    900909: FaultCode(401, "The subscription to the API is inactive", "The subscription awaits approval"),
    900910: FaultCode(
        403, "The access token does not allow you to access the requested resource", "Check the key's scopes"
    ),
}


def describe(code: int) -> FaultCode:
    """Return the catalogue entry of ``code``, or the default answer to a code outside it (see the module)."""
    if code in CATALOGUE:
        return CATALOGUE[code]
    if 900800 <= code < 900900:  # WSO2's throttling range
        return FaultCode(429, "Message throttled out", "Throttled")
    status = 401 if 900900 <= code < 901000 else 500  # WSO2's authentication range
    return FaultCode(status, "Unclassified fault", f"Fault {code}")


def fault_answer(code: int, fmt: FaultFormat, *, description: str | None = None, status: int | None = None) -> Answer:
    """Return the gateway's whole answer carrying fault ``code`` (CONTRACT §7 G1).

    Args:
        code: the WSO2 fault code.
        fmt: JSON ``{"fault": {"code", "message", "description"}}`` or XML ``<ams:fault>``
            (throttling faults ``<amt:fault>``, in WSO2's throttling namespace).
        description: the ``description`` instead of the catalogue's.
        status: the HTTP status instead of the catalogue's (a test asking for another).

    Returns:
        Status, headers (a content type; never ``Retry-After``, G3) and body.
    """
    fault = describe(code)
    text = fault.description if description is None else description
    if fmt is FaultFormat.JSON:
        fields = {"code": code, "message": fault.message, "description": text}
        body = json.dumps({"fault": fields}, separators=(",", ":")).encode()
        return status or fault.status, {"content-type": "application/json"}, body
    prefix, space = ("amt", "throttling") if 900800 <= code < 900900 else ("ams", "security")
    xml = (
        f'<{prefix}:fault xmlns:{prefix}="http://wso2.org/apimanager/{space}">'
        f"<{prefix}:code>{code}</{prefix}:code><{prefix}:message>{escape(fault.message)}</{prefix}:message>"
        f"<{prefix}:description>{escape(text)}</{prefix}:description></{prefix}:fault>"
    )
    return status or fault.status, {"content-type": "application/xml; charset=UTF-8"}, xml.encode()
