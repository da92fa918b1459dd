"""The push on the in-memory fake platform: each outbox row delivered once, and what each error does to it."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, update
from sqlmodel import col

from lapor_sync.adapters.national import LaporClient, RetryPolicy, StaticKeyAuth
from lapor_sync.adapters.national.quota import Quota
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.complaint import ThreadEntry
from lapor_sync.domain.errors import (
    AmbiguousWriteError,
    ItemRejectedError,
    Layer,
    QuotaExceededError,
    RunStoppingError,
    TransientError,
)
from lapor_sync.domain.reference import find_reference
from lapor_sync.domain.status import CaseState, NationalStatus
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import OutboxItem, SyncRun
from lapor_sync.sync.push_outcomes import Outcomes
from tests.support.city import CitySide
from tests.support.e2e import PlatformWrapper
from tests.support.fake_platform import FakePlatform
from tests.support.national import BASE
from tests.unit.test_quota import FakeTime

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


def one_at_a_time(city: CitySide) -> None:
    """Make the side's pusher deliver one row at a time (``push_concurrency = 1``)."""
    pusher = city.service().pusher
    pusher.options = replace(pusher.options, concurrency=1)


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


THROTTLED = "fault 900800 Message throttled out; throttled: the quota is spent, nothing was applied"


@pytest.mark.parametrize(
    ("error", "said", "read_back"),
    [
        (RunStoppingError("Unauthenticated.", status=401), "HTTP 401: Unauthenticated.", True),
        # Throttled again after the quota wait: a 429 was not applied (CONTRACT §7 G3), nothing to read back.
        (
            QuotaExceededError(THROTTLED, status=429, layer=Layer.GATEWAY, fault_code=900800),
            f"SPLP gateway refused: HTTP 429: {THROTTLED}",
            False,
        ),
    ],
    ids=["401", "throttled-again"],
)
def test_an_error_that_stops_the_run_stops_the_push_and_puts_the_row_back_untried(
    city: CitySide, fake: FakePlatform, error: Exception, said: str, read_back: bool
) -> None:
    first, second = new_case(city, fake), new_case(city, fake)
    stopped = city.act(first, AgencyAction.FOLLOWUP)
    waiting = city.act(second, AgencyAction.FOLLOWUP)
    fake.fail_next("post_followup", error)
    one_at_a_time(city)  # else the second is in flight beside the first: it may end, but nothing starts after

    run = push(city)

    assert run.outcome == "failed" and run.error == said
    row = city.outbox(stopped.id)
    assert (row.state, row.attempts, row.needs_readback) == ("pending", 0, read_back)
    assert city.outbox(waiting.id).state == "pending" and posts(fake) == 1  # nothing sent after the stop
    assert push(city).pushed == 2 and len(fake.thread(first)) == 1


def test_a_refusal_naming_its_layer_is_kept_as_said_in_the_dead_letter(city: CitySide, fake: FakePlatform) -> None:
    item = city.act(new_case(city, fake), AgencyAction.FOLLOWUP)
    gone = "fault 909404 Resource gone"
    fake.fail_next("post_followup", ItemRejectedError(gone, status=404, layer=Layer.GATEWAY, fault_code=909404))

    push(city)

    assert city.outbox(item.id).last_error == f"SPLP gateway refused: HTTP 404: {gone}"


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
    event = Outcomes._event

    def outcome_fails_once(self: Outcomes, *args: object) -> None:
        if "outbox.delivered" in args:
            monkeypatch.setattr(Outcomes, "_event", event)
            raise OSError("disk full while writing the outcome")
        event(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Outcomes, "_event", outcome_fails_once)
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


class MeetsInFlight(PlatformWrapper):
    """Holds each follow-up POST until ``meet`` of them are in flight at once (or ``BOUND`` seconds pass).

    Notes the order of the POSTs per complaint, and any complaint with two of its own in flight together.
    """

    def __init__(self, inner: FakePlatform, meet: int) -> None:
        super().__init__(inner)
        self.meeting = threading.Barrier(meet, timeout=BOUND)
        self.lock = threading.Lock()
        self.in_flight: Counter[int] = Counter()
        self.overlapped: list[int] = []
        self.posted: dict[int, list[str | None]] = {}

    def post_followup(self, complaint_id: int, **kwargs: Any) -> ThreadEntry:
        """Wait for the others at the meeting point (once it is broken, go on alone), then post."""
        with self.lock:
            self.in_flight[complaint_id] += 1
            if self.in_flight[complaint_id] > 1:
                self.overlapped.append(complaint_id)
            self.posted.setdefault(complaint_id, []).append(find_reference(kwargs["content"]))
        try:
            if not self.meeting.broken:
                self.meeting.wait()
        except threading.BrokenBarrierError:
            pass  # the last rows are fewer than ``meet``: the meeting is over
        finally:
            with self.lock:
                self.in_flight[complaint_id] -= 1
        return self.inner.post_followup(complaint_id, **kwargs)


BOUND = 10  # seconds: the longest a POST waits for the others


def test_followups_of_different_complaints_are_posted_at_once(city: CitySide, fake: FakePlatform) -> None:
    complaints = [fake.add_complaint().complaint_id for _ in range(4)]
    assert city.sync(push=False).created == 4
    items = [city.act(complaint_id, AgencyAction.FOLLOWUP) for complaint_id in complaints]
    platform = MeetsInFlight(fake, meet=4)  # four POSTs one after another would never meet: a broken barrier

    run = city.sync(pull=False, platform=platform)  # type: ignore[arg-type]

    assert (run.outcome, run.pushed, run.failed) == ("ok", 4, 0)
    assert platform.meeting.n_waiting == 0 and not platform.meeting.broken  # all four met, none timed out
    assert all(city.outbox(item.id).state == "delivered" for item in items)


def test_under_concurrency_each_complaints_followups_leave_one_at_a_time_in_order(
    city: CitySide, fake: FakePlatform
) -> None:
    complaints = [fake.add_complaint().complaint_id for _ in range(3)]
    assert city.sync(push=False).created == 3
    written: dict[int, list[str]] = {complaint_id: [] for complaint_id in complaints}
    for n in range(4):
        for complaint_id in complaints:
            item = city.act(complaint_id, AgencyAction.FOLLOWUP, f"Tindak lanjut nomor {n + 1}.")
            written[complaint_id].append(item.idempotency_key)
    platform = MeetsInFlight(fake, meet=3)  # the first row of each complaint meets the others in flight

    run = city.sync(pull=False, platform=platform)  # type: ignore[arg-type]

    assert (run.outcome, run.pushed) == ("ok", 12)
    assert platform.overlapped == []  # never two rows of one complaint in flight together
    assert platform.posted == written
    assert {c: [find_reference(e.content) for e in fake.thread(c)] for c in complaints} == written


def test_a_push_makes_at_most_three_sql_statements_per_followup(city: CitySide, fake: FakePlatform) -> None:
    complaints = [fake.add_complaint().complaint_id for _ in range(30)]
    assert city.sync(push=False).created == 30
    for n in range(2):
        for complaint_id in complaints:
            city.act(complaint_id, AgencyAction.FOLLOWUP, f"Tindak lanjut nomor {n + 1}.")
    service = city.service()  # built before counting: the service's wiring is not the push's cost
    statements: list[str] = []
    takeovers: list[int] = []
    take = service.pusher.claims.take
    service.pusher.claims.take = lambda item, now: takeovers.append(item.id) or take(item, now)  # type: ignore[method-assign]

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(city.app.db.engine, "before_cursor_execute", count)
    try:
        run = service.run(pull=False)  # the run's own rows and its lease are counted too
    finally:
        event.remove(city.app.db.engine, "before_cursor_execute", count)

    assert (run.outcome, run.pushed, takeovers) == ("ok", 60, [])  # no row just claimed is taken over again
    assert len(statements) <= 3 * 60, f"{len(statements)} statements for 60 follow-ups"
    rechecks = [s for s in statements if s.lstrip().upper().startswith("UPDATE OUTBOX") and "claimed_until=" in s]
    assert len(rechecks) >= 60  # the protocol kept: at least one re-check per row, right before its request


class TakenOverWhilePosting(PlatformWrapper):
    """While the follow-up of complaint ``victim`` is posted, another pusher takes its row over (its fence raised)."""

    def __init__(self, inner: FakePlatform, db: Database, victim: int) -> None:
        super().__init__(inner)
        self.db, self.victim = db, victim

    def post_followup(self, complaint_id: int, **kwargs: Any) -> ThreadEntry:
        """Raise the victim row's fence under a claim of another host, then post."""
        if complaint_id == self.victim:
            with self.db.engine.begin() as conn:
                conn.execute(
                    update(OutboxItem)
                    .where(col(OutboxItem.complaint_id) == complaint_id)
                    .values(fence=OutboxItem.fence + 1, claimed_by="web02:4242 worker @8812345-0a1b2c3d")
                )
        return self.inner.post_followup(complaint_id, **kwargs)


def test_a_claim_lost_in_a_batch_of_outcomes_keeps_the_others_and_fails_the_run(
    city: CitySide, fake: FakePlatform
) -> None:
    complaints = [fake.add_complaint().complaint_id for _ in range(3)]
    assert city.sync(push=False).created == 3
    items = [city.act(complaint_id, AgencyAction.FOLLOWUP) for complaint_id in complaints]
    platform = TakenOverWhilePosting(fake, city.app.db, victim=complaints[1])

    run = city.sync(pull=False, platform=platform)  # type: ignore[arg-type]

    assert (run.outcome, run.pushed) == ("failed", 2)
    assert f"claim on outbox row #{items[1].id} lost" in (run.error or "")
    assert [city.outbox(item.id).state for item in items] == ["delivered", "sending", "delivered"]
    assert city.outbox(items[1].id).claimed_by == "web02:4242 worker @8812345-0a1b2c3d"  # the taker's, untouched
    assert len(city.events("outbox.delivered")) == 2


def test_a_row_taken_over_while_its_request_waits_on_the_quota_is_not_sent(city: CitySide, fake: FakePlatform) -> None:
    # The claim is re-checked right before the request leaves, after its wait for the quota, not
    # only before the call: a wait longer than the claim's life lets a pusher on another host take
    # the row over (its read-back finds nothing yet, so it posts), and ours must then send nothing.
    complaint_id = new_case(city, fake)
    item = city.act(complaint_id, AgencyAction.FOLLOWUP)
    sent: list[httpx.Request] = []

    def taken_over(_stop: threading.Event | None) -> None:
        with city.app.db.engine.begin() as conn:
            conn.execute(
                update(OutboxItem)
                .where(col(OutboxItem.id) == item.id)
                .values(fence=OutboxItem.fence + 1, claimed_by="web02:4242 worker @8812345-0a1b2c3d")
            )

    time = FakeTime(on_sleep=taken_over)
    limiter = Quota(1, monotonic=time.monotonic, sleep=time.sleep)
    limiter.take_turn()  # the minute's one request is spent: the follow-up waits for the next
    client = LaporClient(
        BASE,
        StaticKeyAuth("sim-api-key-0123456789", "{guid}"),
        transport=httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(500)),
        retry=RetryPolicy.no_wait(),
        quota=limiter,
        clock=city.clock,
    )

    with client:
        run = city.sync(pull=False, platform=client)

    assert time.sleeps == [pytest.approx(60)] and sent == []
    assert run.outcome == "failed" and f"claim on outbox row #{item.id} lost" in (run.error or "")
    assert city.outbox(item.id).claimed_by == "web02:4242 worker @8812345-0a1b2c3d"
