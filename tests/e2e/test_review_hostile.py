"""Review: hostile inputs against the engine over the simulator (lost answers, refusals, leaky wires)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import select

from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.status import NationalStatus
from lapor_sync.simulator.catalog import category_id
from lapor_sync.simulator.model import Reporter
from lapor_sync.storage.models import SetAsideRecord
from tests.support.e2e import DINSOS, Harness

SOSIAL = category_id("Sosial dan Kesejahteraan")
SITI = {"name": "Siti Rahasia", "email": "siti@contoh.id", "phone": "0812-9999-0000"}

pytestmark = pytest.mark.e2e


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
        from lapor_sync.storage.models import OutboxItem

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


def test_review_a_set_aside_anonymous_complaint_keeps_no_reporter_identity(h: Harness) -> None:
    anonymous = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL, is_anonymous=True)
    named = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL, reporter=Reporter(**SITI))

    def leaky_and_broken(complaint: dict[str, Any]) -> None:
        complaint["user"] = SITI  # the wire carries an identity ...
        complaint["is_secret"] = "maybe"  # ... on a record that cannot be read

    h.faults.rewrite = leaky_and_broken
    run = h.sync()

    assert run.set_aside == 2
    with h.app.db.session() as session:
        raws = [r.raw for r in session.exec(select(SetAsideRecord))]
    assert len(raws) == 2 and all("is_secret" in json.dumps(raw) for raw in raws)
    assert not any(value in raw for raw in raws for value in SITI.values())
    events = h.events("complaint.set_aside")
    assert {anonymous.complaint_id, named.complaint_id} == {e.complaint_id for e in events}
    assert all(e.message.endswith("data.is_secret: expected 0 or 1") for e in events)  # no pydantic jargon


def test_review_a_malformed_inbox_row_is_set_aside_and_the_rest_stored(h: Harness) -> None:
    good = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
    bad = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)

    def break_row(complaint: dict[str, Any]) -> None:
        if complaint["complaint_id"] == bad.complaint_id:
            complaint["updated_at"] = "2024-01-02T09:00:00"  # ISO, not the contract's format

    h.faults.rewrite = break_row
    run = h.sync()

    assert (run.outcome, run.created, run.set_aside) == ("ok", 1, 1)
    assert [c.complaint_id for c in h.cases()] == [good.complaint_id]
    (event,) = h.events("complaint.set_aside")
    assert event.complaint_id == bad.complaint_id and "updated_at" in event.message


def test_review_a_401_stops_the_run_at_once_and_keeps_the_cursor(h: Harness) -> None:
    h.new_case()
    mark = h.cursor()
    h.advance(timedelta(hours=1))
    h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
    refused = h.faults.fail("GET", r"/complaints/inbox$", status=401)

    run = h.sync()

    assert run.outcome == "failed" and "401" in (run.error or "") and refused.hits == 1
    assert h.cursor() == mark and len(h.cases()) == 1
    assert [e.level for e in h.events("run.failed")] == ["error"]


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


def test_review_an_unreadable_read_back_sets_the_row_back_and_the_push_goes_on(h: Harness) -> None:
    unreadable = h.new_case()
    h.advance(timedelta(minutes=1))
    other = h.new_case()
    h.act(unreadable, AgencyAction.FOLLOWUP, "Petugas sudah meninjau lokasi.")
    assert h.sync(pull=False).pushed == 1
    done = h.act(unreadable, AgencyAction.COMPLETE, "Selesai ditangani.")
    h.faults.fail("POST", rf"/complaints/process/{unreadable}/status$", status=None)  # applied, answer lost
    assert h.sync(pull=False).failed == 1
    h.faults.clear()
    h.advance(timedelta(hours=2))
    queued = h.act(other, AgencyAction.FOLLOWUP, "Kami koordinasikan dengan kelurahan.")

    def broken(complaint: dict[str, Any]) -> None:
        if complaint["complaint_id"] == unreadable:
            complaint["is_secret"] = "maybe"

    h.faults.rewrite = broken
    run = h.sync(pull=False)

    assert run.outcome == "ok", run.error
    assert h.outbox(queued.id).state == "delivered"  # one unreadable complaint blocks no other case
    row = h.outbox(done.id)
    assert row.state == "pending" and row.needs_readback and "is_secret" in (row.last_error or "")
