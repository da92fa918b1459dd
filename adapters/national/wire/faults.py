"""Reading the SPLP gateway's fault bodies: WSO2 API Manager's JSON and XML refusals (CONTRACT §7 G1).

A request refused by the gateway never reached LAPOR!; its answer is not LAPOR's ``{"message": ...}``
but a WSO2 fault, ``{"fault": {"code": 900901, "message": ..., "description": ...}}`` or the XML
``<ams:fault xmlns:ams="http://wso2.org/apimanager/security">`` of older releases. The code may come
as a number or a string. XML is parsed with ``defusedxml``: a DTD, an entity or an external
reference is refused, so a body cannot make the parser expand or fetch anything (the body itself is
already size-limited by ``outbound``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

WSO2_SECURITY_NS = "http://wso2.org/apimanager/security"
"""The namespace of WSO2's XML fault body (``ams:``)."""
_MAX_CODE_CHARS = 32  # a fault code is six digits; more is not a code worth keeping


@dataclass(frozen=True, slots=True)
class WireFault:
    """A gateway fault as received, before any masking: what ``classify`` names and cleans.

    Attributes:
        code: the fault code as a number (``900901``), or ``None`` when it is not a whole number.
        raw_code: the code as received (cut to 32 characters), for an unknown or non-numeric one.
        message: the fault's ``message`` (``"Invalid Credentials"``), or ``""``.
        description: the fault's ``description``, or ``""``.
    """

    code: int | None
    raw_code: str
    message: str
    description: str


def _fault(code: object, message: object, description: object) -> WireFault | None:
    """Build a :class:`WireFault` from its three parts as found; ``None`` without a code."""
    if code is None or isinstance(code, bool) or not isinstance(code, int | str):
        return None
    raw = str(code).strip()[:_MAX_CODE_CHARS]
    if not raw:
        return None
    number = int(raw) if raw.isascii() and raw.isdigit() else None
    return WireFault(number, raw, _text(message), _text(description))


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _from_json(body: bytes) -> WireFault | None:
    try:
        parsed = json.loads(body.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        return None
    fault = parsed.get("fault") if isinstance(parsed, dict) else None
    if not isinstance(fault, dict):
        return None
    return _fault(fault.get("code"), fault.get("message"), fault.get("description"))


def _child_text(element: Element, name: str) -> str | None:
    child = element.find(f"{{{WSO2_SECURITY_NS}}}{name}")
    if child is None:
        child = element.find(name)  # a fault written without the namespace
    return None if child is None else "".join(child.itertext())


def _from_xml(body: bytes) -> WireFault | None:
    try:
        root = fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError, RecursionError):
        return None
    if root.tag not in (f"{{{WSO2_SECURITY_NS}}}fault", "fault"):
        return None
    return _fault(_child_text(root, "code"), _child_text(root, "message"), _child_text(root, "description"))


def read_fault(body: bytes) -> WireFault | None:
    """Read a WSO2 fault from an error body (JSON or XML), or ``None`` when the body is not one.

    Args:
        body: the answer's body, as read within the size limit.

    Returns:
        The fault as received; ``None`` for LAPOR's own ``{"message": ...}``, an HTML page, an
        empty body, a fault without a code, or XML refused as unsafe (a DTD, an entity).
    """
    start = body.lstrip()[:1]
    if start == b"{":
        return _from_json(body)
    if start == b"<":
        return _from_xml(body)
    return None
