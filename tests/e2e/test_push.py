"""End to end, push: follow-ups come back linked, refusals end as delivered or as dead letters."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.status import NationalStatus
from lapor_sync.simulator.workdays import add_working_days, next_working_day_at
from tests.support.e2e import Harness

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
