"""The simulator's JSON shapes: WIB timestamps, complaints, logs, follow-ups and Laravel paginators.

CONTRACT §2 and §4: timestamps are ``"DD-MM-YYYY HH:MM:SS"`` in WIB without offset; dates alone
are ``"DD-MM-YYYY"``; ``data_logs[].data`` is a JSON *string*.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from lapor_sync.domain.status import NATIONAL_STATUS_NAMES
from lapor_sync.simulator.catalog import CHANNELS, CLASSIFICATIONS, category_name, institution_name
from lapor_sync.simulator.model import Attachment, Complaint, DataLog, FollowUp, StatusLog
from lapor_sync.simulator.workdays import WIB

WIRE_FORMAT = "%d-%m-%Y %H:%M:%S"
WIRE_DATE_FORMAT = "%d-%m-%Y"


@functools.lru_cache(maxsize=1 << 15)
def format_wib(instant: datetime) -> str:
    """Render an aware datetime as a WIB wire timestamp, e.g. ``"02-01-2024 09:58:39"``.

    Cached (equal instants, equal text): a complaint's instants are rendered again at every read
    of it, and converting to WIB and formatting was a tenth of a detail read's CPU.
    """
    return instant.astimezone(WIB).strftime(WIRE_FORMAT)


def parse_wib(text: str) -> datetime:
    """Read a WIB wire timestamp into an aware UTC datetime.

    Raises:
        ValueError: when ``text`` is not ``DD-MM-YYYY HH:MM:SS``.
    """
    return datetime.strptime(text.strip(), WIRE_FORMAT).replace(tzinfo=WIB).astimezone(UTC)


def parse_wire_date(text: str) -> date:
    """Read a ``DD-MM-YYYY`` date; raises ``ValueError`` on another shape."""
    return datetime.strptime(text.strip(), WIRE_DATE_FORMAT).replace(tzinfo=WIB).date()


def _status(code: int) -> dict[str, Any]:
    return {"status_code": code, "status_name": NATIONAL_STATUS_NAMES.get(code, str(code))}


def attachment_json(item: Attachment) -> dict[str, Any]:
    """Return an attachment's wire object ``{id, file_name, extension, path}``."""
    return {"id": item.id, "file_name": item.file_name, "extension": item.extension, "path": item.path}


def complaint_json(c: Complaint) -> dict[str, Any]:
    """Return the complaint's wire object (CONTRACT §4); ``user`` is null when anonymous."""
    reporter = None if c.is_anonymous or c.reporter is None else c.reporter
    return {
        "complaint_id": c.complaint_id,
        "tracking_id": c.tracking_id,
        "title": c.title,
        "content": c.content,
        "classification_id": c.classification_id,
        "classification_name": CLASSIFICATIONS.get(c.classification_id),
        "category_id": c.category_id,
        "category_name": category_name(c.category_id),
        **_status(c.status_code),
        "disposition_id": c.disposition_id,
        "disposition_name": institution_name(c.disposition_id),
        "is_anonymous": int(c.is_anonymous),
        "is_secret": int(c.is_secret),
        "is_priority": int(c.is_priority),
        "channel": c.channel,
        "channel_name": CHANNELS.get(c.channel),
        "location_id": c.location_id,
        "location_name": c.location_name,
        "date_of_incident": c.date_of_incident.strftime(WIRE_DATE_FORMAT) if c.date_of_incident else None,
        "created_at": format_wib(c.created_at),
        "updated_at": format_wib(c.updated_at),
        "user": {"name": reporter.name, "email": reporter.email, "phone": reporter.phone} if reporter else None,
        "attachments": [attachment_json(a) for a in c.attachments],
    }


def status_log_json(entry: StatusLog) -> dict[str, Any]:
    """Return one ``status_logs[]`` entry: ``status_code, status_name, note, timestamp``."""
    return {**_status(entry.status_code), "note": entry.note, "timestamp": format_wib(entry.at)}


def data_log_json(entry: DataLog) -> dict[str, Any]:
    """Return one ``data_logs[]`` entry; ``data`` is a JSON string (CONTRACT §4)."""
    return {
        "id": entry.id,
        "template_code": entry.template_code,
        "content": entry.content,
        "institution_from_id": entry.institution_from_id,
        "institution_from_name": institution_name(entry.institution_from_id),
        "institution_to_id": entry.institution_to_id,
        "institution_to_name": institution_name(entry.institution_to_id),
        "data": _status_change_text(entry.status_old, entry.status_new),
        "created_at": format_wib(entry.created_at),
    }


@functools.cache
def _status_change_text(old: int | None, new: int | None) -> str:
    """A data log's ``data``: the JSON text naming its old and new status (a few dozen pairs exist)."""
    data = {
        "status_old": {"name": NATIONAL_STATUS_NAMES.get(old)} if old is not None else None,
        "status_new": {"name": NATIONAL_STATUS_NAMES.get(new)} if new is not None else None,
    }
    return json.dumps(data)


def followup_json(item: FollowUp) -> dict[str, Any]:
    """Return a follow-up's wire object (CONTRACT §4)."""
    return {
        "id": item.id,
        "complaint_id": item.complaint_id,
        "user_type": item.user_type,
        "institution_from_id": item.institution_from_id,
        "institution_from_name": institution_name(item.institution_from_id),
        "content": item.content,
        "rating": item.rating,
        "is_secret": int(item.is_secret),
        "attachments": [attachment_json(a) for a in item.attachments],
        "created_at": format_wib(item.created_at),
    }


def paginator(
    data: Sequence[dict[str, Any]], *, total: int, page: int, per_page: int, path: str, query: dict[str, str]
) -> dict[str, Any]:
    """Wrap one page of ``data`` in a Laravel paginator (CONTRACT §2).

    Args:
        data: the items of page ``page``.
        total: the number of items over all pages.
        page: the page number, 1-based.
        per_page: the page size.
        path: the absolute URL of the list, without query.
        query: the query parameters other than ``page`` that every page URL repeats.
    """
    last_page = max(1, -(-total // per_page))

    def url(number: int) -> str:
        return f"{path}?{urlencode({**query, 'page': number})}"

    first = (page - 1) * per_page + 1
    return {
        "current_page": page,
        "data": list(data),
        "first_page_url": url(1),
        "from": first if data else None,
        "last_page": last_page,
        "last_page_url": url(last_page),
        "next_page_url": url(page + 1) if page < last_page else None,
        "path": path,
        "per_page": per_page,
        "prev_page_url": url(page - 1) if page > 1 else None,
        "to": first + len(data) - 1 if data else None,
        "total": total,
    }
