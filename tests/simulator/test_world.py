"""The simulated platform's rules (CONTRACT §3, §5), driven through the World with a manual clock."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from lapor_sync.domain.clock import ManualClock
from lapor_sync.simulator import Simulator
from lapor_sync.simulator.dataset import generate
from lapor_sync.simulator.model import Complaint
from lapor_sync.simulator.persistence import load_world, save_world
from lapor_sync.simulator.rules import SimulatorError, normalise_content, plan_reporter_reply
from lapor_sync.simulator.wire import complaint_json, followup_json
from lapor_sync.simulator.workdays import WIB
from lapor_sync.simulator.world import World

DINSOS, PUPR, POLDA = 627104, 627101, 9001


def wib(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=WIB)


def make_world(at: datetime, reply_rate: float = 0.0) -> World:
    complaints, counters = generate(2024)
    return World(ManualClock(at), complaints, counters, seed=2024, reply_rate=reply_rate)


def first_visible(world: World) -> int:
    items, _ = world.inbox_page(None, 1, 1)
    return items[0].complaint_id


def test_complaints_become_visible_at_their_disposition_time() -> None:
    world = make_world(wib(2024, 1, 2, 0, 0))
    assert world.inbox_page(None, 1, 20) == ([], 0)
    first = world.all_complaints()[0]
    with pytest.raises(SimulatorError) as hidden:
        world.complaint(first.complaint_id)
    assert hidden.value.status == 404
    world.advance_to(first.dispositioned_at)
    items, total = world.inbox_page(None, 1, 20)
    assert [c.complaint_id for c in items] == [first.complaint_id] and total == 1
    world.advance_to(wib(2024, 1, 31, 23, 59, 59))
    in_january = [c for c in world.all_complaints() if c.dispositioned_at <= world.clock.now()]
    assert world.inbox_page(None, 1, 100)[1] == len(in_january)


def test_followup_is_normalised_never_deduplicated_and_moves_to_in_process() -> None:
    world = make_world(wib(2024, 3, 1, 9, 0))
    cid = first_visible(world)
    raw = "  [LS-0123456789] Jalan sudah <b>diperbaiki</b>.\r\nTerima kasih  "
    first = world.add_followup(cid, PUPR, raw)
    second = world.add_followup(cid, PUPR, raw)
    assert first.content == second.content == "[LS-0123456789] Jalan sudah diperbaiki.\nTerima kasih"
    assert second.id > first.id
    complaint = world.complaint(cid)
    assert len(complaint.followups) == 2 and complaint.status_code == 2
    assert complaint.updated_at == world.clock.now()
    assert [log.template_code for log in complaint.data_logs] == [
        "disposition",
        "followup",
        "status",
        "followup",
    ]
    assert len(normalise_content("x" * 12_000)) == 10_000


def test_status_rules_refuse_with_422_403_and_404() -> None:
    world = make_world(wib(2024, 3, 1, 9, 0))
    cid = first_visible(world)
    with pytest.raises(SimulatorError) as early:
        world.set_status(cid, 3, "selesai")
    assert early.value.status == 422 and "Terverifikasi -> Selesai" in early.value.message
    world.set_status(cid, 2, "diproses")
    with pytest.raises(SimulatorError) as no_followup:
        world.set_status(cid, 3, "selesai")
    assert no_followup.value.status == 422 and "follow-up" in no_followup.value.message
    world.add_followup(cid, PUPR, "Sudah ditangani.")
    assert world.set_status(cid, 3, "selesai").status_code == 3
    for write in (lambda: world.set_status(cid, 2, "lagi"), lambda: world.add_followup(cid, PUPR, "lagi")):
        with pytest.raises(SimulatorError) as final:
            write()
        assert final.value.status == 422
    with pytest.raises(SimulatorError) as unknown:
        world.set_status(999, 2, "x")
    assert unknown.value.status == 404
    outsider = world.add_complaint(disposition_id=POLDA)
    with pytest.raises(SimulatorError) as foreign:
        world.complaint(outsider.complaint_id)
    assert foreign.value.status == 403
    with pytest.raises(SimulatorError) as wrong_sender:
        world.add_followup(first_visible(world), POLDA, "bukan dari kota")
    assert wrong_sender.value.status == 403


def test_forward_is_approved_next_working_day_and_the_complaint_leaves_the_inbox() -> None:
    world = make_world(wib(2024, 4, 5, 15, 0))  # Friday before Idul Fitri
    cid = first_visible(world)
    world.request_reject(cid, not_authority=False, target_institution_id=0, description="Data dukung kurang")
    world.request_reject(cid, not_authority=True, target_institution_id=POLDA, description="Tindak pidana")
    world.advance_to(wib(2024, 4, 16, 9, 59, 59))
    assert world.complaint(cid).disposition_id != POLDA and world.complaint(cid).pending_request is not None
    world.advance_to(wib(2024, 4, 16, 12, 0))
    forwarded = world.complaint(cid)  # still readable
    assert forwarded.disposition_id == POLDA and forwarded.status_code == 1 and forwarded.pending_request is None
    assert forwarded.updated_at == wib(2024, 4, 16, 10, 0)
    assert cid not in {c.complaint_id for c in world.inbox_page(None, 1, 100_000)[0]}
    with pytest.raises(SimulatorError) as gone:
        world.add_followup(cid, PUPR, "terlambat")
    assert gone.value.status == 403
    tallies = world.tallies(date(2024, 1, 1), date(2024, 10, 31))
    assert tallies["forwarded"] == 1 and tallies["archived"] == 0 and tallies["archived_or_returned"] == 1


def test_archive_request_archives_unless_the_complaint_closed_first() -> None:
    world = make_world(wib(2024, 3, 4, 9, 0))
    items, _ = world.inbox_page(None, 1, 2)
    archived, closed = (c.complaint_id for c in items)
    for cid in (archived, closed):
        world.request_reject(cid, not_authority=False, target_institution_id=0, description="Data dukung kurang")
    world.add_followup(closed, PUPR, "Sudah selesai.")
    world.set_status(closed, 3, "selesai")
    world.advance_to(wib(2024, 3, 5, 10, 0))
    assert world.complaint(archived).status_code == 4
    assert world.complaint(archived).status_logs[-1].note == "Data dukung kurang"
    assert world.complaint(closed).status_code == 3
    with pytest.raises(SimulatorError) as refused:
        world.request_reject(archived, not_authority=True, target_institution_id=POLDA, description="x")
    assert refused.value.status == 422


def test_auto_close_after_ten_working_days_across_idul_fitri() -> None:
    world = make_world(wib(2024, 4, 2, 10, 0))
    cid = first_visible(world)
    world.add_followup(cid, DINSOS, "Bantuan sedang diproses.")
    world.advance_to(wib(2024, 4, 24, 9, 59, 59))
    assert world.complaint(cid).status_code == 2
    world.advance_to(wib(2024, 4, 24, 10, 0))
    closed = world.complaint(cid)
    assert closed.status_code == 3 and closed.updated_at == wib(2024, 4, 24, 10, 0)
    assert "10 hari kerja" in (closed.status_logs[-1].note or "")


def test_reporter_reply_comes_by_itself_and_stops_the_auto_close() -> None:
    world = make_world(wib(2024, 2, 1, 16, 30), reply_rate=0.10)
    cid = next(
        c.complaint_id
        for c in world.inbox_page(None, 1, 500)[0]
        if plan_reporter_reply(2024, c.complaint_id, 1, 0.10) is not None
    )
    plan = plan_reporter_reply(2024, cid, 1, 0.10)
    assert plan is not None and timedelta(days=1) <= plan.delay <= timedelta(days=3)
    posted = world.add_followup(cid, DINSOS, "Sedang dicek.")
    world.advance_to(posted.created_at + plan.delay)
    reply = world.complaint(cid).followups[-1]
    assert (reply.user_type, reply.content, reply.created_at) == (
        "pelapor",
        plan.content,
        posted.created_at + plan.delay,
    )
    assert world.complaint(cid).updated_at == reply.created_at
    world.advance_to(wib(2024, 3, 29, 0, 0))
    assert world.complaint(cid).status_code == 2  # the reporter answered: no auto-close


def test_touch_and_add_complaint_hooks_move_the_inbox() -> None:
    world = make_world(wib(2024, 1, 3, 12, 0))
    items, total = world.inbox_page(None, 1, 100)
    oldest = items[0].complaint_id
    world.touch(oldest)
    items_after, total_after = world.inbox_page(None, 1, 100)
    assert total_after == total and items_after[-1].complaint_id == oldest
    added = world.add_complaint(title="Laporan baru")
    assert world.inbox_page(None, 1, 100)[0][-1].complaint_id == added.complaint_id
    assert added.complaint_id == 3_100_001 + 1983


def test_tallies_count_by_status_in_the_period() -> None:
    world = make_world(wib(2024, 1, 31, 23, 0))
    january = world.tallies(date(2024, 1, 1), date(2024, 1, 31))
    cid = first_visible(world)
    world.add_followup(cid, PUPR, "Selesai diperbaiki.")
    world.set_status(cid, 3, "selesai")
    after = world.tallies(date(2024, 1, 1), date(2024, 1, 31))
    assert after["total"] == january["total"] == january["in_process"] > 150
    assert after["completed"] == 1 and after["in_process"] == january["in_process"] - 1
    assert world.tallies(date(2024, 2, 1), date(2024, 2, 29))["total"] == 0  # not yet visible


def test_save_and_load_round_trip_continues_identically(tmp_path: Path) -> None:
    world = make_world(wib(2024, 2, 1, 16, 30), reply_rate=0.5)
    for item in world.inbox_page(None, 1, 30)[0]:
        world.add_followup(item.complaint_id, DINSOS, "Sedang dicek.")
    world.request_reject(first_visible(world), not_authority=True, target_institution_id=POLDA, description="x")
    save_world(world, tmp_path / "state.json")
    loaded = load_world(tmp_path / "state.json")
    assert loaded.clock.now() == world.clock.now()
    assert loaded.pending_events() == world.pending_events()

    def picture(w: World) -> list[object]:
        return [
            (complaint_json(c), [followup_json(f) for f in c.followups], c.pending_request) for c in w.all_complaints()
        ]

    assert picture(loaded) == picture(world)
    for w in (world, loaded):
        w.advance_to(wib(2024, 3, 1, 12, 0))
        w.add_followup(first_visible(w), PUPR, "Setelah dimuat ulang.")
    assert picture(loaded) == picture(world)


def test_a_saved_world_holds_its_records_as_their_fields_in_order_with_iso_instants(tmp_path: Path) -> None:
    world = make_world(wib(2024, 2, 1, 16, 30), reply_rate=0.5)
    cid = first_visible(world)
    world.add_followup(cid, DINSOS, "Sedang dicek.", attachment_names=["foto.jpg"])
    world.request_reject(cid, not_authority=True, target_institution_id=POLDA, description="x")
    save_world(world, tmp_path / "state.json")
    saved = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))

    def iso(value: object) -> str:
        assert isinstance(value, date)
        return value.isoformat()

    # The file's format: what dataclasses.asdict makes of each record, instants as ISO 8601 text.
    as_fields = json.loads(json.dumps([dataclasses.asdict(c) for c in world.all_complaints()], default=iso))
    assert saved["complaints"] == as_fields
    assert list(saved["complaints"][0]) == [f.name for f in dataclasses.fields(Complaint)]
    assert saved["events"] == json.loads(
        json.dumps([dataclasses.asdict(e) for e in world.pending_events()], default=iso)
    )
    assert saved["counters"] == dataclasses.asdict(world.counters)


def test_simulator_facade_load_serves_the_saved_world_with_a_frozen_clock(tmp_path: Path) -> None:
    sim = Simulator.generate(rate_limit=None)
    sim.advance_to(wib(2024, 6, 28, 17, 0))
    sim.save(tmp_path / "world.json")
    again = Simulator.load(tmp_path / "world.json")
    assert again.clock.now() == sim.clock.now() == wib(2024, 6, 28, 17, 0)
    half_year = (date(2024, 1, 1), date(2024, 6, 30))
    assert again.tallies(*half_year) == sim.tallies(*half_year)
    assert again.tallies(*half_year)["total"] > 1000


def test_simulator_facade_generates_a_data_set_of_the_size_asked_for() -> None:
    from lapor_sync.simulator import END_OF_DATA

    sim = Simulator.generate(complaints=120, clock=ManualClock(END_OF_DATA), rate_limit=None)
    assert sim.tallies(date(2024, 1, 1), date(2024, 10, 31))["total"] == 120
    page, total = sim.world.inbox_page(None, 2, 100)
    assert total == 120 and len(page) == 20
