"""The run journal on SQLite and PostgreSQL: personal data is masked where events and run errors are written."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import col, select

from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.personal_data import EMAIL_MASK, NIK_MASK, PHONE_MASK
from lapor_sync.domain.runs import Level
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import SyncEvent, SyncRun
from lapor_sync.sync.journal import RunJournal, insert_events

# Fictitious personal data.
PHONE, EMAIL, NIK = "0812-3456-7890", "budi.santoso+lapor@mail.pemkot.palangkaraya.go.id", "6271031203900001"


def test_events_and_run_errors_are_masked_where_they_are_written(database: Database, clock: ManualClock) -> None:
    journal = RunJournal(database, clock, 6271, "pull", "command").start()
    journal.standalone_event(
        "complaint.set_aside", f"Complaint 1916449 set aside: reporter {PHONE}, {EMAIL}", complaint_id=1916449
    )
    journal.finish(error=f"HTTP 403: forbidden for NIK {NIK}")

    with database.session() as session:
        [event] = session.exec(select(SyncEvent)).all()
        [run] = session.exec(select(SyncRun)).all()
    assert event.message == f"Complaint 1916449 set aside: reporter {PHONE_MASK}, {EMAIL_MASK}"
    assert run.error == f"HTTP 403: forbidden for NIK {NIK_MASK}"


def test_event_rows_are_stored_and_logged_as_orm_events_are(
    database: Database, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    journal = RunJournal(database, clock, 6271, "pull", "command").start()
    said = f"Complaint #1916449 received: reporter {PHONE}"
    about: dict[str, object] = {"complaint_id": 1916449, "tracking_id": "1916449", "agency_code": "DPUPR"}
    with caplog.at_level(logging.INFO, logger="lapor_sync.sync"), database.session() as session:
        journal.event(session, "complaint.received", said, **about)  # type: ignore[arg-type]
        rows = [
            journal.event_row("complaint.received", said, **about),  # type: ignore[arg-type]
            journal.event_row("complaint.set_aside", f"Set aside, {EMAIL}", level=Level.WARNING),
        ]
        session.flush()
        insert_events(session.connection(), rows)
        session.commit()

    with database.session() as session:
        orm, core, bare = session.exec(select(SyncEvent).order_by(col(SyncEvent.id))).all()
    columns = ("run_id", "at", "kind", "level", "message", "complaint_id", "tracking_id", "agency_code")
    assert [getattr(core, name) for name in columns] == [getattr(orm, name) for name in columns]
    assert core.message == f"Complaint #1916449 received: reporter {PHONE_MASK}" and core.run_id == journal.run_id
    assert (bare.kind, bare.level, bare.message, bare.complaint_id) == (
        "complaint.set_aside",
        "warning",
        f"Set aside, {EMAIL_MASK}",
        None,
    )
    lines = [
        (r.levelno, r.getMessage()) for r in caplog.records if r.name == "lapor_sync.sync" and "Set" in r.getMessage()
    ]
    received = [r for r in caplog.records if r.name == "lapor_sync.sync" and "received" in r.getMessage()]
    assert lines == [(logging.WARNING, f"Set aside, {EMAIL_MASK}")]
    assert [(r.levelno, r.getMessage(), r.kind, r.tracking_id) for r in received] == 2 * [  # type: ignore[attr-defined]
        (logging.INFO, core.message, "complaint.received", "1916449")
    ]


def test_counts_are_kept_on_the_journal_and_reach_the_run_row_when_it_finishes(
    database: Database, clock: ManualClock
) -> None:
    journal = RunJournal(database, clock, 6271, "pull", "command").start()
    journal.counts.fetched += 3
    journal.counts.set_aside += 1
    with pytest.raises(AttributeError):
        journal.counts.fetchd = 1  # type: ignore[attr-defined]  # a misspelt counter is refused, not kept aside
    with database.session() as session:
        running = session.get(SyncRun, journal.run_id)
        assert running is not None and running.fetched == 0  # not visible before the run is saved

    finished = journal.finish()

    with database.session() as session:
        stored = session.get(SyncRun, journal.run_id)
        assert stored is not None
    expected = {"fetched": 3, "created": 0, "updated": 0, "unchanged": 0, "set_aside": 1}
    expected |= {"pushed": 0, "failed": 0, "dead_lettered": 0, "quota_waited_seconds": 0}
    assert finished.counters() == stored.counters() == journal.counts.counters() == expected
