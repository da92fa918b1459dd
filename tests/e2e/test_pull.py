"""End to end, pull: the cursor, page boundaries and drift, routing, reporters' privacy, forwarded complaints."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlmodel import select

from lapor_sync.app import App
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.complaint import InboxItem, MalformedRecord
from lapor_sync.domain.ports import InboxWalkReport
from lapor_sync.domain.status import NationalStatus
from lapor_sync.simulator.catalog import category_id
from lapor_sync.simulator.model import Reporter
from lapor_sync.simulator.workdays import next_working_day_at
from lapor_sync.storage.models import SetAsideRecord
from tests.support.e2e import CITY, DINSOS, Harness, PlatformWrapper, client_for, harness, small_world

PERHUBUNGAN, SOSIAL = category_id("Perhubungan"), category_id("Sosial dan Kesejahteraan")
TOPIK_LAINNYA = category_id("Topik Lainnya")  # known to LAPOR!, routed by no rule of the city

pytestmark = pytest.mark.e2e


@pytest.fixture
def paged(tmp_path: Path) -> Iterator[Harness]:
    """Like ``h``, with a client that asks for 5 inbox rows per page."""
    with harness(small_world(), f"sqlite:///{tmp_path / 'e2e.db'}", per_page=5) as running:
        yield running


def _twelve_over_three_pages(paged: Harness) -> list[int]:
    """Add twelve complaints dispositioned a second apart (three inbox pages of 5), half an hour ago; their ids."""
    start = paged.clock.now()
    ids = [
        paged.add_complaint(
            disposition_id=DINSOS, category_id=SOSIAL, dispositioned_at=start + timedelta(seconds=n)
        ).complaint_id
        for n in range(12)
    ]
    paged.advance(timedelta(minutes=30))
    return ids


def _stored_ids(h: Harness) -> list[int]:
    return [case.complaint_id for case in h.cases()]


# -- the cursor ------------------------------------------------------------------------------------


def test_a_failed_run_keeps_the_cursor_and_the_next_good_run_stores_everything(h: Harness) -> None:
    first = [h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL).complaint_id for _ in range(3)]
    assert h.sync().created == 3
    mark = h.cursor()
    h.advance(timedelta(minutes=20))
    stored_before_failure = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
    h.advance(timedelta(minutes=1))
    failing = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
    server_error = h.faults.fail("GET", rf"/complaints/{failing.complaint_id}/complaint$", status=500)
    h.advance(timedelta(minutes=10))

    failed = h.sync()

    assert failed.outcome == "failed" and "500" in (failed.error or "")
    assert server_error.hits == 5  # the client retried, then gave up
    assert h.cursor() == mark
    assert failing.complaint_id not in _stored_ids(h)
    h.faults.clear()

    good = h.sync()

    assert good.outcome == "ok" and good.created == 1
    assert _stored_ids(h) == [*first, stored_before_failure.complaint_id, failing.complaint_id]
    assert h.cursor() == failing.updated_at


def test_an_unreachable_platform_fails_the_run_and_keeps_the_cursor(h: Harness) -> None:
    h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
    assert h.sync().outcome == "ok"
    mark = h.cursor()
    h.advance(timedelta(hours=1))
    h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
    with socket.socket() as closed:  # a port nobody listens on: connections are refused
        closed.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{closed.getsockname()[1]}/lapor/3.0.0"
    with client_for(dead_url, h.clock) as unreachable:
        run = h.sync(platform=unreachable)

    assert run.outcome == "failed" and "ConnectError" in (run.error or "")
    assert h.cursor() == mark
    assert h.sync().created == 1 and h.cursor() > mark  # type: ignore[operator]


def test_items_sharing_one_second_across_a_page_boundary_are_all_taken(paged: Harness) -> None:
    same_second = paged.clock.now()
    ids = [paged.add_complaint(disposition_id=DINSOS, category_id=SOSIAL).complaint_id for _ in range(12)]
    assert len({paged.world.complaint(i).updated_at for i in ids}) == 1  # 12 rows, one second, 3 pages

    run = paged.sync()

    assert run.outcome == "ok" and run.created == 12
    assert _stored_ids(paged) == ids
    assert paged.cursor() == same_second.replace(microsecond=0)


def test_items_arriving_later_in_the_cursor_second_are_taken_next_run(tmp_path: Path) -> None:
    with harness(small_world(), f"sqlite:///{tmp_path / 'e2e.db'}", per_page=5, overlap_seconds=0) as h:
        second = h.clock.now()
        early = [h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL).complaint_id for _ in range(6)]
        assert h.sync().created == 6 and h.cursor() == second
        h.advance(timedelta(minutes=5))
        # Written later, but stamped with the second the cursor stands on (second precision).
        late = [
            h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL, dispositioned_at=second).complaint_id
            for _ in range(4)
        ]

        run = h.sync()

        assert run.created == 4 and run.unchanged == 6
        assert _stored_ids(h) == early + late and h.cursor() == second


class RecordsWalks(PlatformWrapper):
    """Remembers which complaints each inbox walk yielded."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.walks: list[list[int]] = []

    def walk_inbox(
        self, updated_since: datetime, report: InboxWalkReport | None = None
    ) -> Iterator[InboxItem | MalformedRecord]:
        seen: list[int] = []
        self.walks.append(seen)
        for entry in self.inner.walk_inbox(updated_since, report):
            if isinstance(entry, InboxItem):
                seen.append(entry.complaint_id)
            yield entry


def test_an_item_that_moves_during_a_walk_is_not_lost(paged: Harness) -> None:
    ids = _twelve_over_three_pages(paged)
    moved, shifted = ids[0], ids[5]  # moving the first row pulls the sixth back onto page 1
    pages_asked: list[int] = []

    def staff_reply_during_walk(page: int) -> None:
        pages_asked.append(page)
        if pages_asked.count(2) == 1 and page == 2:
            paged.world.add_followup(moved, DINSOS, "Tim Dinsos sudah menjadwalkan kunjungan.")

    paged.world.before_inbox_page = staff_reply_during_walk
    walks = RecordsWalks(paged.platform)

    run = paged.sync(platform=walks)

    assert shifted not in walks.walks[0] and len(walks.walks) >= 2  # one walk alone would lose it
    assert run.outcome == "ok" and run.created == 12
    assert _stored_ids(paged) == ids
    latest = paged.case(moved)
    assert latest.national_status_code == NationalStatus.IN_PROCESS and latest.state == "in_progress"
    assert [e.content for e in paged.thread(moved)] == ["Tim Dinsos sudah menjadwalkan kunjungan."]
    assert paged.cursor() == paged.world.complaint(moved).updated_at


def test_an_inbox_that_never_settles_keeps_the_cursor_and_loses_nothing(paged: Harness) -> None:
    ids = _twelve_over_three_pages(paged)
    replies = iter(range(1000))

    def busy_platform(page: int) -> None:  # every walk's second page: a new reply moves a row
        if page == 2:
            paged.world.add_followup(ids[next(replies) % 12], DINSOS, "Tanggapan baru dari petugas.")
            paged.advance(timedelta(seconds=1))

    paged.world.before_inbox_page = busy_platform
    run = paged.sync(push=False)

    assert run.outcome == "ok" and run.created == 12 and _stored_ids(paged) == ids
    assert paged.cursor() == paged.app.settings.initial_since  # no quiet walk: the mark did not move
    [busy] = paged.events("pull.inbox_busy")
    assert busy.level == "warning"
    paged.world.before_inbox_page = None
    paged.advance(timedelta(minutes=30))
    assert paged.sync(push=False).outcome == "ok" and paged.cursor() > paged.app.settings.initial_since


# -- routing and privacy ---------------------------------------------------------------------------


def test_an_unknown_category_goes_to_triage_with_a_warning(h: Harness) -> None:
    unrouted = h.add_complaint(disposition_id=CITY, category_id=TOPIK_LAINNYA)
    brand_new = h.add_complaint(disposition_id=CITY, category_id=TOPIK_LAINNYA)
    routed = h.add_complaint(disposition_id=CITY, category_id=PERHUBUNGAN)

    def new_national_category(complaint: dict[str, Any]) -> None:
        if complaint["complaint_id"] == brand_new.complaint_id:
            complaint["category_id"], complaint["category_name"] = 77, "Kategori Baru Nasional"

    h.faults.rewrite = new_national_category

    assert h.sync().created == 3

    for triaged in (unrouted, brand_new):
        case = h.case(triaged.complaint_id)
        assert (case.agency_code, case.routing_rule) == ("DISKOMINFO", "triage")
    assert h.case(brand_new.complaint_id).category_name == "Kategori Baru Nasional"
    assert h.case(routed.complaint_id).agency_code == "DISHUB"
    warnings = h.events("complaint.triage")
    assert {(e.complaint_id, e.level, e.agency_code) for e in warnings} == {
        (unrouted.complaint_id, "warning", "DISKOMINFO"),
        (brand_new.complaint_id, "warning", "DISKOMINFO"),
    }
    assert "Kategori Baru Nasional" in next(e.message for e in warnings if e.complaint_id == brand_new.complaint_id)


WIRE_USER = {"name": "Siti Rahasia", "email": "siti@contoh.id", "phone": "0812-9999-0000"}
BUDI = ("Budi Contoh", "budi@contoh.id", "0812-0000-0001")  # fictitious reporters
ANI = ("Ani Contoh", "ani@contoh.id", "0812-0000-0002")


def _reporter(h: Harness, complaint_id: int) -> tuple[str | None, str | None, str | None]:
    case = h.case(complaint_id)
    return case.reporter_name, case.reporter_email, case.reporter_phone


def test_an_anonymous_complaint_stores_no_reporter_identity(h: Harness) -> None:
    anonymous = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL, is_anonymous=True)
    named = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL, reporter=Reporter(*BUDI))
    later_anonymous = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL, reporter=Reporter(*ANI))

    def leaky_gateway(complaint: dict[str, Any]) -> None:
        if complaint["is_anonymous"] == 1:
            complaint["user"] = WIRE_USER  # the wire carries an identity it should not

    h.faults.rewrite = leaky_gateway
    assert h.sync().created == 3
    assert _reporter(h, later_anonymous.complaint_id) == ANI
    h.advance(timedelta(minutes=5))
    with h.world.lock:  # the reporter asks LAPOR! to hide their identity
        h.world.complaint(later_anonymous.complaint_id).is_anonymous = True
        h.world.touch(later_anonymous.complaint_id)

    assert h.sync().updated == 1

    for hidden in (anonymous, later_anonymous):
        assert h.case(hidden.complaint_id).is_anonymous and _reporter(h, hidden.complaint_id) == (None, None, None)
    assert _reporter(h, named.complaint_id) == BUDI
    personal = (*WIRE_USER.values(), *BUDI, *ANI)
    assert not any(value in event.message for event in h.all_events() for value in personal)


# -- complaints that leave -------------------------------------------------------------------------


def test_a_complaint_forwarded_away_leaves_the_inbox_and_is_noticed_by_the_recheck(h: Harness) -> None:
    kept = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
    leaving = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
    h.sync()
    item = h.act(
        leaving.complaint_id,
        AgencyAction.FORWARD,
        "Bantuan PKH adalah program Kementerian Sosial.",
        target_institution_id=9002,
    )
    assert h.sync(pull=False).pushed == 1 and h.outbox(item.id).state == "delivered"
    assert h.case(leaving.complaint_id).state == "new"  # nothing changes until LAPOR!'s admin decides

    h.simulator.advance_to(next_working_day_at(h.clock.now(), time(11)))  # the admin decides at 10:00 WIB
    in_inbox = {c.complaint_id for c in h.world.inbox_page(None, 1, 100)[0]}
    assert leaving.complaint_id not in in_inbox and kept.complaint_id in in_inbox

    run = h.sync()

    assert run.outcome == "ok" and run.updated == 1
    case = h.case(leaving.complaint_id)
    assert (case.state, case.disposition_id) == ("forwarded", 9002) and case.closed_at == h.clock.now()
    left = h.events("complaint.left_inbox")
    assert [(e.complaint_id, e.level) for e in left] == [(leaving.complaint_id, "info")]
    assert h.case(kept.complaint_id).state == "new"


def test_a_change_in_the_same_second_as_the_last_read_is_taken_later(h: Harness) -> None:
    complaint = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
    assert h.sync().created == 1  # read in the very second the complaint was dispositioned
    read_at = complaint.updated_at
    h.world.add_followup(complaint.complaint_id, DINSOS, "Ditangani langsung oleh petugas.")
    assert complaint.updated_at == read_at  # the change is invisible in updated_at: same second
    h.advance(timedelta(hours=2))  # long after that second; no run came in between

    run = h.sync()

    assert run.updated == 1
    assert h.case(complaint.complaint_id).national_status_code == NationalStatus.IN_PROCESS
    assert [e.content for e in h.thread(complaint.complaint_id)] == ["Ditangani langsung oleh petugas."]
    h.advance(timedelta(minutes=30))
    assert h.sync().fetched == 0  # settled: read after that second, nothing read again


def test_the_cursor_waits_at_a_row_whose_second_was_not_over_when_read(tmp_path: Path) -> None:
    # LAPOR!'s clock runs an hour ahead of ours. A row stamped later must not carry the mark past a
    # row whose second was not surely over when read, or a change hidden in that second is never walked again.
    no_recheck = {"open_case_recheck_seconds": 10 * 24 * 3600}
    with harness(small_world(), f"sqlite:///{tmp_path / 'e2e.db'}", **no_recheck) as h:
        ours = ManualClock(h.clock.now() - timedelta(hours=1))
        h.app.clock = ours  # before the first sync builds the service
        read_early = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
        h.advance(timedelta(minutes=10))
        later = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
        assert h.sync().created == 2
        assert h.cursor() <= read_early.updated_at  # not carried past the row read within its second
        h.world.add_followup(read_early.complaint_id, DINSOS, "Ditangani langsung oleh petugas.")
        h.world.touch(read_early.complaint_id, at=read_early.dispositioned_at)  # hidden in its old second
        h.advance(timedelta(hours=2))
        ours.advance(timedelta(hours=2))

        h.sync()

        assert [e.content for e in h.thread(read_early.complaint_id)] == ["Ditangani langsung oleh petugas."]
        assert h.cursor() == later.updated_at


def test_a_complaint_at_a_sub_unit_unknown_to_the_mapping_goes_to_triage_not_lost(h: Harness) -> None:
    complaint = h.add_complaint(disposition_id=DINSOS, category_id=TOPIK_LAINNYA)

    def new_sub_unit(row: dict[str, Any]) -> None:
        row["disposition_id"] = 627199  # LAPOR! knows this sub-unit of the city; the mapping does not

    h.faults.rewrite = new_sub_unit
    run = h.sync()

    assert run.created == 1
    case = h.case(complaint.complaint_id)
    assert (case.agency_code, case.state) == ("DISKOMINFO", "new")
    [warning] = h.events("mapping.unknown_institution")
    assert "627199" in warning.message and warning.level == "warning"


def test_a_set_aside_record_is_retried_by_the_recheck_and_resolved_once_stored(h: Harness) -> None:
    complaint = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
    h.faults.break_status_codes()
    assert h.sync().set_aside == 1
    assert h.cases() == []
    h.faults.clear()  # the platform repairs the record; its updated_at does not move
    h.advance(timedelta(hours=2))

    run = h.sync()

    assert run.created == 1 and h.case(complaint.complaint_id).state == "new"
    with h.app.db.session() as session:
        [record] = session.exec(select(SetAsideRecord)).all()
    assert record.resolved_at == h.clock.now()


def test_the_client_in_oauth2_mode_syncs_against_the_simulator(tmp_path: Path) -> None:
    with harness(small_world(), f"sqlite:///{tmp_path / 'e2e.db'}") as h:
        complaint = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
        settings = h.app.settings.model_copy(
            update={
                "auth_mode": "oauth2",
                "oauth_token_url": h.base_url.removesuffix("/lapor/3.0.0") + "/oauth2/token",
                "oauth_client_id": "sim-client",
                "oauth_client_secret": SecretStr("sim-secret"),
            }
        )
        app = App(settings, clock=h.clock)
        with app.platform() as platform:
            run = app.sync_service(platform).run(push=False)
        assert run.outcome == "ok" and run.created == 1
        assert h.case(complaint.complaint_id).agency_code == "DINSOS"
        app.db.dispose()


def test_review_a_401_stops_the_run_at_once_and_keeps_the_cursor(h: Harness) -> None:
    h.new_case()
    mark = h.cursor()
    h.advance(timedelta(hours=1))
    h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
    refused = h.faults.fail("GET", r"/complaints/inbox$", status=401)

    run = h.sync()

    assert run.outcome == "failed" and "401" in (run.error or "") and refused.hits == 1
    assert h.cursor() == mark and len(h.cases()) == 1
    assert [e.level for e in h.events("run.failed")] == ["error"]
