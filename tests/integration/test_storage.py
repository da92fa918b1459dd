"""Storage on SQLite and PostgreSQL: migrations, aware UTC datetimes, cases, threads and the outbox."""

from __future__ import annotations

import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, select

from lapor_sync.adapters.city.builtin import BuiltinCityRecords
from lapor_sync.config.mapping_file import load_mapping
from lapor_sync.domain.actions import ActionRefused, AgencyAction
from lapor_sync.domain.complaint import AuthorType
from lapor_sync.domain.ports import ReceiveOutcome
from lapor_sync.domain.reference import find_reference
from lapor_sync.domain.status import CaseState
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import Agency, Binding, Case, Cursor, OutboxItem, ThreadEntry
from lapor_sync.storage.trigram import not_trigram
from lapor_sync.sync.cursor import advance_cursor, read_cursor
from tests.support.factories import T0, complaint, followup, snapshot


@pytest.fixture
def seeded(database):
    with database.session() as s:
        s.add(Agency(code="DINSOS", name="Dinas Sosial", national_institution_id=627104))
        s.add(Agency(code="DISKOMINFO", name="Diskominfo", national_institution_id=627110))
        s.commit()
    return database


def test_upgrade_is_idempotent(database):
    database.upgrade()
    assert database.is_current()


def test_datetimes_come_back_aware_utc_whatever_zone_went_in(database, clock):
    wib = timezone(timedelta(hours=7))
    with database.session() as s:
        s.add(Cursor(name="inbox:1", position=datetime(2024, 7, 1, 9, 0, tzinfo=wib), updated_at=clock.now()))
        s.commit()
    with database.session() as s:
        row = s.get(Cursor, "inbox:1")
    assert row.position.utcoffset() == timedelta(0)
    assert row.position == datetime(2024, 7, 1, 2, 0, tzinfo=timezone.utc)


def test_naive_datetime_is_refused(database):
    with database.session() as s:
        naive = datetime(2024, 7, 1)  # noqa: DTZ001  (the point of the test)
        s.add(Cursor(name="inbox:1", position=naive, updated_at=naive))
        with pytest.raises(Exception, match="naive datetime refused"):
            s.commit()


def test_cursor_never_moves_backwards(database, clock):
    with database.session() as s:
        assert advance_cursor(s, 6271, T0, clock.now())
        s.commit()
        assert not advance_cursor(s, 6271, T0 - timedelta(seconds=1), clock.now())
        assert read_cursor(s, 6271) == T0


def test_receive_creates_then_updates_and_keeps_anonymous_reporter_out(seeded, clock):
    with seeded.session() as s:
        records = BuiltinCityRecords(s, mapping=load_mapping(), clock=clock)
        first = records.receive(
            snapshot(complaint(is_anonymous=True)),
            agency_code="DINSOS",
            routing_rule="institution:627104",
            state=CaseState.NEW,
        )
        s.commit()
        second = records.receive(
            snapshot(complaint(is_anonymous=True, status_code=2)),
            agency_code="DINSOS",
            routing_rule="institution:627104",
            state=CaseState.IN_PROGRESS,
        )
        s.commit()
        case = s.get(Case, first.case_id)
    assert first.outcome is ReceiveOutcome.CREATED and second.outcome is ReceiveOutcome.UPDATED
    assert (case.reporter_name, case.reporter_email, case.reporter_phone) == (None, None, None)
    assert case.state == CaseState.IN_PROGRESS


def new_case(records: BuiltinCityRecords) -> Case:
    """Receive the test complaint as a new case of DINSOS and return the case."""
    received = records.receive(snapshot(), agency_code="DINSOS", routing_rule="r", state=CaseState.NEW)
    return records.get_case(case_id=received.case_id)


def test_staff_followup_writes_outbox_in_same_transaction_and_echo_is_linked(seeded, clock):
    with seeded.session() as s:
        records = BuiltinCityRecords(s, mapping=load_mapping(), clock=clock)
        case = new_case(records)
        item = records.act(case, AgencyAction.FOLLOWUP, institution_id=627104, content="Sudah ditangani.")
        s.commit()
    assert item.state == "pending" and find_reference(item.payload["content"]) == item.idempotency_key
    echo = followup(77, item.payload["content"])
    with seeded.session() as s:
        records = BuiltinCityRecords(s, mapping=load_mapping(), clock=clock)
        result = records.receive(
            snapshot(thread=(echo,)), agency_code="DINSOS", routing_rule="r", state=CaseState.IN_PROGRESS
        )
        s.commit()
        thread = records.thread(case.id)
    assert result.new_thread_entries == 0
    assert [(e.origin, e.national_id) for e in thread] == [("agency", 77)]


def test_rolled_back_action_leaves_no_outbox_row(seeded, clock):
    with seeded.session() as s:
        records = BuiltinCityRecords(s, mapping=load_mapping(), clock=clock)
        received = records.receive(snapshot(), agency_code="DINSOS", routing_rule="r", state=CaseState.NEW)
        s.commit()
        records.act(records.get_case(case_id=received.case_id), AgencyAction.FOLLOWUP, institution_id=1, content="x")
        s.rollback()
    with seeded.session() as s:
        assert s.exec(select(OutboxItem)).all() == []
        assert s.exec(select(ThreadEntry)).all() == []


def test_complete_without_followup_is_refused(seeded, clock):
    with seeded.session() as s:
        records = BuiltinCityRecords(s, mapping=load_mapping(), clock=clock)
        received = records.receive(snapshot(), agency_code="DINSOS", routing_rule="r", state=CaseState.NEW)
        with pytest.raises(ActionRefused, match="follow-up"):
            records.act(
                records.get_case(case_id=received.case_id), AgencyAction.COMPLETE, institution_id=627104, content="done"
            )


def test_followup_then_complete_in_one_unit_of_work_queue_both_the_followup_naming_its_thread_entry(seeded, clock):
    with seeded.session() as s:
        records = BuiltinCityRecords(s, mapping=load_mapping(), clock=clock)
        case = new_case(records)
        posted = records.act(case, AgencyAction.FOLLOWUP, institution_id=627104, content="Sedang dicek.")
        done = records.act(case, AgencyAction.COMPLETE, institution_id=627104, content="Selesai.")
        s.commit()
        [entry] = records.thread(case.id)
    assert (posted.kind, done.kind, case.state) == ("followup", "complete", CaseState.COMPLETED.value)
    assert posted.id is not None and done.id is not None
    assert (posted.thread_entry_id, done.thread_entry_id) == (entry.id, None)
    assert (entry.origin, entry.author_type, entry.reference) == ("agency", "instansi", posted.idempotency_key)
    assert entry.created_at == posted.created_at and entry.created_at.tzinfo is not None


def test_national_reply_is_stored_once(seeded, clock):
    reply = followup(5, "Terima kasih", author=AuthorType.REPORTER)
    with seeded.session() as s:
        records = BuiltinCityRecords(s, mapping=load_mapping(), clock=clock)
        records.receive(snapshot(thread=(reply,)), agency_code="DINSOS", routing_rule="r", state=CaseState.NEW)
        again = records.receive(snapshot(thread=(reply,)), agency_code="DINSOS", routing_rule="r", state=CaseState.NEW)
        s.commit()
        assert again.new_thread_entries == 0
        assert len(s.exec(select(ThreadEntry)).all()) == 1


def test_binding_is_unique_per_complaint(seeded, clock):
    with seeded.session() as s:
        records = BuiltinCityRecords(s, mapping=load_mapping(), clock=clock)
        received = records.receive(snapshot(), agency_code="DINSOS", routing_rule="r", state=CaseState.NEW)
        for _ in range(2):
            s.add(
                Binding(
                    institution_id=6271,
                    complaint_id=3_100_001,
                    tracking_id="1",
                    case_id=received.case_id,
                    national_updated_at=T0,
                    content_hash="h",
                    last_checked_at=T0,
                )
            )
        with pytest.raises(IntegrityError):
            s.commit()


def _upgrade(url: str) -> None:
    Database(url).upgrade()


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_processes_starting_together_on_a_fresh_database_all_find_the_schema_current(engine, tmp_path) -> None:
    import multiprocessing
    import uuid

    from sqlalchemy import create_engine, text

    from lapor_sync.storage.database import normalise_url
    from tests.conftest import _postgres_url

    admin = None
    if engine == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        base, schema = normalise_url(_postgres_url()), f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(base)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    try:
        context = multiprocessing.get_context("spawn")
        workers = [context.Process(target=_upgrade, args=(url,)) for _ in range(3)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert [w.exitcode for w in workers] == [0, 0, 0]
        assert Database(url).is_current()
    finally:
        if admin is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def test_a_new_sqlite_database_and_its_wal_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "private.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    with db.session() as session:  # a write, so the -wal file exists
        session.add(Agency(code="X", name="X"))
        session.commit()
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    db.dispose()
    assert "private.db-wal" in modes and all(mode & 0o077 == 0 for mode in modes.values()), modes


def test_review_a_freshly_upgraded_database_matches_the_models(database: Database) -> None:
    # What `alembic revision --autogenerate` would write now: nothing, or a model changed without its migration.
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True, "include_object": not_trigram}
        )
        differences = compare_metadata(context, SQLModel.metadata)

    assert differences == []
