"""What faults do to the wire: gateway answers, bodies that are no data, odd pages, malformed records.

Everything here works on a *copy* parsed from the answer's bytes, never on the world's objects.
Identity fields (``complaint_id``, a follow-up's ``id``) are never corrupted, so a set-aside record
can be read again; text faults leave the first 40 characters alone, where lapor-sync's reference
token sits (``lapor_sync.domain.reference``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from lapor_sync.simulator.faults.plan import FaultKind, FaultSettings
from lapor_sync.simulator.wire import format_wib, parse_wib

Answer = tuple[int, dict[str, str], bytes]
"""A whole HTTP answer: status, headers, body."""
JSON = "application/json"
HTML = "text/html; charset=UTF-8"
_GATEWAY_PAGE = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1>"
    "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_WSO2_FAULT = (
    '<am:fault xmlns:am="http://wso2.org/apimanager"><am:code>303001</am:code>'
    "<am:message>Runtime Error</am:message><am:description>Currently , Address endpoint : "
    "[ Name : lapor-v3 ] - Suspended</am:description></am:fault>"
)
_MAINTENANCE_PAGE = (
    '<!DOCTYPE html><html lang="id"><head><title>SP4N-LAPOR!</title></head>'
    "<body><h1>Situs sedang dalam pemeliharaan</h1><p>Silakan coba beberapa saat lagi.</p></body></html>"
)
_PAGE_URLS = ("first_page_url", "last_page_url", "next_page_url", "prev_page_url")
_KEEP_INTACT = 40  # characters at the start of a text that text faults never touch
_STAMP_LENGTH = len("DD-MM-YYYY HH:MM:SS")


def dumps(body: object) -> bytes:
    """Serialise ``body`` as UTF-8 JSON; a lone surrogate goes out as its JSON escape (backslash-u-d800)."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    # JSON strings are the only place a lone surrogate can be, and there \\uXXXX is its escape.
    return text.encode("utf-8", errors="backslashreplace")


def _retry_after(rng: random.Random, seconds: int, now: datetime) -> str:
    """Return ``Retry-After`` as delta-seconds or as an HTTP-date, chosen by ``rng`` (CONTRACT §2)."""
    if rng.random() < 0.5:
        return str(seconds)
    return format_datetime(now.replace(microsecond=0) + timedelta(seconds=seconds + 1), usegmt=True)


def pre_answer(kind: FaultKind, rng: random.Random, settings: FaultSettings, now: datetime) -> Answer:
    """Return the answer a gateway (or Laravel) gives instead of the endpoint's (CONTRACT §2).

    Args:
        kind: one of the HTTP answer kinds (500, 502, 503, 504, 429).
        rng: the request's generator (picks the ``Retry-After`` form).
        settings: ``retry_after_seconds`` is the wait asked for.
        now: the server's aware "now", for the HTTP-date form.
    """
    if kind is FaultKind.HTTP_500:
        return 500, {"content-type": JSON}, dumps({"message": "Server Error"})
    if kind in (FaultKind.HTTP_502, FaultKind.HTTP_504):
        code, reason = (502, "Bad Gateway") if kind is FaultKind.HTTP_502 else (504, "Gateway Time-out")
        return code, {"content-type": HTML}, _GATEWAY_PAGE.format(code=code, reason=reason).encode()
    wait = _retry_after(rng, settings.retry_after_seconds, now)
    if kind is FaultKind.HTTP_503:
        return 503, {"content-type": "application/xml", "retry-after": wait}, _WSO2_FAULT.encode()
    if kind is FaultKind.HTTP_429:
        return 429, {"content-type": JSON, "retry-after": wait}, dumps({"message": "Too Many Attempts."})
    raise ValueError(f"{kind} is not an HTTP answer")


def bad_body(kind: FaultKind) -> tuple[str, bytes]:
    """Return the content type and body of a 200 that carries no data (CONTRACT §2)."""
    if kind is FaultKind.HTML_200:
        return HTML, _MAINTENANCE_PAGE.encode()
    if kind is FaultKind.EMPTY_200:
        return JSON, b""
    if kind is FaultKind.NULL_RESULTS:
        return JSON, dumps({"results": None, "message": "Data tidak ditemukan."})
    raise ValueError(f"{kind} is not a bad 200 body")


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit(parts._replace(query=urlencode({**query, **changes})))


def page_fault(page: dict[str, Any], kind: FaultKind, rng: random.Random) -> bool:
    """Spoil one paginator copy in place; return False when ``kind`` cannot apply to it.

    ``duplicate_item`` needs an item, ``empty_page`` a next page; ``repeat_next_page`` always applies.
    """
    data = page.get("data")
    if not isinstance(data, list):
        return False
    if kind is FaultKind.DUPLICATE_ITEM:
        if not data:
            return False
        index = rng.randrange(len(data))
        data.insert(index + 1, json.loads(json.dumps(data[index])))
        return True
    if kind is FaultKind.EMPTY_PAGE:
        if not page.get("next_page_url"):
            return False
        data.clear()
        return True
    if kind is FaultKind.REPEAT_NEXT_PAGE:
        page["next_page_url"] = _with_query(page["first_page_url"], page=str(page["current_page"]))
        return True
    raise ValueError(f"{kind} is not a page fault")


def shift_timestamps(body: Any, minutes: int) -> Any:
    """Return ``body`` with every WIB wire timestamp, and ``updated_since`` in page URLs, moved ``minutes``."""
    if isinstance(body, dict):
        shifted = {key: shift_timestamps(value, minutes) for key, value in body.items()}
        for key in _PAGE_URLS:
            if isinstance(shifted.get(key), str) and "updated_since=" in shifted[key]:
                since = dict(parse_qsl(urlsplit(shifted[key]).query))["updated_since"]
                shifted[key] = _with_query(shifted[key], updated_since=shift_wire_time(since, minutes))
        return shifted
    if isinstance(body, list):
        return [shift_timestamps(item, minutes) for item in body]
    if isinstance(body, str) and len(body) == _STAMP_LENGTH:
        return shift_wire_time(body, minutes)
    return body


def shift_wire_time(text: str, minutes: int) -> str:
    """Move a ``DD-MM-YYYY HH:MM:SS`` text by ``minutes``; any other text comes back unchanged."""
    try:
        return format_wib(parse_wib(text) + timedelta(minutes=minutes))
    except ValueError:
        return text


# -- malformed records ------------------------------------------------------------------------------

_COMPLAINT_REQUIRED = ("updated_at", "created_at", "status_code", "disposition_id", "title", "content")
_FOLLOWUP_REQUIRED = ("created_at", "content", "user_type", "institution_from_id")
_WRONG_TYPES: dict[str, Callable[[Any], Any]] = {
    "status_code": lambda value: f"status {value}",
    "disposition_id": lambda value: {"id": value},
    "institution_from_id": lambda value: [value],
    "updated_at": lambda value: 1_717_000_000,
    "created_at": lambda value: 1_717_000_000,
    "rating": lambda value: "lima",
    "is_secret": lambda value: "ya",
    "attachments": lambda value: "tidak ada",
}
_EXTRA_TEXT: dict[FaultKind, str] = {
    FaultKind.NUL_BYTE: "\x00",
    FaultKind.LONE_SURROGATE: "\ud800",
    FaultKind.EMOJI: " 🙏🏽 terima kasih 👩‍👩‍👧 😡🔥",
    FaultKind.HTML_CONTENT: '<br><b>Lampiran:</b> <a href="javascript:alert(1)">lihat</a><script>x()</script>',
}


def _insert(text: str, extra: str, rng: random.Random) -> str:
    """Insert ``extra`` at a word boundary after the untouched head, or at the end."""
    spaces = [i for i, char in enumerate(text) if char == " " and i >= _KEEP_INTACT]
    at = rng.choice(spaces) if spaces else len(text)
    return text[:at] + extra + text[at:]


def malform_record(record: dict[str, Any], kind: FaultKind, rng: random.Random, settings: FaultSettings) -> bool:
    """Spoil one complaint or follow-up copy in place; return False when ``kind`` finds nothing to spoil.

    ``missing_field`` drops a required field; ``wrong_type`` gives one an impossible type;
    ``impossible_date`` sets a timestamp to the 31st of February of its year; the text kinds add a
    NUL byte, a lone surrogate, emoji or HTML to ``content``, or pad it to ``huge_content_chars``.
    """
    required = _COMPLAINT_REQUIRED if "complaint_id" in record and "tracking_id" in record else _FOLLOWUP_REQUIRED
    present = [name for name in required if name in record]
    if kind is FaultKind.MISSING_FIELD:
        if not present:
            return False
        del record[rng.choice(present)]
        return True
    if kind is FaultKind.WRONG_TYPE:
        candidates = sorted(name for name in _WRONG_TYPES if name in record)
        if not candidates:
            return False
        name = rng.choice(candidates)
        record[name] = _WRONG_TYPES[name](record[name])
        return True
    if kind is FaultKind.IMPOSSIBLE_DATE:
        stamps = [n for n in ("updated_at", "created_at") if len(str(record.get(n, ""))) == _STAMP_LENGTH]
        if not stamps:
            return False
        name = rng.choice(stamps)
        record[name] = "31-02-" + record[name][6:]  # keeps year and time: "31-02-2024 10:00:00"
        return True
    content = record.get("content")
    if not isinstance(content, str):
        return False
    if kind is FaultKind.HUGE_CONTENT:
        filler = " Mohon segera ditindaklanjuti." * (settings.huge_content_chars // 30 + 1)
        record["content"] = (content + filler)[: max(settings.huge_content_chars, len(content))]
    elif kind in _EXTRA_TEXT:
        record["content"] = _insert(content, _EXTRA_TEXT[kind], rng)
    else:
        raise ValueError(f"{kind} is not a record fault")
    return True
