"""The pull a page at a time: statements per stored complaint, reads that overlap, and what a failed read leaves."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, update
from sqlmodel import Session

from lapor_sync.domain.complaint import ComplaintSnapshot, InboxItem, MalformedRecord
from lapor_sync.domain.errors import TransientError
from lapor_sync.domain.ports import CityRecords, InboxWalkReport
from lapor_sync.storage.models import Cursor, SyncRun
from lapor_sync.sync.journal import RunJournal
from lapor_sync.sync.service import SyncService
from tests.support.city import CitySide
from tests.support.fake_platform import FakePlatform

BACKFILL = 300  # three pages of the inbox


def pull(city: CitySide) -> SyncRun:
    """Run the pull half only."""
    return city.sync(push=False)


@contextmanager
def counting_statements(city: CitySide) -> Iterator[list[str]]:
    """Collect every SQL statement sent to the city's database in the block (as benchmarks/bench_support.py counts)."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(city.app.db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(city.app.db.engine, "before_cursor_execute", count)


class OverlapPlatform(FakePlatform):
    """A fake whose detail read waits until ``together`` reads are under way at once (or breaks the barrier)."""

    def __init__(self, *args: Any, together: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.barrier = threading.Barrier(together, timeout=10)  # bounds the wait of a pull that does not overlap

    def fetch_complaint(self, complaint_id: int, *, unchanged_since: datetime | None = None) -> ComplaintSnapshot:
        """Wait for the other reads of the batch, then read."""
        self.barrier.wait()
        return super().fetch_complaint(complaint_id, unchanged_since=unchanged_since)


def test_a_backfill_stores_each_complaint_in_at_most_two_sql_statements(city: CitySide, fake: FakePlatform) -> None:
    pull(city)  # the agencies in place, an empty inbox
    complaints = [fake.add_complaint() for _ in range(BACKFILL)]
    for complaint in complaints[::3]:
        fake.add_reporter_reply(complaint.complaint_id, "Mohon segera ditindaklanjuti.")
    city.clock.advance(timedelta(minutes=10))

    with counting_statements(city) as statements:
        run = pull(city)

    assert (run.outcome, run.fetched, run.created) == ("ok", BACKFILL, BACKFILL)
    assert len(city.cases()) == BACKFILL and len(city.table_rows()["thread_entry"]) == BACKFILL // 3
    # Target of issue 12: at most 2 per stored complaint. The page's work is a handful of statements
    # for a hundred complaints, so even one statement more per complaint would break this bound.
    assert len(statements) <= BACKFILL / 5, f"{len(statements)} statements for {run.created} complaints"


def test_a_pull_of_nothing_new_writes_nothing_per_complaint(city: CitySide, fake: FakePlatform) -> None:
    for _ in range(BACKFILL):
        fake.add_complaint()
    city.clock.advance(timedelta(minutes=10))
    pull(city)
    # A cursor with no proven walk (as one written before migration 0006 is) makes the next pull walk
    # the overlap window again: its rows, read and settled, are all unchanged.
    with city.app.db.session() as session:
        session.exec(update(Cursor).values(walked_at=None))
        session.commit()
    city.clock.advance(timedelta(minutes=10))

    with counting_statements(city) as statements:
        run = pull(city)

    assert (run.outcome, run.fetched, run.unchanged) == ("ok", 0, BACKFILL)
    assert len(statements) < BACKFILL // 10, f"{len(statements)} statements for {BACKFILL} unchanged rows"


def test_reads_of_different_complaints_overlap(city: CitySide) -> None:
    platform = OverlapPlatform(city.clock, together=4)  # fetch_concurrency's default
    complaints = [platform.add_complaint() for _ in range(8)]
    city.clock.advance(timedelta(minutes=10))

    run = city.sync(push=False, platform=platform)

    assert (run.outcome, run.fetched, run.created) == ("ok", 8, 8), run.error
    assert [case.complaint_id for case in city.cases()] == [c.complaint_id for c in complaints]
    assert not platform.barrier.broken


def test_reads_one_after_another_in_the_pulls_thread_when_fetch_concurrency_is_1(
    city: CitySide, fake: FakePlatform
) -> None:
    for _ in range(5):
        fake.add_complaint()
    service = city.service()
    service.puller.options = replace(service.puller.options, fetch_concurrency=1)
    threads, read = set(), fake.fetch_complaint

    def noted(complaint_id: int, **hint: Any) -> ComplaintSnapshot:
        threads.add(threading.current_thread())
        return read(complaint_id, **hint)

    fake.fetch_complaint = noted  # type: ignore[method-assign]

    run = pull(city)

    assert (run.outcome, run.created) == ("ok", 5)
    assert threads == {threading.current_thread()}  # no pool: one read at a time, by construction


def test_a_failed_read_stores_the_rows_before_it_and_leaves_the_rest_and_the_cursor(
    city: CitySide, fake: FakePlatform
) -> None:
    complaints = [fake.add_complaint() for _ in range(6)]
    city.clock.advance(timedelta(minutes=10))
    failing = complaints[2].complaint_id
    fake.fail_next("fetch_complaint", TransientError("HTTP 503: Service Unavailable", status=503), complaint_id=failing)

    failed = pull(city)

    assert failed.outcome == "failed" and "503" in (failed.error or "")
    assert [case.complaint_id for case in city.cases()] == [c.complaint_id for c in complaints[:2]]
    assert failed.created == 2 and city.cursor() is None
    again = pull(city)
    assert (again.outcome, again.created, again.unchanged) == ("ok", 4, 2)
    assert city.cursor() == complaints[-1].updated_at


def test_a_stop_during_the_reads_starts_no_more_reads_and_keeps_what_was_read(
    city: CitySide, fake: FakePlatform
) -> None:
    complaints = [fake.add_complaint() for _ in range(20)]
    city.clock.advance(timedelta(minutes=10))
    service = city.service()
    read = fake.fetch_complaint

    def read_then_stop(complaint_id: int, **hint: Any) -> ComplaintSnapshot:
        service.stop.set()  # the worker's SIGTERM arrives during the first read
        return read(complaint_id, **hint)

    fake.fetch_complaint = read_then_stop  # type: ignore[method-assign]

    run = pull(city)

    reads = [call for call in fake.calls if call[0] == "fetch_complaint"]
    assert run.outcome == "interrupted"
    assert 1 <= len(reads) <= 4  # those under way when the stop came; none started after it
    stored = [case.complaint_id for case in city.cases()]
    assert stored == [c.complaint_id for c in complaints[: len(stored)]] and run.created == len(stored)
    assert city.cursor() is None


def test_a_page_where_another_worker_stored_one_complaint_first_is_stored_again_row_by_row(
    city: CitySide, fake: FakePlatform
) -> None:
    pull(city)  # the agencies in place, an empty inbox
    first, taken, last = fake.add_complaint(), fake.add_complaint(), fake.add_complaint()
    puller, other = city.service().puller, city.service(fake).puller  # a second worker on the same database
    records = puller.city_records

    def records_after_the_other_worker(session: Session) -> CityRecords:
        # Asked for between our binding lookup (none yet) and our inserts: the other worker stores one first.
        puller.city_records = records
        journal = RunJournal(city.app.db, city.clock, city.institution_id, "resync", "manual").start()
        other.reread(journal, taken.complaint_id, seen_in_inbox=True, known=False)
        return records(session)

    puller.city_records = records_after_the_other_worker
    run = pull(city)

    assert (run.outcome, run.created, run.updated, run.unchanged) == ("ok", 2, 0, 1)
    assert [case.complaint_id for case in city.cases()] == [c.complaint_id for c in (first, taken, last)]
    assert len(city.table_rows()["binding"]) == 3
    assert len(city.events("complaint.created")) == 3  # each told once, by the worker that stored it


def small_pages(city: CitySide, platform: FakePlatform, size: int) -> SyncService:
    """The sync service on ``platform``, storing pages of ``size`` rows."""
    service = city.app.sync_service(platform)
    service.puller.options = replace(service.puller.options, page_size=size)
    return service


def test_the_next_page_is_read_while_a_page_is_stored(city: CitySide) -> None:
    platform = OverlapPlatform(city.clock, together=4)  # four reads at once, from two pages of two
    for _ in range(4):
        platform.add_complaint()
    city.clock.advance(timedelta(minutes=10))

    run = small_pages(city, platform, 2).run(pull=True, push=False)

    assert (run.outcome, run.created) == ("ok", 4), run.error
    assert not platform.barrier.broken


class MovingPlatform(FakePlatform):
    """A fake whose inbox walk shows complaint ``moved`` in its first page and, moved on, in its second."""

    moved = 0
    stored_before_second_read: bool | None = None

    def __init__(self, *args: Any, city: CitySide, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.city = city

    def walk_inbox(
        self, updated_since: datetime, report: InboxWalkReport | None = None
    ) -> Iterator[InboxItem | MalformedRecord]:
        """Yield the live inbox, then the moved complaint once more with a later stamp (page drift)."""
        rows = list(super().walk_inbox(updated_since, report))
        yield from rows
        if self.stored_before_second_read is None:  # the first walk only
            yield InboxItem(self.moved, self.complaint(self.moved).updated_at + timedelta(seconds=1))

    def fetch_complaint(self, complaint_id: int, *, unchanged_since: datetime | None = None) -> ComplaintSnapshot:
        """Note, on the second read of the moved complaint, whether its first read was stored already."""
        if complaint_id == self.moved and [c for c in self.calls if c == ("fetch_complaint", complaint_id)]:
            self.stored_before_second_read = any(c.complaint_id == complaint_id for c in self.city.cases())
        return super().fetch_complaint(complaint_id, unchanged_since=unchanged_since)


def test_a_complaint_read_again_in_the_next_page_is_read_once_its_first_read_is_stored(city: CitySide) -> None:
    platform = MovingPlatform(city.clock, city=city)
    platform.moved = platform.add_complaint().complaint_id
    platform.add_complaint()
    city.clock.advance(timedelta(minutes=10))

    run = small_pages(city, platform, 2).run(pull=True, push=False)

    assert run.outcome == "ok", run.error
    assert platform.stored_before_second_read is True  # never two reads of one complaint under way at once


class BreakingPlatform(FakePlatform):
    """A fake whose inbox walk fails after its first ``rows`` rows (a 503 on the next page)."""

    rows = 2

    def walk_inbox(
        self, updated_since: datetime, report: InboxWalkReport | None = None
    ) -> Iterator[InboxItem | MalformedRecord]:
        """Yield the first rows of the inbox, then fail."""
        yield from list(super().walk_inbox(updated_since, report))[: self.rows]
        raise TransientError("HTTP 503: Service Unavailable", status=503)


def test_a_walk_that_fails_on_its_next_page_keeps_the_page_read_ahead(city: CitySide) -> None:
    platform = BreakingPlatform(city.clock)
    complaints = [platform.add_complaint() for _ in range(3)]
    city.clock.advance(timedelta(minutes=10))

    run = small_pages(city, platform, 2).run(pull=True, push=False)

    assert run.outcome == "failed" and "503" in (run.error or "")
    assert [case.complaint_id for case in city.cases()] == [c.complaint_id for c in complaints[:2]]
    assert run.created == 2 and city.cursor() is None
