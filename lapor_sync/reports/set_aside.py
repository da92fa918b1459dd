"""A set-aside record as data, for ``--json`` and the console's API (listed by :mod:`lapor_sync.queries.set_aside`)."""

from __future__ import annotations

import json
from typing import Any

from lapor_sync.storage.models import SetAsideRecord


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
