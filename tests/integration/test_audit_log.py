"""The audit log on both databases: filters, keyset pages newest first, entries inside the caller's transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lapor_sync.accounts.audit import MAX_DETAIL, AuditLog
from lapor_sync.domain.clock import ManualClock
from lapor_sync.storage.database import Database


@pytest.fixture
def audit(database: Database, clock: ManualClock) -> AuditLog:
    return AuditLog(database, clock)


def _fill(audit: AuditLog, clock: ManualClock) -> None:
    """Six entries a minute apart: ani and budi, resyncs and reassigns of two complaints."""
    for n in range(6):
        audit.record(
            user="ani" if n % 2 == 0 else "budi",
            role="operator",
            action="case.resync" if n < 4 else "case.reassign",
            address="192.0.2.10",
            case_id=n % 2 + 1,
            tracking_id=f"LAP-00{n % 2 + 1}",
            detail=f"entry {n}",
        )
        clock.advance(timedelta(minutes=1))


def test_search_filters_and_pages_newest_first(audit: AuditLog, clock: ManualClock) -> None:
    start = clock.now()
    _fill(audit, clock)

    assert [e.detail for e in audit.search()] == [f"entry {n}" for n in range(5, -1, -1)]
    assert [e.detail for e in audit.search(user="ani")] == ["entry 4", "entry 2", "entry 0"]
    assert [e.detail for e in audit.search(action="case.reassign")] == ["entry 5", "entry 4"]
    assert [e.detail for e in audit.search(tracking_id="LAP-002", action="case.resync")] == ["entry 3", "entry 1"]
    window = audit.search(since=start + timedelta(minutes=1), until=start + timedelta(minutes=3))
    assert [e.detail for e in window] == ["entry 2", "entry 1"]

    first = audit.search(limit=4)
    second = audit.search(limit=4, before_id=first[-1].id)
    assert [e.detail for e in first + second] == [f"entry {n}" for n in range(5, -1, -1)]
    assert first[0].at == start + timedelta(minutes=5) and first[0].at.tzinfo is not None


def test_an_entry_in_the_callers_session_rolls_back_with_it(audit: AuditLog, database: Database) -> None:
    with database.session() as session:
        audit.record(user="ani", role="admin", action="case.resync", address=None, session=session)
        session.rollback()
    assert audit.search() == []

    with database.session() as session:
        audit.record(user="ani", role="admin", action="case.resync", address=None, session=session)
        session.commit()
    assert [e.action for e in audit.search()] == ["case.resync"]


def test_personal_data_in_a_detail_is_masked_and_a_long_one_cut(audit: AuditLog) -> None:
    audit.record(user="ani", role="admin", action="note", address=None, detail="hubungi budi@contoh.id 0812-0000-0001")
    audit.record(user="ani", role="admin", action="note", address=None, detail="x" * 2000)

    long, masked = audit.search()
    assert "budi@contoh.id" not in (masked.detail or "") and "0812-0000-0001" not in (masked.detail or "")
    assert len(long.detail or "") == MAX_DETAIL
