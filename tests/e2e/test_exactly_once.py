"""End to end, on SQLite and PostgreSQL: a repeated sync changes nothing, and no follow-up is posted twice."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.timezones import WIB
from lapor_sync.simulator import Simulator
from lapor_sync.simulator.catalog import category_id
from lapor_sync.storage.database import Database
from tests.support.e2e import (
    DINSOS,
    KILLED,
    DiesAfterPosting,
    Harness,
    ProcessKilled,
    harness,
    run_push_that_dies,
    small_world,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

FRIDAY_EVENING = datetime(2024, 1, 5, 16, 30, tzinfo=WIB)  # end of the data set's first working week


def test_a_second_sync_over_the_same_data_changes_nothing(database: Database) -> None:
    simulator = Simulator.generate(clock=ManualClock(FRIDAY_EVENING), rate_limit=None, reply_rate=0.0)
    visible = [c for c in simulator.world.all_complaints() if c.dispositioned_at <= FRIDAY_EVENING]
    with harness(simulator, database.url) as h:
        first = h.sync()
        assert first.outcome == "ok" and first.created == len(visible) >= 30
        worked = [c.complaint_id for c in visible[:3]]
        for complaint_id in worked:
            h.act(complaint_id, AgencyAction.FOLLOWUP)
        assert h.sync().pushed == 3
        # The next scheduled run, late enough that its reads settle the posts' second (see Puller._settled).
        h.advance(timedelta(minutes=10))
        echo = h.sync()  # takes in the follow-ups as LAPOR! now shows them
        assert (echo.outcome, echo.created, echo.updated, echo.pushed) == ("ok", 0, 3, 0)
        before, cursor = h.table_rows(), h.cursor()
        assert len(before["thread_entry"]) == 3 and len(before["outbox"]) == 3

        h.advance(timedelta(minutes=10))  # within the open-case recheck interval
        again = h.sync()

        assert again.outcome == "ok"
        assert (again.fetched, again.created, again.updated, again.pushed, again.failed) == (0, 0, 0, 0, 0)
        assert h.table_rows() == before
        assert (
            h.cursor()
            == cursor
            == max(c.updated_at for c in h.world.all_complaints() if c.dispositioned_at <= FRIDAY_EVENING)
        )


def _case_with_queued_followup(h: Harness) -> tuple[int, int, str]:
    """Pull one new complaint, queue a follow-up on it; return (complaint id, outbox id, reference)."""
    complaint = h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
    assert h.sync().created == 1
    item = h.act(complaint.complaint_id, AgencyAction.FOLLOWUP, "Petugas Dinsos akan berkunjung.")
    return complaint.complaint_id, item.id, item.idempotency_key


def test_a_crash_after_the_national_write_posts_no_duplicate(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        complaint_id, item_id, reference = _case_with_queued_followup(h)

        with pytest.raises(ProcessKilled):
            h.sync(pull=False, platform=DiesAfterPosting(h.platform))

        assert len(h.national_followups(complaint_id, reference)) == 1
        left = h.outbox(item_id)
        assert left.state == "pending" and left.needs_readback and left.delivered_at is None
        assert h.thread(complaint_id)[0].national_id is None

        run = h.sync(pull=False)

        stored = h.national_followups(complaint_id, reference)
        assert len(stored) == 1
        assert run.outcome == "ok" and run.pushed == 1
        assert h.outbox(item_id).state == "delivered"
        assert [e.national_id for e in h.thread(complaint_id)] == [stored[0].id]
        assert "read-back" in h.events("outbox.delivered")[-1].message


def test_a_worker_killed_mid_post_leaves_the_row_sending_and_the_next_push_reads_back(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        complaint_id, item_id, reference = _case_with_queued_followup(h)

        assert run_push_that_dies(h.base_url, database.url, h.clock.now()) == KILLED

        assert h.outbox(item_id).state == "sending"  # nobody was left to put it back
        assert len(h.national_followups(complaint_id, reference)) == 1
        # The dead worker's push lease lapses unrenewed (SQLite; PostgreSQL frees it with the session).
        h.advance(timedelta(seconds=h.app.settings.lease_seconds))

        run = h.sync(pull=False)

        assert run.pushed == 1 and h.outbox(item_id).state == "delivered"
        assert len(h.national_followups(complaint_id, reference)) == 1


def test_an_ambiguous_failure_is_read_back_not_posted_again(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        complaint_id, item_id, reference = _case_with_queued_followup(h)
        lost = h.faults.fail("POST", r"/complaints/followup/add$", status=None)

        first = h.sync(pull=False)

        assert lost.hits == 1 and len(h.national_followups(complaint_id, reference)) == 1
        assert (first.outcome, first.pushed, first.failed) == ("ok", 0, 1)
        waiting = h.outbox(item_id)
        assert waiting.state == "pending" and waiting.needs_readback and waiting.attempts == 1
        h.faults.clear()
        h.advance(waiting.next_attempt_at - h.clock.now() + timedelta(seconds=1))

        second = h.sync(pull=False)

        assert second.pushed == 1 and h.outbox(item_id).state == "delivered"
        stored = h.national_followups(complaint_id, reference)
        assert len(stored) == 1
        assert h.thread(complaint_id)[0].national_id == stored[0].id
