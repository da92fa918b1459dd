"""Reading answers of the platform: the envelope, error bodies, paginators and records (CONTRACT §2, §5).

A record that fails becomes a ``MalformedRecord`` (inbox walk) or raises ``MalformedRecordError``,
with a reason naming fields, never their values, and its raw payload made storable (reporter masked,
texts made valid). ``data_logs`` are not read: status history comes from ``status_logs`` and the
current disposition from ``disposition_id``. A follow-up that fails sets its whole complaint aside:
storing the rest of the thread would mark the complaint stored with an entry silently missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from lapor_sync.adapters.national.wire.models import (
    WireCategory,
    WireComplaintDetail,
    WireErrorBody,
    WireFollowup,
    WireInboxRow,
    WireInstitution,
    WireMasterInstitution,
    WirePage,
    WirePostedFollowup,
    WireReplyTemplate,
    whole_number,
)
from lapor_sync.domain.complaint import Complaint, InboxItem, MalformedRecord, StatusLogEntry, ThreadEntry
from lapor_sync.domain.errors import MalformedRecordError
from lapor_sync.domain.masters import MasterInstitution, MasterList, ReplyTemplate, UnreadableRow
from lapor_sync.domain.personal_data import mask_personal_data
from lapor_sync.domain.text import valid_payload, valid_text

_MAX_REASONS = 5  # enough to see what is wrong without flooding the dead-letter reason
_MAX_MESSAGE = 300


@dataclass(frozen=True, slots=True)
class Institution:
    """An institution on the national platform (``GET /institutions``); ``parent_id`` 0 or None at the top."""

    id: int
    name: str
    parent_id: int | None


@dataclass(frozen=True, slots=True)
class Category:
    """A LAPOR category (topic) (``GET /categories``); ``parent_id`` 0 at the top level."""

    id: int
    name: str
    parent_id: int


def describe(error: ValidationError, prefix: str = "") -> str:
    """Name the failing fields and why, never the values (they may be personal data)."""
    parts = []
    for item in error.errors(include_input=False, include_url=False)[:_MAX_REASONS]:
        where = ".".join(str(part) for part in item["loc"]) or "record"
        parts.append(f"{prefix}{where}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def _peek_complaint_id(raw: object) -> int | None:
    """Return the record's complaint id if it can be read at all, for the malformed-record report."""
    try:
        return whole_number(raw.get("complaint_id")) if isinstance(raw, dict) else None
    except ValueError:
        return None


def _set_aside_payload(raw: object) -> object:
    """Return ``raw`` as a set-aside record keeps it: the reporter masked, every text made valid.

    The raw payload is kept to inspect what was malformed; the reporter's identity is never needed
    for that, and an anonymous complaint must keep none (UU 27/2022). Texts lose NUL characters and
    lone surrogates like stored complaints do, or the record could not be stored either.
    """
    return valid_payload(_without_reporter(raw))


def _without_reporter(raw: object) -> object:
    if not isinstance(raw, dict):
        return raw
    cleaned = {key: _without_reporter(value) if key == "data" else value for key, value in raw.items()}
    user = cleaned.get("user")
    if isinstance(user, dict):
        cleaned["user"] = {key: "(removed)" for key in user}
    elif user not in (None, "", []):  # a malformed reporter (a string, a list) is still the reporter
        cleaned["user"] = "(removed)"
    return cleaned


def unwrap_envelope(body: bytes) -> object:
    """Return ``results`` of a ``{"results": ...}`` body (CONTRACT §2).

    Bytes that are not UTF-8 become U+FFFD: one mis-encoded character in a complaint must not make
    every read of it fail (it would be retried as a protocol error and stop every run).

    Raises:
        ValueError: for a body that is not JSON (HTML, empty) or whose ``results`` is missing or null.
    """
    try:
        payload = json.loads(body.decode("utf-8-sig", errors="replace"))
    except (ValueError, RecursionError):  # RecursionError: nesting too deep to be the protocol
        raise ValueError("the body is not JSON") from None
    if not isinstance(payload, dict) or payload.get("results") is None:
        raise ValueError("the body has no 'results'")
    return payload["results"]


def error_message(body: bytes, hide: Callable[[str], str] = str, *, fallback: str | None = None) -> str | None:
    """Return the server's ``message`` (and the names of fields in ``errors``), else ``fallback``, or ``None``.

    Phone numbers, e-mail addresses and NIK numbers in it are masked: the message may quote the
    complaint it refuses, and it travels on into set-aside reasons, outbox errors and the log.
    ``hide`` takes out what else must not travel (the credentials sent); it runs before the
    message is cut to 300 characters, so a secret crossing the cut cannot leave a prefix behind.
    ``fallback`` (the status line's reason phrase, for a body without a message) is the server's
    words too, and is treated the same.
    """
    try:
        parsed = WireErrorBody.model_validate(json.loads(body.decode("utf-8", errors="replace")))
    except (ValueError, RecursionError):  # ValidationError is a ValueError
        parsed = None
    if parsed is not None and parsed.message:
        message = parsed.message + (f" (fields: {', '.join(sorted(parsed.errors))})" if parsed.errors else "")
    elif fallback:
        message = fallback
    else:
        return None
    return server_text(message, hide)


def server_text(text: str, hide: Callable[[str], str] = str) -> str:
    """Make a text a server sent fit to travel: valid, ``hide`` applied, personal data masked, 300 characters at most.

    ``hide`` (the credentials sent) runs before the cut, so a secret crossing it leaves no prefix behind.
    """
    return mask_personal_data(hide(valid_text(text)))[:_MAX_MESSAGE]


def read_page(results: object) -> WirePage:
    """Read a paginator; a plain list is taken as one complete page.

    Raises:
        ValueError: when ``results`` is neither (a protocol error, not a malformed record).
    """
    if isinstance(results, list):
        return WirePage(current_page=1, last_page=1, next_page_url=None, data=results)
    try:
        return WirePage.model_validate(results)
    except ValidationError as exc:
        raise ValueError(f"not a paginator: {describe(exc)}") from None


def read_inbox_row(raw: object) -> InboxItem | MalformedRecord:
    """Read one inbox row; a row that fails is returned as a ``MalformedRecord`` with its reason."""
    try:
        row = WireInboxRow.model_validate(raw)
    except ValidationError as exc:
        return MalformedRecord(
            complaint_id=_peek_complaint_id(raw), reason=describe(exc, "inbox row "), raw=_set_aside_payload(raw)
        )
    return InboxItem(complaint_id=row.complaint_id, updated_at=row.updated_at, tracking_id=row.tracking_id)


def _validate(adapter: TypeAdapter[Any], raw: object, *, prefix: str = "", complaint_id: int | None = None) -> Any:
    """Validate ``raw``, turning a failure into ``MalformedRecordError`` with field names only."""
    try:
        return adapter.validate_python(raw)
    except ValidationError as exc:
        raise MalformedRecordError(
            describe(exc, prefix), complaint_id=complaint_id, raw=_set_aside_payload(raw)
        ) from None


_DETAIL = TypeAdapter(WireComplaintDetail)
_FOLLOWUPS = TypeAdapter(list[WireFollowup])
_POSTED_FOLLOWUP = TypeAdapter(WirePostedFollowup)
_INSTITUTIONS = TypeAdapter(list[WireInstitution])
_CATEGORIES = TypeAdapter(list[WireCategory])


def read_complaint_detail(results: object, complaint_id: int) -> tuple[Complaint, tuple[StatusLogEntry, ...]]:
    """Read the detail of ``complaint_id``: the complaint and its status log in time order.

    Raises:
        MalformedRecordError: when a field fails, or the detail is of another complaint.
    """
    detail: WireComplaintDetail = _validate(_DETAIL, results, complaint_id=complaint_id)
    if detail.data.complaint_id != complaint_id:
        raise MalformedRecordError(
            "data.complaint_id: not the complaint asked for",
            complaint_id=complaint_id,
            raw=_set_aside_payload(results),
        )
    status_log = sorted((entry.to_domain() for entry in detail.data.status_logs), key=lambda entry: entry.at)
    return detail.data.to_domain(), tuple(status_log)


def read_followups(rows: list[Any], complaint_id: int) -> list[ThreadEntry]:
    """Read a complaint's follow-up rows, sorted by ``created_at`` then id (CONTRACT §5).

    Raises:
        MalformedRecordError: when any row fails; the reason names ``followups.<index>.<field>``.
    """
    followups: list[WireFollowup] = _validate(_FOLLOWUPS, rows, prefix="followups.", complaint_id=complaint_id)
    return sorted(
        (followup.to_domain() for followup in followups), key=lambda entry: (entry.created_at, entry.national_id)
    )


def read_posted_followup(results: object, complaint_id: int) -> ThreadEntry:
    """Read the follow-up the server stored, from the answer to a follow-up POST.

    Raises:
        MalformedRecordError: when the answer cannot be read.
    """
    posted: WirePostedFollowup = _validate(_POSTED_FOLLOWUP, results, complaint_id=complaint_id)
    return posted.data.to_domain()


def read_institutions(rows: list[Any]) -> list[Institution]:
    """Read institution rows. Raises ``MalformedRecordError`` naming the failing fields."""
    parsed: list[WireInstitution] = _validate(_INSTITUTIONS, rows, prefix="institutions.")
    return [Institution(id=row.id, name=row.name, parent_id=row.parent_id) for row in parsed]


def read_categories(rows: list[Any]) -> list[Category]:
    """Read category rows. Raises ``MalformedRecordError`` naming the failing fields."""
    parsed: list[WireCategory] = _validate(_CATEGORIES, rows, prefix="categories.")
    return [Category(id=row.id, name=row.name, parent_id=row.parent_id) for row in parsed]


def read_master_institutions(rows: list[Any]) -> MasterList[MasterInstitution]:
    """Read the rows of ``GET /masters/institutions/external`` (CONTRACT §7 G8); a row that fails is set aside."""
    return _master_list(
        rows, "institutions", WireMasterInstitution, lambda row: MasterInstitution(row.id, row.name), _peek_id
    )


def read_reply_templates(rows: list[Any]) -> MasterList[ReplyTemplate]:
    """Read the rows of ``GET /masters/templates`` (CONTRACT §7 G8); a row that fails is set aside."""
    return _master_list(
        rows,
        "templates",
        WireReplyTemplate,
        lambda row: ReplyTemplate(code=row.template_code, name=row.name, content=row.content, national_id=row.id),
        _peek_code,
    )


def _master_list(
    rows: list[Any],
    what: str,
    model: type[Any],
    convert: Callable[[Any], Any],
    peek_key: Callable[[dict[str, Any]], str | None],
) -> MasterList[Any]:
    """Read each row of a master list on its own: one that fails is set aside with its reason and its key, if any.

    A key listed twice with different values is set aside too (which copy is right cannot be told);
    listed twice alike, it counts once. The reasons name fields and positions, never values.
    """
    read: dict[str, Any] = {}
    unreadable: dict[str, UnreadableRow] = {}
    keyless: list[UnreadableRow] = []
    for index, raw in enumerate(rows):
        try:
            row = convert(model.model_validate(raw))
        except ValidationError as exc:
            key = peek_key(raw) if isinstance(raw, dict) else None
            reason = UnreadableRow(key, describe(exc, f"{what}.{index}."))
            if key is None:
                keyless.append(reason)
            else:
                unreadable.setdefault(key, reason)
            continue
        if read.setdefault(row.key, row) != row:
            unreadable.setdefault(
                row.key, UnreadableRow(row.key, f"{what}.{index}: listed twice, with different values")
            )
    good = tuple(row for key, row in read.items() if key not in unreadable)
    return MasterList(good, (*unreadable.values(), *keyless))


def _peek_id(raw: dict[str, Any]) -> str | None:
    """The id of an institution row that failed, when it can be read."""
    try:
        return str(whole_number(raw.get("id")))
    except ValueError:
        return None


def _peek_code(raw: dict[str, Any]) -> str | None:
    """The code of a template row that failed, when it can be read."""
    code = raw.get("template_code")
    return code if isinstance(code, str) and code.strip() else None
