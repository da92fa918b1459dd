"""End to end, request economy (issue 12): no request whose answer lapor-sync already has.

An idle cycle walks one inbox page even with a dense overlap window; a walk proven by itself is not
repeated; a recheck whose detail shows nothing new does not read the follow-ups; rechecks stay
within their budget per cycle and per WIB day, most urgent first, and a restart does not reset the
day. Requests are counted with an httpx event hook, SQL statements with a ``before_cursor_execute``
listener (as ``benchmarks/bench_support.py`` does). SQLite and PostgreSQL (the ``database`` fixture).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlmodel import select

from lapor_sync.domain.timezones import WIB
from lapor_sync.simulator.catalog import category_id
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import Binding
from tests.support.e2e import DINSOS, Harness, harness, small_world

SOSIAL = category_id("Sosial dan Kesejahteraan")
LEASE_WORDS = ("lease", "advisory", "pg_locks", "pg_backend_pid", "current_schema")

pytestmark = pytest.mark.e2e


class Tally:
    """The requests (method and path, ids as ``{id}``) and SQL statements of one stretch of work."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.statements = 0
        self.lease_statements = 0  # the job leases' own protocol (advisory locks, lease rows), not the sync's

    @property
    def by_endpoint(self) -> Counter[str]:
        """How many requests went to each endpoint."""
        return Counter(self.requests)


@contextmanager
def counted(h: Harness) -> Iterator[Tally]:
    """Count the harness's HTTP requests and SQL statements while the block runs."""
    tally = Tally()

    def on_request(request: httpx.Request) -> None:
        path = "/".join("{id}" if part.isdigit() else part for part in request.url.path.split("/"))
        tally.requests.append(f"{request.method} {path.split('/3.0.0', 1)[-1]}")

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        tally.statements += 1
        tally.lease_statements += any(word in statement for word in LEASE_WORDS)

    hooks = h.platform._http.event_hooks["request"]  # noqa: SLF001 (measurement hook, as the benchmarks do)
    hooks.append(on_request)
    event.listen(h.app.db.engine, "before_cursor_execute", on_statement)
    try:
        yield tally
    finally:
        hooks.remove(on_request)
        event.remove(h.app.db.engine, "before_cursor_execute", on_statement)


def _cases(h: Harness, count: int) -> list[int]:
    """Add ``count`` Dinas Sosial complaints a second apart; their ids."""
    start = h.clock.now()
    return [
        h.add_complaint(
            disposition_id=DINSOS, category_id=SOSIAL, dispositioned_at=start + timedelta(seconds=n)
        ).complaint_id
        for n in range(count)
    ]


def _checked_at(h: Harness, complaint_id: int) -> datetime:
    """When lapor-sync last read ``complaint_id`` (its binding's ``last_checked_at``)."""
    with h.app.db.session() as session:
        return session.exec(select(Binding.last_checked_at).where(Binding.complaint_id == complaint_id)).one()


@pytest.fixture
def paged(database: Database) -> Iterator[Harness]:
    """The harness on SQLite, then PostgreSQL, with 5 inbox rows per page."""
    with harness(small_world(), database.url, per_page=5) as running:
        yield running


def test_an_idle_cycle_after_a_dense_window_makes_one_request_and_few_statements(paged: Harness) -> None:
    ids = _cases(paged, 12)  # three inbox pages
    paged.advance(timedelta(minutes=30))
    with counted(paged) as backfill:
        assert paged.sync().created == 12
    # The walk proved itself (same total on every page, all rows read, none changing): no second walk.
    assert backfill.by_endpoint["GET /complaints/inbox"] == 3
    for complaint_id in ids:  # every row lands in the same second: a dense window before the cursor
        paged.world.add_followup(complaint_id, DINSOS, "Tim Dinsos sudah menjadwalkan kunjungan.")
    dense_second = paged.clock.now().replace(microsecond=0)
    paged.advance(timedelta(minutes=10))
    with counted(paged) as changes:
        assert paged.sync().updated == 12
    assert changes.by_endpoint["GET /complaints/inbox"] == 3
    assert paged.cursor() == dense_second
    paged.advance(timedelta(seconds=60))

    with counted(paged) as idle:
        run = paged.sync()

    assert (run.outcome, run.fetched, run.unchanged) == ("ok", 0, 0)
    assert idle.requests == ["GET /complaints/inbox"]  # from just after the settled mark: one empty page
    _assert_few_statements(paged, idle)
    assert paged.cursor() == dense_second


def test_a_walk_with_rows_changed_as_it_began_is_made_again(paged: Harness) -> None:
    ids = _cases(paged, 12)
    paged.advance(timedelta(minutes=30))
    paged.sync()
    paged.advance(timedelta(minutes=30))
    for complaint_id in ids[:6]:  # stamped now: a walk now cannot tell them from rows moving under it
        paged.world.touch(complaint_id)

    with counted(paged) as walked:
        assert paged.sync().outcome == "ok"

    assert walked.by_endpoint["GET /complaints/inbox"] == 4  # two pages, twice: the second saw nothing new


def test_a_recheck_whose_detail_shows_nothing_new_reads_no_follow_ups(database: Database) -> None:
    with harness(small_world(), database.url, open_case_recheck_seconds=3600) as h:
        _cases(h, 3)
        h.advance(timedelta(minutes=30))
        h.sync()
        h.advance(timedelta(hours=2))

        with counted(h) as recheck:
            run = h.sync()

    assert (run.outcome, run.fetched, run.unchanged) == ("ok", 3, 3)
    assert recheck.by_endpoint == Counter({"GET /complaints/inbox": 1, "GET /complaints/{id}/complaint": 3})


def test_a_recheck_of_a_complaint_changed_outside_the_inbox_reads_its_follow_ups(database: Database) -> None:
    with harness(small_world(), database.url, open_case_recheck_seconds=3600) as h:
        [complaint_id] = _cases(h, 1)
        h.advance(timedelta(minutes=30))
        h.sync()
        h.advance(timedelta(hours=2))
        h.world.add_followup(complaint_id, DINSOS, "Sudah kami tinjau.")
        h.advance(timedelta(minutes=10))

        with counted(h) as recheck:
            run = h.sync(push=False)

    assert run.updated == 1
    assert recheck.by_endpoint["GET /complaints/{id}/followups"] == 1


def test_rechecks_stay_within_the_cycle_and_the_day_budget_and_a_restart_keeps_the_day(database: Database) -> None:
    budget = {"open_case_recheck_seconds": 3600, "recheck_requests_per_cycle": 4, "recheck_requests_per_day": 6}
    with harness(small_world(), database.url, **budget) as h:
        _cases(h, 10)
        h.advance(timedelta(minutes=30))
        h.sync()
        h.advance(timedelta(hours=2))
        morning = h.clock.now().astimezone(WIB)

        with counted(h) as first:
            h.sync(push=False)
        [told] = h.events("pull.rechecked")
        h.advance(timedelta(minutes=1))
        with counted(h) as second:
            h.sync(push=False)

    assert first.by_endpoint["GET /complaints/{id}/complaint"] == 4  # the cycle's budget: 4 requests
    assert "Rechecked 4 of 10" in told.message and "6 still due" in told.message
    assert second.by_endpoint["GET /complaints/{id}/complaint"] == 2  # the day's 6, spent
    with harness(small_world(), database.url, **budget) as restarted:  # a new process, the same database
        restarted.clock.set(h.clock.now() + timedelta(minutes=1))
        with counted(restarted) as third:
            restarted.sync(push=False)
        assert third.by_endpoint["GET /complaints/{id}/complaint"] == 0
        next_day = (morning + timedelta(days=1)).replace(hour=8)
        restarted.clock.set(next_day)
        with counted(restarted) as tomorrow:
            restarted.sync(push=False)
    assert tomorrow.by_endpoint["GET /complaints/{id}/complaint"] == 4


def test_the_case_whose_deadline_falls_due_first_is_rechecked_first(database: Database) -> None:
    with harness(small_world(), database.url, open_case_recheck_seconds=3600, recheck_requests_per_cycle=1) as h:
        start = h.clock.now()
        # Added in id order, dispositioned in the reverse order: the last id owes its follow-up first.
        ids = [
            h.add_complaint(
                disposition_id=DINSOS, category_id=SOSIAL, dispositioned_at=start + timedelta(days=3 - n)
            ).complaint_id
            for n in range(3)
        ]
        h.advance(timedelta(days=3, minutes=30))
        h.sync()
        before = {case.complaint_id: _checked_at(h, case.complaint_id) for case in h.cases()}
        h.advance(timedelta(hours=2))

        h.sync(push=False)

        after = {case.complaint_id: _checked_at(h, case.complaint_id) for case in h.cases()}
    assert [i for i in ids if after[i] != before[i]] == [ids[2]]


def test_an_idle_cycle_costs_the_same_with_three_times_the_rows(paged: Harness) -> None:
    _cases(paged, 36)
    paged.advance(timedelta(minutes=30))
    paged.sync()
    paged.advance(timedelta(seconds=60))

    with counted(paged) as idle:
        run = paged.sync()

    assert run.outcome == "ok" and idle.requests == ["GET /complaints/inbox"]
    _assert_few_statements(paged, idle)


def _assert_few_statements(h: Harness, idle: Tally) -> None:
    """At most 20 statements on SQLite; the same sync work on PostgreSQL, whose leases take ten more."""
    assert idle.statements - idle.lease_statements <= 12
    if h.app.db.engine.dialect.name == "sqlite":
        assert idle.statements <= 20
