"""The mapping's action_map decides each national call: refused unless it does what its action means on LAPOR!
(CONTRACT §5), written into the outbox row by the city adapter, made by the pusher, and looked for by its read-back;
a row written before rows stored their call makes the call its payload's keys were written for."""

from __future__ import annotations

import random
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from lapor_sync.adapters.city.builtin import BuiltinCityRecords
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.complaint import ComplaintSnapshot, ThreadEntry
from lapor_sync.domain.reference import find_reference
from lapor_sync.domain.routing import CityMapping, NationalCall, NationalCallKind
from lapor_sync.domain.status import CaseState
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import OutboxItem
from lapor_sync.sync.journal import RunJournal
from lapor_sync.sync.push import Pusher, PushOptions
from lapor_sync.sync.service import sync_agencies
from tests.support.factories import complaint, followup, snapshot

CITY, DINSOS, PROVINCE = 6271, 627104, 62
COMPLAINT = complaint()


def _mapping(status_map: dict[str, str] | None = None, **action_map: dict[str, Any]) -> CityMapping:
    """The packaged mapping with ``status_map`` and ``action_map`` entries replaced.

    ``status_map`` defaults to adding code 6 "completed" and code 7 "archived".
    """
    data = tomllib.loads((files("lapor_sync.mappings") / "palangka-raya.toml").read_text(encoding="utf-8"))
    data["status_map"] |= {"6": "completed", "7": "archived"} if status_map is None else status_map
    data["action_map"] |= action_map
    return CityMapping.model_validate(data)


PACKAGED = _mapping()


@dataclass
class RecordingPlatform:
    """LAPOR! as far as the push sees it: records each write, reads back ``status_code`` and the posted follow-ups."""

    status_code: int = COMPLAINT.status_code
    disposition_id: int = DINSOS
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    posted: list[ThreadEntry] = field(default_factory=list)

    def post_followup(self, complaint_id: int, *, institution_id: int, content: str, is_secret: bool) -> ThreadEntry:
        self.calls.append(("followup", complaint_id, institution_id, find_reference(content) is not None, is_secret))
        self.posted.append(followup(len(self.posted) + 1, content))
        return self.posted[-1]

    def set_status(self, complaint_id: int, *, status_code: int, note: str) -> None:
        self.calls.append(("status", complaint_id, status_code, note))

    def request_reject(
        self, complaint_id: int, *, not_authority: bool, target_institution_id: int | None, reason: str
    ) -> None:
        self.calls.append(("reject", complaint_id, not_authority, target_institution_id, reason))

    def fetch_complaint(self, complaint_id: int, *, unchanged_since: datetime | None = None) -> ComplaintSnapshot:
        return snapshot(replace(COMPLAINT, status_code=self.status_code, disposition_id=self.disposition_id))

    def list_followups(self, complaint_id: int) -> list[ThreadEntry]:
        return list(self.posted)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite database holding one open Dinas Sosial case that already has a follow-up from the agency."""
    database = Database(f"sqlite:///{tmp_path / 'lapor-sync.db'}")
    database.upgrade()
    with database.session() as session:
        sync_agencies(session, PACKAGED)
        BuiltinCityRecords(session, mapping=PACKAGED, clock=ManualClock(COMPLAINT.created_at)).receive(
            snapshot(COMPLAINT, (followup(900, "Laporan sedang kami tinjau."),)),
            agency_code="DINSOS",
            routing_rule="institution:627104",
            state=CaseState.IN_PROGRESS,
        )
        session.commit()
    yield database
    database.dispose()


def _act(db: Database, mapping: CityMapping, action: AgencyAction, text: str, **kwargs: Any) -> OutboxItem:
    """Have Dinas Sosial staff act on the case, with ``mapping`` in force; return the outbox row."""
    with db.session() as session:
        records = BuiltinCityRecords(session, mapping=mapping, clock=ManualClock(COMPLAINT.created_at))
        case = records.get_case(complaint_id=COMPLAINT.complaint_id)
        item = records.act(case, action, institution_id=DINSOS, content=text, **kwargs)
        session.commit()
        return item


def _push(db: Database, mapping: CityMapping, platform: RecordingPlatform) -> RunJournal:
    """Run one push with ``mapping`` in force; return its journal."""
    clock = ManualClock(COMPLAINT.created_at)
    journal = RunJournal(db, clock, CITY, "push", "command").start()
    Pusher(db, platform, mapping, PushOptions(), random.Random(0)).run(journal)  # type: ignore[arg-type]
    return journal


def _rewrite(db: Database, item_id: int, *, needs_readback: bool | None = None, drop: str | None = None) -> None:
    """Change a stored row: mark it for read-back (as after a crash), or drop a payload key (as older code wrote)."""
    with db.session() as session:
        row = session.get(OutboxItem, item_id)
        assert row is not None
        if needs_readback is not None:
            row.needs_readback = needs_readback
        if drop is not None:
            row.payload = {key: value for key, value in row.payload.items() if key != drop}
        session.add(row)
        session.commit()


def _state(db: Database, item_id: int) -> str:
    with db.session() as session:
        row = session.get(OutboxItem, item_id)
        assert row is not None
        return row.state


def test_the_packaged_mapping_makes_the_calls_it_declares(db: Database) -> None:
    platform = RecordingPlatform()
    _act(db, PACKAGED, AgencyAction.FORWARD, "Bukan wewenang kota.", target_institution_id=PROVINCE)
    _act(db, PACKAGED, AgencyAction.FOLLOWUP, "Petugas akan berkunjung.")
    _act(db, PACKAGED, AgencyAction.COMPLETE, "Bantuan sudah disalurkan.")

    assert _push(db, PACKAGED, platform).counts.pushed == 3
    assert platform.calls == [
        ("reject", COMPLAINT.complaint_id, True, PROVINCE, "Bukan wewenang kota."),
        ("followup", COMPLAINT.complaint_id, DINSOS, True, False),
        ("status", COMPLAINT.complaint_id, 3, "Bantuan sudah disalurkan."),
    ]


def test_the_adapter_stores_the_declared_call_with_what_it_sends(db: Database) -> None:
    mapping = _mapping(complete={"call": "status", "status_code": 6})

    return_row = _act(db, mapping, AgencyAction.RETURN, "Data dukung kurang.")
    followup_row = _act(db, mapping, AgencyAction.FOLLOWUP, "Petugas akan berkunjung.")
    complete_row = _act(db, mapping, AgencyAction.COMPLETE, "Bantuan sudah disalurkan.")

    assert followup_row.payload["call"] == "followup" and "status_code" not in followup_row.payload
    assert complete_row.payload == {
        "call": "status",
        "status_code": 6,
        "note": "Bantuan sudah disalurkan.",
        "institution_id": DINSOS,
    }
    assert return_row.payload == {
        "call": "reject",
        "not_authority": False,
        "target_institution_id": None,
        "reason": "Data dukung kurang.",
        "institution_id": DINSOS,
    }


def test_complete_declared_with_another_status_code_sends_that_code(db: Database) -> None:
    mapping, platform = _mapping(complete={"call": "status", "status_code": 6}), RecordingPlatform()
    done = _act(db, mapping, AgencyAction.COMPLETE, "Bantuan sudah disalurkan.")

    assert _push(db, mapping, platform).counts.pushed == 1
    assert platform.calls == [("status", COMPLAINT.complaint_id, 6, "Bantuan sudah disalurkan.")]
    assert _state(db, done.id) == "delivered"


@pytest.mark.parametrize(
    ("action", "declared", "key"),
    [
        ("complete", {"call": "status", "status_code": 2}, "status_code"),  # Dalam Proses: never completes
        ("complete", {"call": "reject", "not_authority": False}, "call"),
        ("return", {"call": "status", "status_code": 4}, "call"),  # LAPOR! refuses a status change to Diarsipkan
        ("return", {"call": "reject", "not_authority": True}, "not_authority"),  # would forward, with no target
        ("forward", {"call": "reject", "not_authority": False}, "not_authority"),
        ("followup", {"call": "status", "status_code": 3}, "call"),  # the follow-up itself would be lost
    ],
)
def test_a_call_that_cannot_do_what_its_action_means_is_refused(action: str, declared: dict, key: str) -> None:
    with pytest.raises(ValidationError) as refused:
        _mapping(**{action: declared})

    assert [error["loc"] for error in refused.value.errors()] == [("action_map", action, key)]


def test_a_return_needs_a_status_code_mapped_to_archived_for_its_read_back() -> None:
    with pytest.raises(ValidationError) as refused:
        _mapping(status_map={"4": "rejected"})  # Diarsipkan read as rejected: no code is "archived"

    assert [error["loc"] for error in refused.value.errors()] == [("status_map",)]


def test_a_row_makes_the_call_declared_when_staff_acted_even_after_the_mapping_changed(db: Database) -> None:
    platform = RecordingPlatform()
    _act(db, _mapping(complete={"call": "status", "status_code": 6}), AgencyAction.COMPLETE, "Selesai.")

    _push(db, PACKAGED, platform)  # a worker reloaded the packaged mapping meanwhile

    assert platform.calls == [("status", COMPLAINT.complaint_id, 6, "Selesai.")]


@pytest.mark.parametrize(
    ("national_code", "calls"),
    [
        (6, []),  # the declared code is there: found, not sent again
        (3, [("status", COMPLAINT.complaint_id, 6, "Selesai.")]),  # Selesai, but not the declared code
    ],
)
def test_read_back_looks_for_the_declared_status_code(db: Database, national_code: int, calls: list) -> None:
    mapping, platform = _mapping(complete={"call": "status", "status_code": 6}), RecordingPlatform(national_code)
    done = _act(db, mapping, AgencyAction.COMPLETE, "Selesai.")
    _rewrite(db, done.id, needs_readback=True)

    journal = _push(db, mapping, platform)

    assert platform.calls == calls
    assert (journal.counts.pushed, _state(db, done.id)) == (1, "delivered")


@pytest.mark.parametrize(("national_code", "found"), [(7, True), (4, True), (2, False)])
def test_read_back_of_a_return_finds_it_archived_by_the_status_map(
    db: Database, national_code: int, found: bool
) -> None:
    platform = RecordingPlatform(national_code)  # 4 and 7 are both "archived" in this mapping's status_map
    returned = _act(db, PACKAGED, AgencyAction.RETURN, "Data dukung kurang.")
    _rewrite(db, returned.id, needs_readback=True)

    _push(db, PACKAGED, platform)

    assert platform.calls == ([] if found else [("reject", COMPLAINT.complaint_id, False, None, "Data dukung kurang.")])


def test_read_back_of_a_forward_finds_it_gone_out_of_the_city(db: Database) -> None:
    platform = RecordingPlatform(disposition_id=PROVINCE)
    forwarded = _act(db, PACKAGED, AgencyAction.FORWARD, "Bukan wewenang kota.", target_institution_id=PROVINCE)
    _rewrite(db, forwarded.id, needs_readback=True)

    assert _push(db, PACKAGED, platform).counts.pushed == 1
    assert platform.calls == []


@pytest.mark.parametrize(
    ("action", "call"),
    [
        (AgencyAction.FOLLOWUP, ("followup", COMPLAINT.complaint_id, DINSOS, True, False)),
        (AgencyAction.COMPLETE, ("status", COMPLAINT.complaint_id, 6, "Selesai.")),
        (AgencyAction.RETURN, ("reject", COMPLAINT.complaint_id, False, None, "Selesai.")),
        (AgencyAction.FORWARD, ("reject", COMPLAINT.complaint_id, True, PROVINCE, "Selesai.")),
    ],
)
def test_a_row_written_before_rows_stored_their_call_makes_the_call_its_payload_was_written_for(
    db: Database, action: AgencyAction, call: tuple
) -> None:
    platform, target = RecordingPlatform(), PROVINCE if action is AgencyAction.FORWARD else None
    row = _act(
        db, _mapping(complete={"call": "status", "status_code": 6}), action, "Selesai.", target_institution_id=target
    )
    _rewrite(db, row.id, drop="call")  # as the code before stored calls wrote it

    _push(db, PACKAGED, platform)  # whose complete is status 3: the row's own keys decide, not this mapping

    assert platform.calls == [call] and _state(db, row.id) == "delivered"


def test_a_national_call_round_trips_through_an_outbox_payload() -> None:
    forward = NationalCall(call=NationalCallKind.REJECT, not_authority=True)

    assert forward.as_payload() == {"call": "reject", "not_authority": True}
    assert NationalCall.from_payload({**forward.as_payload(), "reason": "x", "institution_id": DINSOS}) == forward
    assert NationalCall.from_payload({"status_code": 6, "note": "x"}) == NationalCall(call="status", status_code=6)
    assert NationalCall.from_payload({"not_authority": False, "reason": "x"}) == forward.model_copy(
        update={"not_authority": False}
    )
    assert NationalCall.from_payload({"content": "x", "is_secret": False}) == NationalCall(call="followup")
