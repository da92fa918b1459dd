"""Builders of domain objects for tests: one complaint snapshot with sensible defaults."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from lapor_sync.domain.complaint import AuthorType, Complaint, ComplaintSnapshot, Reporter, StatusLogEntry, ThreadEntry

T0 = datetime(2024, 7, 1, 2, 0, tzinfo=UTC)


def complaint(complaint_id: int = 3_100_001, **changes: object) -> Complaint:
    """A verified complaint dispositioned to Dinas Sosial, with a (fictitious) reporter."""
    base = Complaint(
        complaint_id=complaint_id,
        tracking_id=str(1_900_000 + complaint_id % 100_000),
        title="Bantuan sosial",
        content="Bantuan belum diterima warga Panarung.",
        classification_id=2,
        classification_name="pengaduan",
        category_id=40,
        category_name="Sosial dan Kesejahteraan",
        status_code=1,
        status_name="Terverifikasi",
        disposition_id=627104,
        disposition_name="Dinas Sosial",
        is_anonymous=False,
        is_secret=False,
        is_priority=False,
        channel=1,
        channel_name="web",
        location_id=1,
        location_name="Panarung, Pahandut",
        date_of_incident=None,
        created_at=T0,
        updated_at=T0,
        reporter=Reporter("Budi Contoh", "budi@contoh.id", "0812-0000-0001"),
    )
    return replace(base, **changes)


def followup(
    national_id: int, content: str, *, author: AuthorType = AuthorType.INSTITUTION, at: datetime = T0
) -> ThreadEntry:
    """A national thread entry."""
    return ThreadEntry(
        national_id=national_id,
        author_type=author,
        institution_id=627104,
        institution_name="Dinas Sosial",
        content=content,
        rating=0,
        is_secret=False,
        created_at=at,
    )


def snapshot(c: Complaint | None = None, thread: tuple[ThreadEntry, ...] = ()) -> ComplaintSnapshot:
    """A snapshot whose status log holds the disposition (Terverifikasi) at ``created_at``."""
    c = c or complaint()
    return ComplaintSnapshot(c, (StatusLogEntry(1, "Terverifikasi", None, c.created_at),), thread)
