"""Master data stored on SQLite and PostgreSQL: what changed since last time, nothing wiped on an empty or failed answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlmodel import select

from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.errors import QuotaExceededError, RunStoppingError, TransientError
from lapor_sync.domain.masters import ChangeKind, MasterInstitution, MasterList, ReplyTemplate, UnreadableRow
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import SyncEvent
from lapor_sync.sync.admin.masters import (
    ListName,
    PullStatus,
    find_template,
    pull_masters,
    stored_institutions,
    stored_templates,
)

CITY = 6271
PUPR = MasterInstitution(627101, "Dinas Pekerjaan Umum dan Penataan Ruang")
DISHUB = MasterInstitution(627103, "Dinas Perhubungan")
POLDA = MasterInstitution(9001, "Kepolisian Daerah Kalimantan Tengah")
FOLLOWUP = ReplyTemplate("followup", "Tindak lanjut", "Sedang kami proses.", national_id=1)
SELESAI = ReplyTemplate("selesai", "Selesai", "Sudah selesai.", national_id=2)


@dataclass
class Lists:
    """A master data source answering what the test sets, or raising it."""

    institutions: MasterList[MasterInstitution] | Exception = field(default_factory=lambda: MasterList(()))
    templates: MasterList[ReplyTemplate] | Exception = field(default_factory=lambda: MasterList(()))
    calls: list[str] = field(default_factory=list)

    def list_master_institutions(self) -> MasterList[MasterInstitution]:
        self.calls.append("institutions")
        return _answer(self.institutions)

    def list_reply_templates(self) -> MasterList[ReplyTemplate]:
        self.calls.append("templates")
        return _answer(self.templates)


def _answer(value: MasterList | Exception) -> MasterList:
    if isinstance(value, Exception):
        raise value
    return value


def pull(database: Database, source: Lists, clock: ManualClock) -> dict[ListName, object]:
    return {o.name: o for o in pull_masters(database, source, clock, institution_id=CITY, requested_by="tester")}


def changes(outcome: object) -> list[tuple[str, str, str | None]]:
    return [(c.kind.value, c.key, c.before) for c in outcome.changes]  # type: ignore[attr-defined]


def test_first_pull_adds_everything_with_its_instants(database: Database, clock: ManualClock) -> None:
    source = Lists(MasterList((PUPR, POLDA)), MasterList((FOLLOWUP,)))

    found = pull(database, source, clock)

    assert changes(found[ListName.INSTITUTIONS]) == [("added", "627101", None), ("added", "9001", None)]
    assert found[ListName.TEMPLATES].status is PullStatus.STORED  # type: ignore[attr-defined]
    with database.session() as session:
        stored = stored_institutions(session, CITY)
        template = find_template(session, CITY, "followup")
    assert set(stored) == {627101, 9001}
    first = stored[9001]
    assert first.first_seen_at == first.last_seen_at == first.updated_at == clock.now() and first.gone_at is None
    assert template is not None and (template.content, template.national_id) == ("Sedang kami proses.", 1)


def test_a_later_pull_shows_added_renamed_changed_gone_and_back(database: Database, clock: ManualClock) -> None:
    pull(database, Lists(MasterList((PUPR, DISHUB, POLDA)), MasterList((FOLLOWUP, SELESAI))), clock)
    clock.advance(timedelta(days=1))
    renamed = MasterInstitution(627103, "Dinas Perhubungan Kota Palangka Raya")
    reworded = ReplyTemplate("followup", "Tindak lanjut", "Sedang kami tindak lanjuti.", national_id=1)

    found = pull(database, Lists(MasterList((PUPR, renamed)), MasterList((reworded, SELESAI))), clock)

    assert changes(found[ListName.INSTITUTIONS]) == [
        ("changed", "627103", "Dinas Perhubungan"),
        ("gone", "9001", None),
    ]
    assert [(c.kind, c.fields) for c in found[ListName.TEMPLATES].changes] == [  # type: ignore[attr-defined]
        (ChangeKind.CHANGED, ("content",))
    ]
    with database.session() as session:
        stored = stored_institutions(session, CITY)
    day_one = clock.now() - timedelta(days=1)
    assert stored[9001].gone_at == clock.now() and stored[9001].last_seen_at == day_one  # kept, marked gone
    assert (stored[627103].name, stored[627103].updated_at, stored[627103].first_seen_at) == (
        renamed.name,
        clock.now(),
        day_one,
    )
    assert (stored[627101].last_seen_at, stored[627101].updated_at) == (clock.now(), day_one)

    clock.advance(timedelta(days=1))
    back = pull(database, Lists(MasterList((PUPR, renamed, POLDA)), MasterList((reworded, SELESAI))), clock)
    assert changes(back[ListName.INSTITUTIONS]) == [("back", "9001", None)]
    with database.session() as session:
        assert stored_institutions(session, CITY)[9001].gone_at is None


def test_an_empty_answer_is_refused_and_changes_nothing(database: Database, clock: ManualClock) -> None:
    pull(database, Lists(MasterList((PUPR, POLDA)), MasterList((FOLLOWUP,))), clock)
    clock.advance(timedelta(hours=1))

    found = pull(database, Lists(MasterList(()), MasterList((FOLLOWUP,))), clock)

    refused = found[ListName.INSTITUTIONS]
    assert refused.status is PullStatus.REFUSED_EMPTY and "while 2 are stored" in refused.error  # type: ignore[attr-defined]
    assert found[ListName.TEMPLATES].status is PullStatus.STORED  # type: ignore[attr-defined]
    with database.session() as session:
        stored = stored_institutions(session, CITY)
        events = session.exec(select(SyncEvent).where(SyncEvent.kind == "masters.pulled")).all()
    assert all(r.gone_at is None and r.last_seen_at == clock.now() - timedelta(hours=1) for r in stored.values())
    assert [(e.level, "nothing was changed" in e.message) for e in events][-1] == ("warning", True)


def test_an_empty_answer_with_nothing_stored_is_stored_as_empty(database: Database, clock: ManualClock) -> None:
    found = pull(database, Lists(), clock)

    assert [(o.status, o.listed, o.changes) for o in found.values()] == [(PullStatus.STORED, 0, [])] * 2  # type: ignore[attr-defined]


def test_a_failed_read_keeps_the_rows_and_the_other_list_goes_on(database: Database, clock: ManualClock) -> None:
    pull(database, Lists(MasterList((PUPR,)), MasterList((FOLLOWUP,))), clock)
    clock.advance(timedelta(hours=1))

    found = pull(database, Lists(TransientError("HTTP 503: down"), MasterList((FOLLOWUP, SELESAI))), clock)

    failed = found[ListName.INSTITUTIONS]
    assert (failed.status, failed.error) == (PullStatus.FAILED, "HTTP 503: down")  # type: ignore[attr-defined]
    assert changes(found[ListName.TEMPLATES]) == [("added", "selesai", None)]
    with database.session() as session:
        assert stored_institutions(session, CITY)[627101].last_seen_at == clock.now() - timedelta(hours=1)


@pytest.mark.parametrize(
    "refusal",
    [
        RunStoppingError("HTTP 401: the API key was refused"),
        # Throttled again after the quota window (CONTRACT §7 G3, G4): asking at once would be throttled too.
        QuotaExceededError("HTTP 429: throttled; again after the 65 s wait"),
    ],
)
def test_refused_credentials_or_a_second_throttle_skip_the_second_list(
    database: Database, clock: ManualClock, refusal: Exception
) -> None:
    source = Lists(refusal, MasterList((FOLLOWUP,)))

    found = pull(database, source, clock)

    assert [o.status for o in found.values()] == [PullStatus.FAILED, PullStatus.SKIPPED]  # type: ignore[attr-defined]
    assert source.calls == ["institutions"]
    with database.session() as session:
        assert stored_templates(session, CITY) == []


def test_unreadable_rows_are_neither_changed_nor_gone(database: Database, clock: ManualClock) -> None:
    pull(database, Lists(MasterList((PUPR, DISHUB, POLDA))), clock)

    held = pull(database, Lists(MasterList((PUPR,), (UnreadableRow("9001", "institutions.2.name: blank"),))), clock)
    assert changes(held[ListName.INSTITUTIONS]) == [("gone", "627103", None)]

    keyless = pull(
        database, Lists(MasterList((PUPR,), (UnreadableRow(None, "institutions.1.id: not a number"),))), clock
    )
    assert changes(keyless[ListName.INSTITUTIONS]) == []  # the unreadable row may be any of them
    with database.session() as session:
        assert stored_institutions(session, CITY)[9001].gone_at is None


# PostgreSQL only: SQLite lets one writer at a time, so the second pull's write waits and cannot race the insert.
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_a_list_another_pull_stored_meanwhile_fails_without_writing(
    database: Database, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lapor_sync.sync.admin import masters

    real_compare = masters.compare

    def compare_while_another_pull_stores(known: object, fresh: object) -> object:
        found = real_compare(known, fresh)  # type: ignore[arg-type]
        monkeypatch.setattr(masters, "compare", real_compare)
        pull(database, Lists(MasterList((PUPR,)), MasterList((FOLLOWUP,))), clock)  # the other pull, committed
        return found

    monkeypatch.setattr(masters, "compare", compare_while_another_pull_stores)

    found = pull(database, Lists(MasterList((PUPR, POLDA))), clock)

    raced = found[ListName.INSTITUTIONS]
    assert raced.status is PullStatus.FAILED and "at the same time" in raced.error  # type: ignore[attr-defined]
    with database.session() as session:
        assert set(stored_institutions(session, CITY)) == {627101}  # the other pull's row, nothing of ours
