"""Content fingerprints: tell a real change from a repeat of data already stored."""

from __future__ import annotations

import hashlib
import json

from lapor_sync.domain.complaint import ComplaintSnapshot


def snapshot_fingerprint(snapshot: ComplaintSnapshot) -> str:
    """Return a SHA-256 hex digest of everything lapor-sync stores from ``snapshot``.

    ``updated_at`` is left out on purpose: the platform may bump it without a change that matters
    to the city (CONTRACT §4), and such a bump must not count as an update.
    """
    c = snapshot.complaint
    material = {
        "complaint": [
            c.complaint_id,
            c.tracking_id,
            c.title,
            c.content,
            c.classification_name,
            c.category_id,
            c.category_name,
            c.status_code,
            c.status_name,
            c.disposition_id,
            c.disposition_name,
            c.is_anonymous,
            c.is_secret,
            c.is_priority,
            c.channel_name,
            c.location_name,
            c.date_of_incident.isoformat() if c.date_of_incident else None,
            None if c.reporter is None else [c.reporter.name, c.reporter.email, c.reporter.phone],
        ],
        "thread": sorted(
            [e.national_id, e.author_type.value, e.institution_id, e.content, e.rating, e.is_secret]
            for e in snapshot.thread
        ),
    }
    return hashlib.sha256(json.dumps(material, ensure_ascii=False).encode()).hexdigest()
