"""The push on the in-memory fake platform: each outbox row delivered once, and what each error does to it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.errors import AmbiguousWriteError, ItemRejectedError, RunStoppingError, TransientError
from lapor_sync.domain.reference import find_reference
from lapor_sync.domain.status import CaseState, NationalStatus
from lapor_sync.storage.models import SyncRun
from lapor_sync.sync.push import Pusher
from tests.support.city import CitySide
from tests.support.fake_platform import FakePlatform

LATER = timedelta(hours=2)  # past any backoff of a first failed attempt
KEMENSOS = 9002  # Kementerian Sosial: another institution, outside the city


def new_case(city: CitySide, fake: FakePlatform) -> int:
    """A Dinas Sosial complaint on the platform, pulled into a case; returns its complaint id."""
    complaint_id = fake.add_complaint().complaint_id
    assert city.sync(push=False).created == 1
    return complaint_id


def push(city: CitySide) -> SyncRun:
    """Run the push half only."""
    return city.sync(pull=False)


def posts(fake: FakePlatform) -> int:
    """How many follow-up POSTs reached the platform."""
    return sum(method == "post_followup" for method, _ in fake.calls)


def test_a_followup_is_posted_once_with_its_reference_and_linked(city: CitySide, fake: FakePlatform) -> None:
    complaint_id = new_case(city, fake)
    item = city.act(complaint_id, AgencyAction.FOLLOWUP, "Petugas sudah meninjau lokasi.")

    run = push(city)

    assert (run.outcome, run.pushed) == ("ok", 1)
    [national] = fake.thread(complaint_id)
    assert find_reference(national.content) == item.idempotency_key
    assert fake.complaint(complaint_id).status_code == NationalStatus.IN_PROCESS
    assert city.outbox(item.id).state == "delivered"
    [entry] = city.thread(complaint_id)
    assert entry.national_id == national.national_id
    assert push(city).pushed == 0 and posts(fake) == 1


def test_a_transient_error_leaves_the_row_pending_with_one_attempt_and_a_backoff(
    city: CitySide, fake: FakePlatform
) -> None:
    complaint_id = new_case(city, fake)
    item = city.act(complaint_id, AgencyAction.FOLLOWUP)
    fake.fail_next("post_followup", TransientError("HTTP 503: Service Unavailable", status=503))

    run = push(city)

    assert (run.outcome, run.pushed, run.failed) == ("ok", 0, 1)
    row = city.outbox(item.id)
    assert (row.state, row.attempts, row.needs_readback) == ("pending", 1, False)
    assert "503" in (row.last_error or "") and row.next_attempt_at > city.clock.now()
    assert fake.thread(complaint_id) == []
    assert push(city).pushed == 0  # still waiting out its backoff
    city.clock.advance(LATER)
    assert push(city).pushed == 1 and len(fake.thread(complaint_id)) == 1


def test_an_ambiguous_write_that_was_applied_is_read_back_not_posted_again(city: CitySide, fake: FakePlatform) -> None:
    complaint_id = new_case(city, fake)
    item = city.act(complaint_id, AgencyAction.FOLLOWUP)
    fake.fail_next("post_followup", AmbiguousWriteError("transport failure (ReadTimeout)"), applied=True)

    assert push(city).failed == 1
    assert city.outbox(item.id).needs_readback
    city.clock.advance(LATER)
    run = push(city)

    assert (run.outcome, run.pushed) == ("ok", 1)
    assert posts(fake) == 1 and len(fake.thread(complaint_id)) == 1
    assert ("list_followups", complaint_id) in fake.calls
    [event] = city.events("outbox.delivered")
    assert "read-back" in event.message


def test_an_ambiguous_write_that_was_not_applied_is_posted_after_the_read_back_finds_nothing(
    city: CitySide, fake: FakePlatform
) -> None:
    complaint_id = new_case(city, fake)
    city.act(complaint_id, AgencyAction.FOLLOWUP)
    fake.fail_next("post_followup", AmbiguousWriteError("HTTP 504: Gateway Timeout", status=504))

    push(city)
    city.clock.advance(LATER)
    run = push(city)

    assert run.pushed == 1 and posts(fake) == 2 and len(fake.thread(complaint_id)) == 1
    assert fake.calls[-2:] == [("list_followups", complaint_id), ("post_followup", complaint_id)]  # read back first


def test_a_refusal_for_the_item_dead_letters_the_row_and_the_rest_go_on(city: CitySide, fake: FakePlatform) -> None:
    refused, other = new_case(city, fake), new_case(city, fake)
    dead = city.act(refused, AgencyAction.FOLLOWUP)
    delivered = city.act(other, AgencyAction.FOLLOWUP)
    fake.fail_next("post_followup", ItemRejectedError("The given data was invalid.", status=422), complaint_id=refused)

    run = push(city)

    assert (run.outcome, run.pushed, run.dead_lettered) == ("ok", 1, 1)
    row = city.outbox(dead.id)
    assert row.state == "dead" and "HTTP 422: The given data was invalid." in (row.last_error or "")
    assert city.outbox(delivered.id).state == "delivered"
    [event] = city.events("outbox.dead_letter")
    assert event.complaint_id == refused


def test_a_followup_on_a_complaint_closed_nationally_is_a_dead_letter_posted_never(
    city: CitySide, fake: FakePlatform
) -> None:
    complaint_id = new_case(city, fake)
    fake.complete(complaint_id)  # closed on the national side before the city pulled again
    item = city.act(complaint_id, AgencyAction.FOLLOWUP)

    run = push(city)

    assert (run.pushed, run.dead_lettered) == (0, 1)
    assert "422" in (city.outbox(item.id).last_error or "")
    assert fake.thread(complaint_id) == []


def test_a_run_stopping_error_stops_the_push_and_puts_the_row_back_to_be_read_back(
    city: CitySide, fake: FakePlatform
) -> None:
    first, second = new_case(city, fake), new_case(city, fake)
    stopped = city.act(first, AgencyAction.FOLLOWUP)
    waiting = city.act(second, AgencyAction.FOLLOWUP)
    fake.fail_next("post_followup", RunStoppingError("Unauthenticated.", status=401))

    run = push(city)

    assert run.outcome == "failed" and "401" in (run.error or "")
    row = city.outbox(stopped.id)
    assert (row.state, row.needs_readback) == ("pending", True)
    assert city.outbox(waiting.id).state == "pending" and posts(fake) == 1  # nothing sent after the stop
    assert push(city).pushed == 2 and len(fake.thread(first)) == 1


def test_rows_of_one_case_leave_in_order_behind_a_failed_one(city: CitySide, fake: FakePlatform) -> None:
    complaint_id = new_case(city, fake)
    first = city.act(complaint_id, AgencyAction.FOLLOWUP, "Petugas sudah meninjau lokasi.")
    second = city.act(complaint_id, AgencyAction.FOLLOWUP, "Bantuan dijadwalkan pekan depan.")
    fake.fail_next("post_followup", TransientError("HTTP 503: Service Unavailable", status=503))

    assert (push(city).failed, posts(fake)) == (1, 1)  # the second waits behind the first
    city.clock.advance(LATER)

    assert push(city).pushed == 2
    thread = fake.thread(complaint_id)
    assert [find_reference(e.content) for e in thread] == [first.idempotency_key, second.idempotency_key]


def test_a_completion_after_its_followup_closes_the_complaint(city: CitySide, fake: FakePlatform) -> None:
    complaint_id = new_case(city, fake)
    city.act(complaint_id, AgencyAction.FOLLOWUP)
    city.act(complaint_id, AgencyAction.COMPLETE, "Bantuan sudah disalurkan.")

    run = push(city)

    assert (run.pushed, run.dead_lettered) == (2, 0)
    assert fake.complaint(complaint_id).status_code == NationalStatus.COMPLETED


def test_a_completion_refused_because_lapor_closed_it_meanwhile_counts_as_delivered(
    city: CitySide, fake: FakePlatform
) -> None:
    complaint_id = new_case(city, fake)
    city.act(complaint_id, AgencyAction.FOLLOWUP)
    push(city)
    fake.complete(complaint_id)  # auto-close, CONTRACT §3
    item = city.act(complaint_id, AgencyAction.COMPLETE, "Selesai ditangani.")

    run = push(city)

    assert (run.pushed, run.dead_lettered) == (1, 0)
    assert city.outbox(item.id).state == "delivered"
    assert "already in effect" in city.events("outbox.delivered")[-1].message


def test_a_forward_is_a_request_until_the_admin_decides_then_the_pull_sees_the_case_forwarded(
    city: CitySide, fake: FakePlatform
) -> None:
    complaint_id = new_case(city, fake)
    city.act(complaint_id, AgencyAction.FORWARD, "Wewenang Kementerian Sosial.", target_institution_id=KEMENSOS)

    assert push(city).pushed == 1
    request = fake.pending_request(complaint_id)
    assert request is not None and (request.not_authority, request.target_institution_id) == (True, KEMENSOS)
    assert city.case(complaint_id).state == CaseState.NEW  # nothing changes before the admin decides
    fake.decide_requests()
    city.clock.advance(LATER)

    assert city.sync(push=False).outcome == "ok"
    assert city.case(complaint_id).state == CaseState.FORWARDED


def test_a_followup_whose_outcome_could_not_be_written_is_read_back_later_not_posted_again(
    city: CitySide, fake: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    complaint_id = new_case(city, fake)
    item = city.act(complaint_id, AgencyAction.FOLLOWUP, "Petugas sudah meninjau lokasi.")
    event = Pusher._event

    def outcome_fails_once(self: Pusher, *args: object) -> None:
        if "outbox.delivered" in args:
            monkeypatch.setattr(Pusher, "_event", event)
            raise OSError("disk full while writing the outcome")
        event(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Pusher, "_event", outcome_fails_once)
    with pytest.raises(OSError):
        push(city)  # LAPOR! took the follow-up; its outcome's transaction failed, and the error ends the run

    assert (city.outbox(item.id).state, posts(fake)) == ("sending", 1)  # nothing of the outcome was written
    city.clock.advance(LATER)  # past the claim's life: this process's leftover claim may be taken then
    run = push(city)

    assert (run.outcome, run.pushed, posts(fake)) == ("ok", 1, 1)
    assert city.outbox(item.id).state == "delivered"
    assert "found on LAPOR! by read-back" in city.events("outbox.delivered")[-1].message
    [national] = fake.thread(complaint_id)
    [own] = city.thread(complaint_id)
    assert own.national_id == national.national_id
