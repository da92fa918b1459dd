"""A set-aside record as data, for ``--json`` and the console's API (listed by :mod:`lapor_sync.queries.set_aside`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from lapor_sync.storage.models import SetAsideRecord

if TYPE_CHECKING:
    from lapor_sync.adapters.city.builtin import BuiltinCityRecords


def set_aside_row(record: SetAsideRecord, *, show_raw: bool = False) -> dict[str, Any]:
    """One set-aside record as data: why it was set aside, and when (aware UTC).

    Args:
        record: the record.
        show_raw: add ``raw``, the payload as received, parsed (the reporter's name, e-mail and
            phone were removed before it was kept; a purged case's record holds a marker string).

    Returns:
        ``id``, ``complaint_id``, ``reason``, ``first_seen_at``, ``last_seen_at``, ``resolved_at``,
        ``run_id`` and, with ``show_raw``, ``raw``.
    """
    return {
        "id": record.id,
        "complaint_id": record.complaint_id,
        "reason": record.reason,
        "first_seen_at": record.first_seen_at,
        "last_seen_at": record.last_seen_at,
        "resolved_at": record.resolved_at,
        "run_id": record.run_id,
        **({"raw": json.loads(record.raw)} if show_raw else {}),
    }


def set_aside_detail(records: BuiltinCityRecords, record_id: int) -> dict[str, Any] | None:
    """One record as :func:`set_aside_row` gives it, with ``case``: what its complaint has become since, if stored.

    Args:
        records: the city's records (their session and institution).
        record_id: the record.

    Returns:
        The record's data and ``case`` (``id``, ``tracking_id``, ``agency_code``, ``routing_rule``,
        ``category_id``, ``category_name``: no title, content or reporter), or ``None`` when this
        institution has no such record.
    """
    record = records.session.get(SetAsideRecord, record_id)
    if record is None or record.institution_id != records.institution_id:
        return None
    case = records.find_by_complaint(record.complaint_id) if record.complaint_id is not None else None
    stored = None
    if case is not None:
        stored = {
            "id": case.id,
            "tracking_id": case.tracking_id,
            "agency_code": case.agency_code,
            "routing_rule": case.routing_rule,
            "category_id": case.category_id,
            "category_name": case.category_name,
        }
    return set_aside_row(record) | {"case": stored}
