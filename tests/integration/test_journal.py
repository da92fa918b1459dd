"""The run journal on SQLite and PostgreSQL: personal data is masked where events and run errors are written."""

from __future__ import annotations

from sqlmodel import select

from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.personal_data import EMAIL_MASK, NIK_MASK, PHONE_MASK
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import SyncEvent, SyncRun
from lapor_sync.sync.journal import RunJournal

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
