"""Outbox claims on SQLite and PostgreSQL: of two pushers that read one row, exactly one sends it; a claim is
taken over at once from a process that has ended, and from another host only once it expired."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, update
from sqlmodel import col

from lapor_sync.domain.actions import AgencyAction
from lapor_sync.simulator.catalog import category_id
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import OutboxItem
from lapor_sync.sync.journal import RunJournal
from tests.e2e_support import CITY, DINSOS, KILLED, client_for, harness, run_push_that_dies, small_world

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
BOUND = 30  # seconds: the longest a pusher waits for the other at the meeting point


def test_two_pushers_reading_one_row_at_once_post_it_once(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        complaint = h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
        assert h.sync(push=False).created == 1
        item = h.act(complaint.complaint_id, AgencyAction.FOLLOWUP, "Petugas akan datang besok.")
        # Both pushers have read the row as pending; they meet before their first write to it, then race.
        meeting = threading.Barrier(2, timeout=BOUND)
        met = threading.local()

        def meet_before_first_outbox_write(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.lstrip().upper().startswith("UPDATE OUTBOX") and not getattr(met, "done", False):
                met.done = True
                meeting.wait()

        errors: list[BaseException] = []
        # Pushers straight from the service, without the job lease: as after a lease was lost.
        platforms = [client_for(h.base_url, h.clock) for _ in range(2)]
        pushers = [h.app.sync_service(platform).pusher for platform in platforms]
        runs = [RunJournal(h.app.db, h.clock, CITY, "push", "command").start() for _ in pushers]

        def push(index: int) -> None:
            try:
                pushers[index].run(runs[index])
            except BaseException as exc:  # noqa: BLE001 - handed to the test
                errors.append(exc)

        event.listen(h.app.db.engine, "before_cursor_execute", meet_before_first_outbox_write)
        try:
            threads = [threading.Thread(target=push, args=(index,)) for index in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(2 * BOUND)
        finally:
            event.remove(h.app.db.engine, "before_cursor_execute", meet_before_first_outbox_write)
            for platform in platforms:
                platform.close()

        assert errors == []
        assert len(h.national_followups(complaint.complaint_id, item.idempotency_key)) == 1
        assert sorted(journal.counts.pushed for journal in runs) == [0, 1]
        row = h.outbox(item.id)
        assert (row.state, row.attempts) == ("delivered", 1)


def test_a_claim_of_another_host_is_left_alone_until_it_expires(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        complaint = h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
        assert h.sync(push=False).created == 1
        item = h.act(complaint.complaint_id, AgencyAction.FOLLOWUP, "Petugas akan datang besok.")
        # Beyond both clocks (the simulated one, and the server's on PostgreSQL), whichever the claim is read by.
        later = max(h.clock.now(), datetime.now(UTC)) + timedelta(days=1)
        _claim_as(h.app.db, item.id, "web02:4242 worker @8812345-0a1b2c3d", until=later)

        waiting = h.sync(pull=False)

        assert (waiting.outcome, waiting.pushed) == ("ok", 0) and h.outbox(item.id).state == "sending"
        assert h.national_followups(complaint.complaint_id, item.idempotency_key) == []
        earlier = min(h.clock.now(), datetime.now(UTC)) - timedelta(days=1)  # expired by both clocks
        _claim_as(h.app.db, item.id, "web02:4242 worker @8812345-0a1b2c3d", until=earlier)

        taken = h.sync(pull=False)

        assert taken.pushed == 1 and h.outbox(item.id).state == "delivered"
        assert len(h.national_followups(complaint.complaint_id, item.idempotency_key)) == 1


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_a_row_left_sending_by_a_killed_worker_is_taken_over_at_once(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        complaint = h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
        assert h.sync(push=False).created == 1
        item = h.act(complaint.complaint_id, AgencyAction.FOLLOWUP, "Petugas akan datang besok.")
        assert run_push_that_dies(h.base_url, database.url, h.clock.now()) == KILLED
        assert h.outbox(item.id).state == "sending"

        run = h.sync(pull=False)  # its claim has lease_seconds to run, but its process is gone

        assert run.pushed == 1 and h.outbox(item.id).state == "delivered"
        assert len(h.national_followups(complaint.complaint_id, item.idempotency_key)) == 1
        assert "read-back" in h.events("outbox.delivered")[-1].message


def _claim_as(db: Database, item_id: int, holder: str, *, until: datetime) -> None:
    with db.engine.begin() as conn:
        conn.execute(update(OutboxItem).where(col(OutboxItem.id) == item_id).values(
            state="sending", claimed_by=holder, claimed_until=until, fence=OutboxItem.fence + 1))
