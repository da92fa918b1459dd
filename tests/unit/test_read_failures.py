"""A complaint whose reads keep failing is set aside after ``set_aside_after_failures`` runs and the pull goes on.

On the in-memory fake: which failures count against one complaint, the runs before the limit, the
reset on success, the recheck of a complaint set aside, and the failures of the platform as a whole,
which never set anything aside.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from lapor_sync.domain.complaint import Complaint
from lapor_sync.domain.errors import (
    AmbiguousWriteError,
    Layer,
    NationalPlatformError,
    RunStoppingError,
    TransientError,
)
from lapor_sync.storage.models import ReadFailure, SyncRun
from lapor_sync.sync.admin.resync import ResyncOutcome, run_resync
from lapor_sync.sync.admin.selection import Selection
from lapor_sync.sync.read_failures import ReadFailed, ReadFailures, about_one_complaint
from tests.support.city import CitySide
from tests.support.fake_platform import FakePlatform


def null_results() -> TransientError:
    """What the client raises once its retries gave up on a detail answering ``{"results": null}``."""
    return TransientError(
        "protocol error: the body has no 'results'", status=200
    )  # as classify.protocol_error makes it


def pull(city: CitySide) -> SyncRun:
    return city.sync(push=False)


def counts(city: CitySide) -> dict[int, int]:
    """The stored runs in a row of each complaint whose reads fail."""
    with city.app.db.session() as session:
        return {row.complaint_id: row.failures for row in session.exec(select(ReadFailure))}


def three_in_a_row(city: CitySide, fake: FakePlatform) -> tuple[Complaint, Complaint, Complaint]:
    """Before, poisoned, behind: three new complaints in inbox order, their seconds surely over."""
    before = fake.add_complaint()
    city.clock.advance(timedelta(minutes=1))
    poisoned = fake.add_complaint()
    city.clock.advance(timedelta(minutes=1))
    behind = fake.add_complaint()
    city.clock.advance(timedelta(minutes=10))
    return before, poisoned, behind


def test_a_complaint_whose_detail_keeps_failing_is_set_aside_at_the_third_run_and_the_rest_stored(
    city: CitySide, fake: FakePlatform
) -> None:
    before, poisoned, behind = three_in_a_row(city, fake)
    runs = []
    for _ in range(3):
        fake.fail_next("fetch_complaint", null_results(), complaint_id=poisoned.complaint_id)
        runs.append(pull(city))
        city.clock.advance(timedelta(minutes=5))

    first, second, third = runs
    # The runs before the limit fail as any failed read did: what came before is stored, the cursor stays.
    assert [run.outcome for run in (first, second)] == ["failed", "failed"]
    assert "results" in (first.error or "") and city.events("complaint.read_failed")[1].message == (
        f"Complaint {poisoned.complaint_id}: reading it failed 2 pull runs in a row "
        "(HTTP 200: protocol error: the body has no 'results'); set aside after 3 runs"
    )
    assert (first.created, second.created) == (1, 0)
    # The third sets it aside with its reason and stores the complaint behind it in the same run.
    assert (third.outcome, third.created, third.set_aside) == ("ok", 1, 1)
    assert [case.complaint_id for case in city.cases()] == [before.complaint_id, behind.complaint_id]
    [record] = city.set_aside()
    assert record.complaint_id == poisoned.complaint_id and record.resolved_at is None
    assert record.reason == (
        "reading it failed 3 pull runs in a row "
        "(HTTP 200: protocol error: the body has no 'results'); the pull goes on without it"
    )
    [event] = city.events("complaint.set_aside")
    assert event.run_id == third.id and "failed 3 pull runs in a row" in event.message
    assert city.cursor() == behind.updated_at  # passed the complaint only through its set-aside record
    assert counts(city) == {poisoned.complaint_id: 3}


def test_a_complaint_set_aside_for_failing_and_read_again_alone_in_the_next_walk_stays_aside(
    city: CitySide, fake: FakePlatform
) -> None:
    _, poisoned, behind = three_in_a_row(city, fake)
    for _ in range(3):
        fake.fail_next("fetch_complaint", null_results(), complaint_id=poisoned.complaint_id)
        last = pull(city)
    assert last.set_aside == 1 and city.cursor() == behind.updated_at
    fake.add_reporter_reply(poisoned.complaint_id, "Mohon ditindaklanjuti.")  # it moves: the next walk reads it
    city.clock.advance(timedelta(minutes=10))

    fake.fail_next("fetch_complaint", null_results(), complaint_id=poisoned.complaint_id)
    run = pull(city)

    # The only read of the run failed, so nothing is counted; but it was set aside already: it stays so.
    assert (run.outcome, run.fetched) == ("ok", 0)
    assert [call for call in fake.calls if call[0] == "fetch_complaint"][-1] == (
        "fetch_complaint",
        poisoned.complaint_id,
    )
    assert len(city.set_aside()) == 1 and counts(city) == {poisoned.complaint_id: 3}
    assert city.cursor() == fake.complaint(poisoned.complaint_id).updated_at


def test_a_read_that_succeeds_resets_the_count(city: CitySide, fake: FakePlatform) -> None:
    _, poisoned, _ = three_in_a_row(city, fake)
    for _ in range(2):
        fake.fail_next("fetch_complaint", null_results(), complaint_id=poisoned.complaint_id)
        assert pull(city).outcome == "failed"
    assert counts(city) == {poisoned.complaint_id: 2}

    assert (pull(city).outcome, counts(city)) == ("ok", {})

    city.clock.advance(timedelta(minutes=10))
    fake.add_reporter_reply(poisoned.complaint_id, "Mohon ditindaklanjuti.")
    fake.add_complaint()  # another complaint read in the same run: the failure is the complaint's
    city.clock.advance(timedelta(minutes=10))
    fake.fail_next("fetch_complaint", null_results(), complaint_id=poisoned.complaint_id)
    assert pull(city).outcome == "failed"
    assert counts(city) == {poisoned.complaint_id: 1} and city.set_aside() == []


def test_a_complaint_is_counted_once_per_run_and_from_one_again_after_a_success(city: CitySide) -> None:
    complaint_id, now = 3_100_001, city.clock.now()
    read = ReadFailed(complaint_id, null_results())
    with city.app.db.session() as session:
        runs = [SyncRun(institution_id=city.institution_id, job="pull", trigger="manual", started_at=now) for _ in "ab"]
        session.add_all(runs)
        session.flush()
        first, second = (run.id for run in runs)
        connection = session.connection()
        failures = ReadFailures.load(connection, city.institution_id, 3)

        assert failures.count(connection, [read], run_id=first, now=now) == {complaint_id: 1}
        assert failures.count(connection, [read], run_id=first, now=now) == {complaint_id: 1}  # the same run
        assert failures.count(connection, [read], run_id=second, now=now) == {complaint_id: 2}
        assert failures.sets_aside(complaint_id, 999) and not failures.aside(complaint_id)
        failures.succeeded(connection, [complaint_id])
        assert failures.count(connection, [read], run_id=second, now=now) == {complaint_id: 1}
        session.commit()
    assert counts(city) == {complaint_id: 1}


@pytest.mark.parametrize(
    "error",
    [
        TransientError("transport failure (ConnectError) talking to lapor.go.id"),
        TransientError("Too Many Requests", status=429, layer=Layer.GATEWAY, fault_code=900802),
        TransientError("Too Many Requests", status=429, layer=Layer.LAPOR),
        TransientError("maintenance", status=503, retry_after=120.0, layer=Layer.LAPOR),
        TransientError("gateway fault", status=502, layer=Layer.GATEWAY),
        TransientError("Request Timeout", status=408),
        RunStoppingError("authentication refused", status=401, layer=Layer.GATEWAY, fault_code=900901),
        RunStoppingError("forbidden", status=403, layer=Layer.LAPOR),
    ],
    ids=["connect", "quota-gateway", "429", "503-retry-after", "gateway-502", "408", "401-gateway", "403"],
)
def test_a_failure_of_the_platform_as_a_whole_never_sets_anything_aside(
    city: CitySide, fake: FakePlatform, error: NationalPlatformError
) -> None:
    _, poisoned, _ = three_in_a_row(city, fake)
    for _ in range(5):
        fake.fail_next("fetch_complaint", error, complaint_id=poisoned.complaint_id)
        run = pull(city)
        assert run.outcome == "failed" and run.set_aside == 0
    assert city.set_aside() == [] and counts(city) == {}
    assert city.events("complaint.read_failed") == []


def test_a_detail_failing_for_every_complaint_is_the_platforms_failure(city: CitySide, fake: FakePlatform) -> None:
    fake.add_complaint()
    fake.add_complaint()
    city.clock.advance(timedelta(minutes=10))
    for _ in range(4):
        fake.fail_next("fetch_complaint", null_results())
        fake.fail_next("fetch_complaint", null_results())
        run = pull(city)
        assert run.outcome == "failed" and run.fetched == 0
    assert city.set_aside() == [] and counts(city) == {} and city.cases() == []


def test_a_lone_failing_complaint_read_first_in_a_run_is_counted_when_the_next_read_succeeds(
    city: CitySide, fake: FakePlatform
) -> None:
    poisoned = fake.add_complaint()
    city.clock.advance(timedelta(minutes=1))
    fake.add_complaint()
    city.clock.advance(timedelta(minutes=10))
    fake.fail_next("fetch_complaint", null_results(), complaint_id=poisoned.complaint_id)

    run = pull(city)

    assert (run.outcome, run.fetched, run.created) == ("failed", 1, 0)  # nothing after it is stored
    assert counts(city) == {poisoned.complaint_id: 1}


def test_a_complaint_set_aside_for_failing_stays_aside_on_its_recheck_and_resync_brings_it_back(
    city: CitySide, fake: FakePlatform
) -> None:
    city.app.settings.set_aside_after_failures = 1
    _, poisoned, _ = three_in_a_row(city, fake)
    fake.fail_next("fetch_complaint", null_results(), complaint_id=poisoned.complaint_id)
    assert pull(city).set_aside == 1
    service = city.service()

    # The recheck of set-aside records reads it again; still failing, it stays aside (one record, paced).
    city.clock.advance(timedelta(hours=2))
    fake.fail_next("fetch_complaint", null_results(), complaint_id=poisoned.complaint_id)
    run = service.run(pull=True, push=False)
    assert run.outcome == "ok" and len(city.set_aside()) == 1
    assert counts(city) == {poisoned.complaint_id: 2}

    # The platform serves it again: resync --set-aside stores it, resolves the record, clears the count.
    result = run_resync(service, Selection(set_aside=True), requested_by="admin")
    [change] = result.changes
    assert (change.complaint_id, change.outcome) == (poisoned.complaint_id, ResyncOutcome.CREATED)
    assert city.set_aside()[0].resolved_at is not None and counts(city) == {}
    assert city.case(poisoned.complaint_id).complaint_id == poisoned.complaint_id


def test_the_rule_counts_only_answers_about_the_one_complaint() -> None:
    about: list[NationalPlatformError] = [
        null_results(),
        TransientError("protocol error: not JSON", status=200),
        TransientError("Server Error", status=500, layer=Layer.LAPOR),
        TransientError("Bad Gateway", status=502),
        TransientError("Gateway Timeout", status=504),
        TransientError("Service Unavailable", status=503),
    ]
    not_about: list[NationalPlatformError] = [
        TransientError("transport failure (ReadTimeout)"),
        AmbiguousWriteError("Server Error", status=500),
        TransientError("Too Many Requests", status=429),
        TransientError("Service Unavailable", status=503, retry_after=30.0),
        TransientError("Server Error", status=500, layer=Layer.GATEWAY),
        TransientError("throttled", status=503, fault_code=900800),
        RunStoppingError("Unauthenticated.", status=401),
    ]
    assert all(about_one_complaint(error) for error in about)
    assert not any(about_one_complaint(error) for error in not_about)


def test_a_lone_failing_complaint_last_on_its_page_is_counted_when_the_next_page_reads(
    city: CitySide, fake: FakePlatform
) -> None:
    city.app.settings.per_page = 2
    before, poisoned, behind = three_in_a_row(city, fake)  # pages: [before, poisoned], [behind]
    fake.fail_next("fetch_complaint", null_results(), complaint_id=poisoned.complaint_id)
    assert pull(city).outcome == "failed"  # before is stored; poisoned counted (before was read)
    runs = []
    for _ in range(2):
        city.clock.advance(timedelta(minutes=10))
        fake.fail_next("fetch_complaint", null_results(), complaint_id=poisoned.complaint_id)
        runs.append(pull(city))

    # Before is settled and not read again; behind, on the next page (its read started), shows LAPOR! answers.
    assert [run.outcome for run in runs] == ["failed", "ok"] and counts(city) == {poisoned.complaint_id: 3}
    assert [record.complaint_id for record in city.set_aside()] == [poisoned.complaint_id]
    assert [c.complaint_id for c in city.cases()] == [
        before.complaint_id,
        behind.complaint_id,
    ]


def test_a_detail_failing_for_every_complaint_costs_no_more_reads_across_a_page(
    city: CitySide, fake: FakePlatform
) -> None:
    city.app.settings.per_page, city.app.settings.fetch_concurrency = 2, 1
    fake.add_complaint()
    city.clock.advance(timedelta(minutes=10))
    assert pull(city).created == 1
    for _ in range(4):  # pages: [the one stored, new], [new, new], [new]
        fake.add_complaint()
        city.clock.advance(timedelta(minutes=1))
    city.clock.advance(timedelta(minutes=10))
    for _ in range(4):
        fake.fail_next("fetch_complaint", null_results())
    calls = len(fake.calls)

    run = pull(city)

    # The first page's failure looks to the next page for a read in full; its first read fails too: enough.
    assert run.outcome == "failed" and counts(city) == {}
    assert [call[0] for call in fake.calls[calls:]].count("fetch_complaint") == 2


def set_two_aside(city: CitySide, fake: FakePlatform) -> tuple[Complaint, Complaint]:
    """Two complaints set aside for failing (at the first run: ``set_aside_after_failures`` 1), in inbox order."""
    city.app.settings.set_aside_after_failures = 1
    fake.add_complaint()
    city.clock.advance(timedelta(minutes=1))
    first, second = fake.add_complaint(), fake.add_complaint()
    city.clock.advance(timedelta(minutes=10))
    for poisoned in (first, second):
        fake.fail_next("fetch_complaint", null_results(), complaint_id=poisoned.complaint_id)
    assert pull(city).set_aside == 2
    return first, second


def test_resync_of_the_set_aside_goes_on_past_a_complaint_still_failing(city: CitySide, fake: FakePlatform) -> None:
    still, recovered = set_two_aside(city, fake)

    fake.fail_next("fetch_complaint", null_results(), complaint_id=still.complaint_id)
    result = run_resync(city.service(), Selection(set_aside=True), requested_by="admin")

    outcomes = {change.complaint_id: change.outcome for change in result.changes}
    assert outcomes == {still.complaint_id: ResyncOutcome.SET_ASIDE, recovered.complaint_id: ResyncOutcome.CREATED}
    [record] = [record for record in city.set_aside() if record.resolved_at is None]
    assert record.complaint_id == still.complaint_id and record.reason.startswith(
        "reading it failed 1 pull run in a row ("
    )


def test_resync_of_the_set_aside_stops_when_two_fail_and_none_reads(city: CitySide, fake: FakePlatform) -> None:
    first, second = set_two_aside(city, fake)
    for poisoned in (first, second):
        fake.fail_next("fetch_complaint", null_results(), complaint_id=poisoned.complaint_id)

    result = run_resync(city.service(), Selection(set_aside=True), requested_by="admin")

    assert result.run.outcome == "failed" and "results" in (result.run.error or "")
    assert [(change.complaint_id, change.outcome) for change in result.changes] == [
        (first.complaint_id, ResyncOutcome.SET_ASIDE)
    ]
