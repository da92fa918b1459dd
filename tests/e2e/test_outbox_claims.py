"""Outbox claims on SQLite and PostgreSQL: of two pushers that read one row, exactly one sends it; a claim is
taken over at once from a process that has ended, and from another host only once it expired."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text, update
from sqlmodel import col

from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.complaint import ThreadEntry
from lapor_sync.simulator.catalog import category_id
from lapor_sync.storage.database import Database, normalise_url
from lapor_sync.storage.models import OutboxItem
from lapor_sync.sync.admin import outbox as outbox_admin
from lapor_sync.sync.claims import ClaimLost, Claims
from lapor_sync.sync.journal import RunJournal
from tests.support.e2e import (
    CITY,
    DINSOS,
    KILLED,
    PlatformWrapper,
    client_for,
    harness,
    run_push_that_dies,
    small_world,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
BOUND = 30  # seconds: the longest a pusher waits for the other at the meeting point


def test_two_pushers_reading_one_row_at_once_post_it_once(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        complaint = h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
        assert h.sync(push=False).created == 1
        item = h.act(complaint.complaint_id, AgencyAction.FOLLOWUP, "Petugas akan datang besok.")
        # Both pushers have read the row as pending; they meet before their first write to it, then race.
        meeting = threading.Barrier(2, timeout=BOUND)
        met = threading.local()

        def meet_before_first_outbox_write(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.lstrip().upper().startswith("UPDATE OUTBOX") and not getattr(met, "done", False):
                met.done = True
                meeting.wait()

        errors: list[BaseException] = []
        # Pushers straight from the service, without the job lease: as after a lease was lost.
        platforms = [client_for(h.base_url, h.clock) for _ in range(2)]
        pushers = [h.app.sync_service(platform).pusher for platform in platforms]
        runs = [RunJournal(h.app.db, h.clock, CITY, "push", "command").start() for _ in pushers]

        def push(index: int) -> None:
            try:
                pushers[index].run(runs[index])
            except BaseException as exc:  # noqa: BLE001 - handed to the test
                errors.append(exc)

        event.listen(h.app.db.engine, "before_cursor_execute", meet_before_first_outbox_write)
        try:
            threads = [threading.Thread(target=push, args=(index,)) for index in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(2 * BOUND)
        finally:
            event.remove(h.app.db.engine, "before_cursor_execute", meet_before_first_outbox_write)
            for platform in platforms:
                platform.close()

        assert errors == []
        assert len(h.national_followups(complaint.complaint_id, item.idempotency_key)) == 1
        assert sorted(journal.counts.pushed for journal in runs) == [0, 1]
        row = h.outbox(item.id)
        assert (row.state, row.attempts) == ("delivered", 1)


def test_a_claim_of_another_host_is_left_alone_until_it_expires(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        complaint = h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
        assert h.sync(push=False).created == 1
        item = h.act(complaint.complaint_id, AgencyAction.FOLLOWUP, "Petugas akan datang besok.")
        # Beyond both clocks (the simulated one, and the server's on PostgreSQL), whichever the claim is read by.
        later = max(h.clock.now(), datetime.now(UTC)) + timedelta(days=1)
        _claim_as(h.app.db, item.id, "web02:4242 worker @8812345-0a1b2c3d", until=later)

        waiting = h.sync(pull=False)

        assert (waiting.outcome, waiting.pushed) == ("ok", 0) and h.outbox(item.id).state == "sending"
        assert h.national_followups(complaint.complaint_id, item.idempotency_key) == []
        earlier = min(h.clock.now(), datetime.now(UTC)) - timedelta(days=1)  # expired by both clocks
        _claim_as(h.app.db, item.id, "web02:4242 worker @8812345-0a1b2c3d", until=earlier)

        taken = h.sync(pull=False)

        assert taken.pushed == 1 and h.outbox(item.id).state == "delivered"
        assert len(h.national_followups(complaint.complaint_id, item.idempotency_key)) == 1


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_a_row_left_sending_by_a_killed_worker_is_taken_over_at_once(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        complaint = h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
        assert h.sync(push=False).created == 1
        item = h.act(complaint.complaint_id, AgencyAction.FOLLOWUP, "Petugas akan datang besok.")
        assert run_push_that_dies(h.base_url, database.url, h.clock.now()) == KILLED
        assert h.outbox(item.id).state == "sending"

        run = h.sync(pull=False)  # its claim has lease_seconds to run, but its process is gone

        assert run.pushed == 1 and h.outbox(item.id).state == "delivered"
        assert len(h.national_followups(complaint.complaint_id, item.idempotency_key)) == 1
        assert "read-back" in h.events("outbox.delivered")[-1].message


class CancelsWhilePosting(PlatformWrapper):
    """An admin cancels outbox row ``item_id`` while the push is in its first POST (it read that row as pending)."""

    def __init__(self, inner: Any, db: Database, now: datetime, item_id: int) -> None:
        super().__init__(inner)
        self.db, self.now, self.item_id = db, now, item_id
        self.cancelled: list[str] = []

    def post_followup(self, complaint_id: int, **kwargs: Any) -> ThreadEntry:
        """Cancel the row once, then post through ``inner``."""
        if not self.cancelled:
            row = outbox_admin.cancel(
                self.db, self.now, CITY, self.item_id, reason="posted by hand", requested_by="ops-admin"
            )
            self.cancelled.append(row.state)
        return self.inner.post_followup(complaint_id, **kwargs)


def test_a_row_cancelled_while_a_push_runs_is_never_sent(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        complaint = h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
        assert h.sync(push=False).created == 1
        # Two rows of one complaint: the second is not claimed while the first is in hand, so it can be cancelled.
        first, second = (h.act(complaint.complaint_id, AgencyAction.FOLLOWUP, text) for text in ("Satu.", "Dua."))
        platform = CancelsWhilePosting(h.platform, h.app.db, h.clock.now(), second.id)  # type: ignore[arg-type]

        run = h.sync(pull=False, platform=platform)  # no push lease in the way of the cancel

        assert platform.cancelled == ["cancelled"] and (run.outcome, run.pushed) == ("ok", 1)
        assert h.outbox(first.id).state == "delivered" and h.outbox(second.id).state == "cancelled"
        assert h.national_followups(second.complaint_id, second.idempotency_key) == []


class HeldUpPost(PlatformWrapper):
    """Holds up the first follow-up POST, before it reaches LAPOR!, until released."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.entered, self.release = threading.Event(), threading.Event()

    def post_followup(self, complaint_id: int, **kwargs: Any) -> ThreadEntry:
        """Hold up the first call, then post through ``inner``."""
        if not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(BOUND), "the test never released the held-up POST"
        return self.inner.post_followup(complaint_id, **kwargs)


def test_a_claim_this_process_works_under_is_never_taken_by_it_even_once_expired(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        complaint = h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
        assert h.sync(push=False).created == 1
        item = h.act(complaint.complaint_id, AgencyAction.FOLLOWUP, "Petugas akan datang besok.")
        held = HeldUpPost(h.platform)
        first = RunJournal(h.app.db, h.clock, CITY, "push", "command").start()
        # Pushers without the job lease, as after it was lost: one in a thread, held up in its POST.
        thread = threading.Thread(target=h.app.sync_service(held).pusher.run, args=(first,), daemon=True)  # type: ignore[arg-type]
        thread.start()
        assert held.entered.wait(BOUND)
        _expire_claim(h.app.db, item.id, h.clock.now())  # as if the first thread were paused past its claim

        second = RunJournal(h.app.db, h.clock, CITY, "push", "command").start()
        h.service().pusher.run(second)
        held.release.set()
        thread.join(BOUND)

        assert (first.counts.pushed, second.counts.pushed) == (1, 0)
        assert len(h.national_followups(complaint.complaint_id, item.idempotency_key)) == 1


def test_a_claim_left_by_this_process_is_taken_back_once_expired_and_read_back(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        complaint = h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
        assert h.sync(push=False).created == 1
        item = h.act(complaint.complaint_id, AgencyAction.FOLLOWUP, "Petugas akan datang besok.")
        service = h.app.sync_service(h.platform)

        def settle_fails(*_args: Any, **_values: Any) -> None:
            raise RuntimeError("the database went away")

        service.pusher.claims.settle_all = settle_fails  # type: ignore[method-assign]
        with pytest.raises(RuntimeError):  # posted, but its outcome could not be written
            service.run(pull=False)
        assert h.outbox(item.id).state == "sending"

        assert h.sync(pull=False).pushed == 0  # a leftover of this process: taken back only once expired
        _expire_claim(h.app.db, item.id, h.clock.now())
        taken = h.sync(pull=False)

        assert taken.pushed == 1 and h.outbox(item.id).state == "delivered"
        assert len(h.national_followups(complaint.complaint_id, item.idempotency_key)) == 1
        assert "read-back" in h.events("outbox.delivered")[-1].message


def test_every_recheck_extends_the_claim_from_its_own_now_until_the_row_is_taken_over(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        complaint = h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
        assert h.sync(push=False).created == 1
        item = h.act(complaint.complaint_id, AgencyAction.FOLLOWUP, "Petugas akan datang besok.")
        claims = Claims(h.app.db, "pusher-under-test", 600)
        claim = claims.take(h.outbox(item.id), h.clock.now())
        assert claim is not None
        try:
            with claims.rechecks() as recheck:
                for _ in range(2):  # the statement is built once: each recheck still binds its own claim and now
                    h.clock.advance(timedelta(hours=1))
                    recheck(claim, h.clock.now())
                    until = h.outbox(item.id).claimed_until
                    assert until is not None
                    if database.engine.dialect.name == "sqlite":
                        assert until == h.clock.now() + timedelta(seconds=600)
                    else:  # the server's clock: the simulated one does not move it
                        assert until > datetime.now(UTC) + timedelta(seconds=300)
                _claim_as(h.app.db, item.id, "another-pusher", until=h.clock.now() + timedelta(hours=1))

                with pytest.raises(ClaimLost):
                    recheck(claim, h.clock.now())
        finally:
            claims.done(claim)
        assert h.outbox(item.id).claimed_by == "another-pusher"


def test_a_push_whose_recheck_connection_died_reconnects_and_burns_no_attempt(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        complaints = [
            h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
            for _ in range(2)
        ]
        assert h.sync(push=False).created == 2
        items = [h.act(c.complaint_id, AgencyAction.FOLLOWUP, "Petugas akan datang besok.") for c in complaints]
        rechecks: list[int] = []

        def kill_before_second_recheck(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            # The connection the push holds for its re-checks dies while idle (a killed backend, an
            # idle_session_timeout, a restarted server): the second re-check meets a dead connection.
            if statement.lstrip().upper().startswith("UPDATE OUTBOX SET CLAIMED_UNTIL"):
                rechecks.append(1)
                if len(rechecks) == 2:
                    _kill(database, conn.connection.dbapi_connection)

        event.listen(h.app.db.engine, "before_cursor_execute", kill_before_second_recheck)
        try:
            result = h.sync(pull=False)
        finally:
            event.remove(h.app.db.engine, "before_cursor_execute", kill_before_second_recheck)

        assert len(rechecks) >= 3  # the second re-check was made again, on a new connection
        assert result.pushed == 2
        for complaint, item in zip(complaints, items, strict=True):
            assert len(h.national_followups(complaint.complaint_id, item.idempotency_key)) == 1
            row = h.outbox(item.id)
            assert (row.state, row.attempts) == ("delivered", 1)


def _kill(database: Database, dbapi_connection: Any) -> None:
    """End ``dbapi_connection`` beneath its pool: its PostgreSQL backend terminated (and gone), or the SQLite handle closed."""
    if database.engine.dialect.name == "sqlite":
        dbapi_connection.close()
        return
    admin = create_engine(normalise_url(database.url))
    try:
        with admin.connect() as conn:  # waits (up to 10 s) until the backend has ended
            ended = conn.execute(
                text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": dbapi_connection.info.backend_pid}
            )
            assert ended.scalar_one()
    finally:
        admin.dispose()


def _expire_claim(db: Database, item_id: int, now: datetime) -> None:
    """Make the claim on ``item_id`` expired by both clocks (the simulated one, and the server's on PostgreSQL)."""
    earlier = min(now, datetime.now(UTC)) - timedelta(days=1)
    with db.engine.begin() as conn:
        conn.execute(update(OutboxItem).where(col(OutboxItem.id) == item_id).values(claimed_until=earlier))


def _claim_as(db: Database, item_id: int, holder: str, *, until: datetime) -> None:
    with db.engine.begin() as conn:
        conn.execute(
            update(OutboxItem)
            .where(col(OutboxItem.id) == item_id)
            .values(state="sending", claimed_by=holder, claimed_until=until, fence=OutboxItem.fence + 1)
        )
