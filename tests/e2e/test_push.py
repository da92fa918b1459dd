"""End to end, push: follow-ups come back linked and are never posted twice (an answer lost, a read-back
that fails, a 429 with a long wait); refusals end as delivered or as dead letters."""

from __future__ import annotations

from datetime import time, timedelta

import httpx
import pytest

from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.status import NationalStatus
from lapor_sync.simulator.workdays import add_working_days, next_working_day_at
from lapor_sync.storage.models import OutboxItem
from tests.support.e2e import DINSOS, Harness

pytestmark = pytest.mark.e2e


def test_a_staff_followup_comes_back_linked_not_duplicated(h: Harness) -> None:
    complaint_id = h.new_case()
    item = h.act(complaint_id, AgencyAction.FOLLOWUP, "  Petugas sudah <b>meninjau</b> lokasi.\r\nTerima kasih.  ")
    assert h.sync().pushed == 1
    h.advance(timedelta(minutes=15))

    echo = h.sync()

    assert echo.updated == 1
    national = h.world.complaint(complaint_id)
    assert national.status_code == NationalStatus.IN_PROCESS and len(national.followups) == 1
    (entry,) = h.thread(complaint_id)
    assert (entry.origin, entry.reference) == ("agency", item.idempotency_key)
    assert entry.national_id == national.followups[0].id
    assert entry.content == "  Petugas sudah <b>meninjau</b> lokasi.\r\nTerima kasih.  "  # staff's words, kept
    case = h.case(complaint_id)
    assert (case.state, case.national_status_code) == ("in_progress", NationalStatus.IN_PROCESS)
    h.advance(timedelta(minutes=15))
    assert h.sync().updated == 0 and len(h.thread(complaint_id)) == 1


def test_a_followup_seen_by_a_pull_before_its_read_back_is_linked_once(h: Harness) -> None:
    complaint_id = h.new_case()
    item = h.act(complaint_id, AgencyAction.FOLLOWUP, "Kami koordinasikan dengan kelurahan.")
    h.faults.fail("POST", r"/complaints/followup/add$", status=None)
    assert h.sync(pull=False).failed == 1  # stored on LAPOR!, but the answer was lost
    h.faults.clear()
    h.advance(timedelta(seconds=5))  # before the row's retry is due

    pulled = h.sync(pull=True, push=False)

    assert pulled.updated == 1
    (national,) = h.world.complaint(complaint_id).followups
    assert [(e.origin, e.national_id) for e in h.thread(complaint_id)] == [("agency", national.id)]
    assert h.outbox(item.id).state == "pending"
    h.advance(timedelta(minutes=5))

    pushed = h.sync(pull=False)

    assert pushed.pushed == 1 and h.outbox(item.id).state == "delivered"
    assert len(h.world.complaint(complaint_id).followups) == 1 and len(h.thread(complaint_id)) == 1


def test_a_refused_completion_whose_goal_is_reached_counts_as_delivered(h: Harness) -> None:
    complaint_id = h.new_case()
    h.act(complaint_id, AgencyAction.FOLLOWUP, "Bantuan dijadwalkan pekan depan.")
    h.sync(pull=False)
    # Ten working days without a reply: LAPOR! closes the complaint by itself (CONTRACT §3).
    h.simulator.advance_to(add_working_days(h.clock.now(), 10) + timedelta(hours=1))
    assert h.world.complaint(complaint_id).status_code == NationalStatus.COMPLETED
    done = h.act(complaint_id, AgencyAction.COMPLETE, "Bantuan telah disalurkan.")

    run = h.sync(pull=False)

    assert (run.pushed, run.dead_lettered) == (1, 0)
    row = h.outbox(done.id)
    assert row.state == "delivered" and row.last_error is None
    assert "already in effect" in h.events("outbox.delivered")[-1].message
    assert h.sync().outcome == "ok" and h.case(complaint_id).state == "completed"


def test_a_refused_completion_whose_goal_is_not_reached_is_a_dead_letter(h: Harness) -> None:
    complaint_id = h.new_case()
    h.act(complaint_id, AgencyAction.FOLLOWUP, "Mohon lengkapi data pendukung.")
    h.act(complaint_id, AgencyAction.RETURN, "Data dukung kurang: lokasi dan foto belum ada.")
    assert h.sync(pull=False).pushed == 2
    h.simulator.advance_to(next_working_day_at(h.clock.now(), time(11)))  # the admin archives it at 10:00
    assert h.world.complaint(complaint_id).status_code == NationalStatus.ARCHIVED
    done = h.act(complaint_id, AgencyAction.COMPLETE, "Selesai ditangani.")  # before a pull told staff

    run = h.sync(pull=False)

    assert run.outcome == "ok" and (run.pushed, run.dead_lettered) == (0, 1)
    row = h.outbox(done.id)
    assert row.state == "dead" and "422" in (row.last_error or "") and "Diarsipkan" in (row.last_error or "")
    (dead,) = h.events("outbox.dead_letter")
    assert dead.level == "error" and dead.complaint_id == complaint_id and "Diarsipkan" in dead.message
    assert h.sync(pull=False).pushed == 0  # a dead letter is not tried again
    assert h.sync().outcome == "ok" and h.case(complaint_id).state == "archived"


def test_a_completion_that_dies_reopens_the_case_as_lapor_sees_it(h: Harness) -> None:
    complaint_id = h.new_case()
    h.act(complaint_id, AgencyAction.FOLLOWUP, "Sudah kami tinjau.")
    h.act(complaint_id, AgencyAction.COMPLETE, "Selesai ditangani.")
    assert h.case(complaint_id).state == "completed"
    h.faults.fail("POST", "/complaints/followup/add", 422)  # so LAPOR! refuses Selesai: no follow-up there

    run = h.sync(pull=False)

    assert run.dead_lettered == 2
    case = h.case(complaint_id)
    assert (case.state, case.closed_at) == ("new", None)
    (reopened,) = h.events("case.reopened")
    assert reopened.level == "warning" and "Terverifikasi" in reopened.message


def test_review_two_unlinked_followups_on_one_case_are_each_linked_not_stored_twice(h: Harness) -> None:
    complaint_id = h.new_case()
    first = h.act(complaint_id, AgencyAction.FOLLOWUP, "Petugas sudah meninjau lokasi.")
    second = h.act(complaint_id, AgencyAction.FOLLOWUP, "Bantuan dijadwalkan pekan depan.")
    h.faults.fail("POST", r"/complaints/followup/add$", status=None)  # stored, answer lost
    assert h.sync(pull=False).failed == 1  # the second waits behind the first
    h.faults.clear()
    h.advance(timedelta(seconds=5))

    assert h.sync(push=False).outcome == "ok"  # the pull sees the first follow-up on LAPOR!
    h.advance(timedelta(minutes=10))
    run = h.sync()

    assert run.outcome == "ok", run.error
    assert {h.outbox(first.id).state, h.outbox(second.id).state} == {"delivered"}
    national = h.world.complaint(complaint_id).followups
    assert len(national) == 2
    thread = h.thread(complaint_id)
    assert sorted((e.origin, e.national_id) for e in thread) == sorted(("agency", f.id) for f in national)


def test_review_a_failed_read_back_is_tried_again_before_any_repost(h: Harness) -> None:
    complaint_id = h.new_case()
    item = h.act(complaint_id, AgencyAction.FOLLOWUP, "Petugas Dinsos akan berkunjung.")
    h.platform.post_followup(complaint_id, institution_id=DINSOS, content=item.payload["content"], is_secret=False)
    h.app.db.engine.dispose()
    with h.app.db.session() as session:  # as a worker killed mid-post leaves it (kill -9)
        row = session.get(OutboxItem, item.id)
        assert row is not None
        row.state = "sending"
        session.add(row)
        session.commit()
    h.faults.fail("GET", rf"/complaints/{complaint_id}/followups$", status=503)
    assert h.sync(pull=False).failed == 1  # the read-back could not be made
    h.faults.clear()
    h.advance(timedelta(hours=2))

    assert h.sync(pull=False).pushed == 1

    assert len(h.world.complaint(complaint_id).followups) == 1


class RateLimited(httpx.BaseTransport):
    """Answers the first ``times`` follow-up POSTs with 429 and ``Retry-After``; forwards the rest."""

    def __init__(self, inner: httpx.BaseTransport, retry_after: str, times: int) -> None:
        self.inner, self.retry_after, self.left = inner, retry_after, times

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Refuse or forward ``request``."""
        if request.method == "POST" and self.left > 0:
            self.left -= 1
            return httpx.Response(
                429, headers={"Retry-After": self.retry_after}, json={"message": "Too Many Attempts."}, request=request
            )
        return self.inner.handle_request(request)


@pytest.mark.parametrize("retry_after", ["3600", "Wed, 01 Jan 2099 00:00:00 GMT"])
def test_review_a_429_with_a_long_retry_after_is_not_posted_until_then(h: Harness, retry_after: str) -> None:
    complaint_id = h.new_case()
    item = h.act(complaint_id, AgencyAction.FOLLOWUP, "Petugas sudah meninjau lokasi.")
    h.platform._http._transport = RateLimited(h.faults, retry_after, times=1)  # noqa: SLF001

    run = h.sync(pull=False)

    assert (run.outcome, run.pushed, run.failed) == ("ok", 0, 1)
    row = h.outbox(item.id)
    assert row.state == "pending" and not row.needs_readback and "429" in (row.last_error or "")
    assert row.next_attempt_at >= h.clock.now() + timedelta(hours=1)
    assert h.world.complaint(complaint_id).followups == []


def test_review_a_followup_on_a_closed_complaint_is_a_dead_letter_posted_once(h: Harness) -> None:
    complaint_id = h.new_case()
    h.world.add_followup(complaint_id, DINSOS, "Ditangani.")
    h.world.set_status(complaint_id, NationalStatus.COMPLETED, "Selesai.")
    item = h.act(complaint_id, AgencyAction.FOLLOWUP, "Tambahan informasi.")  # staff did not pull yet

    run = h.sync(pull=False)

    assert (run.pushed, run.dead_lettered) == (0, 1)
    row = h.outbox(item.id)
    assert row.state == "dead" and "422" in (row.last_error or "")
    assert len(h.world.complaint(complaint_id).followups) == 1
    assert h.sync().outcome == "ok" and h.case(complaint_id).state == "completed"
