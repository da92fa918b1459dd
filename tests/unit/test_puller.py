"""The pull on the in-memory fake platform: what it stores, where the cursor goes, and what each error does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from lapor_sync.domain.errors import ItemRejectedError, MalformedRecordError, RunStoppingError, TransientError
from lapor_sync.domain.ports import CityRecords
from lapor_sync.domain.status import CaseState, NationalStatus
from lapor_sync.storage.models import SyncRun
from lapor_sync.sync.journal import RunJournal
from lapor_sync.sync.unit_of_work import UnitOfWork
from tests.support.city import CitySide
from tests.support.fake_platform import FakePlatform

KEMENSOS = 9002  # Kementerian Sosial: another institution, outside the city


def pull(city: CitySide) -> SyncRun:
    """Run the pull half only."""
    return city.sync(push=False)


def test_a_pull_stores_new_complaints_and_moves_the_cursor_to_the_newest(city: CitySide, fake: FakePlatform) -> None:
    first = fake.add_complaint()
    city.clock.advance(timedelta(minutes=3))
    second = fake.add_complaint()
    city.clock.advance(timedelta(minutes=10))  # both seconds surely over, clock skew included

    run = pull(city)

    assert (run.outcome, run.fetched, run.created) == ("ok", 2, 2)
    assert [c.complaint_id for c in city.cases()] == [first.complaint_id, second.complaint_id]
    assert {c.agency_code for c in city.cases()} == {"DINSOS"}
    assert city.cursor() == second.updated_at
    assert len(city.events("complaint.created")) == 2


def test_a_second_pull_of_what_did_not_change_stores_nothing_new(city: CitySide, fake: FakePlatform) -> None:
    fake.add_complaint()
    pull(city)
    city.clock.advance(timedelta(minutes=10))

    run = pull(city)

    assert (run.outcome, run.created, run.updated) == ("ok", 0, 0)
    assert len(city.cases()) == 1


def test_a_change_on_the_national_side_updates_the_case(city: CitySide, fake: FakePlatform) -> None:
    complaint = fake.add_complaint()
    pull(city)
    city.clock.advance(timedelta(minutes=10))
    fake.add_reporter_reply(complaint.complaint_id, "Terima kasih, bantuan sudah kami terima.")

    run = pull(city)

    assert (run.created, run.updated) == (0, 1)
    [entry] = city.thread(complaint.complaint_id)
    assert (entry.origin, entry.content) == ("national", "Terima kasih, bantuan sudah kami terima.")
    assert city.cursor() == fake.complaint(complaint.complaint_id).updated_at


def test_a_malformed_inbox_row_is_set_aside_and_the_run_goes_on(city: CitySide, fake: FakePlatform) -> None:
    fake.add_malformed_row("updated_at: expected DD-MM-YYYY HH:MM:SS", complaint_id=3_199_999, raw={"id": 3_199_999})
    good = fake.add_complaint()

    run = pull(city)

    assert (run.outcome, run.created, run.set_aside) == ("ok", 1, 1)
    assert [c.complaint_id for c in city.cases()] == [good.complaint_id]
    [record] = city.set_aside()
    assert (record.complaint_id, record.reason) == (3_199_999, "updated_at: expected DD-MM-YYYY HH:MM:SS")
    [event] = city.events("complaint.set_aside")
    assert "updated_at" in event.message


def test_a_complaint_whose_detail_cannot_be_read_is_set_aside_and_the_rest_stored(
    city: CitySide, fake: FakePlatform
) -> None:
    unreadable, readable = fake.add_complaint(), fake.add_complaint()
    reason = "data.is_secret: expected 0 or 1"
    fake.fail_next(
        "fetch_complaint",
        MalformedRecordError(reason, complaint_id=unreadable.complaint_id),
        complaint_id=unreadable.complaint_id,
    )

    run = pull(city)

    assert (run.outcome, run.created, run.set_aside) == ("ok", 1, 1)
    assert [c.complaint_id for c in city.cases()] == [readable.complaint_id]
    assert [(r.complaint_id, r.reason) for r in city.set_aside()] == [(unreadable.complaint_id, reason)]


def test_a_refused_detail_is_set_aside_with_the_platforms_reason(city: CitySide, fake: FakePlatform) -> None:
    refused = fake.add_complaint()
    fake.fail_next("fetch_complaint", ItemRejectedError("Complaint not found.", status=404))

    run = pull(city)

    assert (run.outcome, run.created, run.set_aside) == ("ok", 0, 1)
    [record] = city.set_aside()
    assert record.complaint_id == refused.complaint_id and "HTTP 404: Complaint not found." in record.reason


def test_a_set_aside_complaint_is_stored_once_the_platform_serves_it(city: CitySide, fake: FakePlatform) -> None:
    complaint = fake.add_complaint()
    fake.fail_next("fetch_complaint", MalformedRecordError("data.title: missing", complaint_id=complaint.complaint_id))
    assert pull(city).set_aside == 1
    city.clock.advance(timedelta(hours=2))  # past the recheck interval

    run = pull(city)

    assert run.created == 1
    [record] = city.set_aside()
    assert record.resolved_at is not None


def test_a_transient_error_fails_the_run_keeps_the_cursor_and_the_next_run_stores_it(
    city: CitySide, fake: FakePlatform
) -> None:
    fake.add_complaint()
    pull(city)
    mark = city.cursor()
    city.clock.advance(timedelta(minutes=10))
    later = fake.add_complaint()
    fake.fail_next("fetch_complaint", TransientError("HTTP 503: Service Unavailable", status=503))

    failed = pull(city)

    assert failed.outcome == "failed" and "503" in (failed.error or "")
    assert city.cursor() == mark and len(city.cases()) == 1
    again = pull(city)
    assert (again.outcome, again.created) == ("ok", 1) and city.cursor() == later.updated_at


def test_a_run_stopping_error_stops_the_run_before_anything_is_stored(city: CitySide, fake: FakePlatform) -> None:
    fake.add_complaint()
    fake.fail_next("walk_inbox", RunStoppingError("Unauthenticated.", status=401))

    run = pull(city)

    assert run.outcome == "failed" and "401" in (run.error or "")
    assert city.cases() == [] and city.cursor() is None
    assert [e.level for e in city.events("run.failed")] == ["error"]
    assert fake.calls == [("walk_inbox", None)]


def test_a_complaint_forwarded_away_leaves_the_inbox_and_the_recheck_marks_its_case_forwarded(
    city: CitySide, fake: FakePlatform
) -> None:
    complaint = fake.add_complaint()
    pull(city)
    fake.request_reject(
        complaint.complaint_id, not_authority=True, target_institution_id=KEMENSOS, reason="Wewenang Kemensos."
    )
    fake.decide_requests()
    city.clock.advance(timedelta(hours=2))  # past the recheck interval of open cases

    run = pull(city)

    assert run.outcome == "ok"
    case = city.case(complaint.complaint_id)
    assert case.state == CaseState.FORWARDED and case.national_status_code == NationalStatus.VERIFIED
    assert ("fetch_complaint", complaint.complaint_id) in fake.calls  # by detail: it is no longer in the inbox


def test_the_cursor_waits_at_the_oldest_row_whose_second_was_not_surely_over_when_read(
    city: CitySide, fake: FakePlatform
) -> None:
    early = fake.add_complaint()
    city.clock.advance(timedelta(minutes=3))
    fake.add_complaint()

    pull(city)  # both read within the overlap window of their stamps: clock skew may still hide a change

    assert city.cursor() == early.updated_at


def test_a_complaint_another_worker_stored_first_is_stored_again_as_an_update(
    city: CitySide, fake: FakePlatform
) -> None:
    pull(city)  # the agencies in place, an empty inbox
    complaint = fake.add_complaint()
    puller, other = city.service().puller, city.service(fake).puller  # a second worker on the same database
    records = puller.city_records

    def records_after_the_other_worker(session: Session) -> CityRecords:
        # Asked for between our binding lookup (none yet) and our insert: the other worker stores it first.
        puller.city_records = records
        journal = RunJournal(city.app.db, city.clock, city.institution_id, "resync", "manual").start()
        other.reread(journal, complaint.complaint_id, seen_in_inbox=True, known=False)
        return records(session)

    puller.city_records = records_after_the_other_worker
    run = pull(city)

    # The unique binding index refused our insert; the retry stored it again as an update of theirs.
    assert (run.outcome, run.fetched, run.created, run.updated, run.unchanged) == ("ok", 1, 0, 0, 1)
    assert puller.city_records is records  # the other worker did store it in between
    assert [case.complaint_id for case in city.cases()] == [complaint.complaint_id]
    assert len(city.table_rows()["binding"]) == 1
    assert len(city.events("complaint.created")) == 1  # told once, by the worker that stored it


def test_a_unit_of_work_refuses_a_counter_no_run_has_when_it_is_named(city: CitySide) -> None:
    journal = RunJournal(city.app.db, city.clock, city.institution_id, "pull", "command").start()
    with city.app.db.session() as session:
        unit = UnitOfWork(session, journal)
        with pytest.raises(ValueError, match="^'stored' is not a run counter"):
            unit.count("stored")
        unit.count("created")
        unit.commit()

    assert journal.counts.created == 1
