"""What the engine relies on from the national platform (CONTRACT §5, §6), held by the fake and the simulator alike.

Every case runs twice: against :class:`~tests.support.fake_platform.FakePlatform`, the in-memory platform of the
engine's unit tests, and against the simulator served on loopback through the real client
(``lapor_sync.adapters.national.client``). A rule one of them keeps and the other does not fails here, so the
unit tests cannot come to rely on a platform that the simulator, and the contract, do not describe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.complaint import AuthorType, InboxItem
from lapor_sync.domain.errors import ItemRejectedError, RunStoppingError
from lapor_sync.domain.ports import NationalPlatform
from lapor_sync.domain.reference import find_reference
from lapor_sync.domain.status import NationalStatus
from lapor_sync.simulator.rules import admin_decision_at
from tests.support.e2e import DAY_ONE, DINSOS, client_for, small_world
from tests.support.fake_platform import FakePlatform

pytestmark = pytest.mark.e2e

PER_PAGE = 2  # small pages, so every walk here crosses pages
KEMENSOS = 9002  # Kementerian Sosial: an institution outside the city
UNKNOWN = 3_999_999  # a complaint id neither platform ever handed out
REFERENCE = "LS-0123456789"


@dataclass
class National:
    """One implementation of the platform, and what a case needs to move it.

    Attributes:
        platform: the port, as the engine calls it.
        clock: the platform's clock.
        add: disposition a new complaint now (keyword arguments: ``disposition_id``); returns its id.
        advance: let time pass on the platform.
        decide_requests: let the platform's admin decide the pending reject requests.
    """

    platform: NationalPlatform
    clock: ManualClock
    add: Callable[..., int]
    advance: Callable[[timedelta], None]
    decide_requests: Callable[[], None]

    def walk(self, since: datetime) -> list[int]:
        """The complaint ids of one inbox walk from ``since``, in the platform's order."""
        rows = list(self.platform.walk_inbox(since))
        assert all(isinstance(row, InboxItem) for row in rows)
        return [row.complaint_id for row in rows]

    def status(self, complaint_id: int) -> int:
        """The complaint's status code, read by detail."""
        return self.platform.fetch_complaint(complaint_id).complaint.status_code

    def follow_up(self, complaint_id: int, content: str = f"[{REFERENCE}] Petugas sudah meninjau lokasi.") -> None:
        """Post a follow-up as Dinas Sosial."""
        self.platform.post_followup(complaint_id, institution_id=DINSOS, content=content, is_secret=False)


def _on_the_fake() -> Iterator[National]:
    fake = FakePlatform(ManualClock(DAY_ONE), per_page=PER_PAGE)
    assert isinstance(fake.clock, ManualClock)
    yield National(
        fake,
        fake.clock,
        add=lambda **fields: fake.add_complaint(**fields).complaint_id,
        advance=fake.clock.advance,
        decide_requests=fake.decide_requests,
    )


def _on_the_simulator() -> Iterator[National]:
    simulator = small_world(DAY_ONE)
    clock = simulator.clock
    assert isinstance(clock, ManualClock)
    with simulator.serve() as base_url, client_for(base_url, clock, per_page=PER_PAGE) as client:
        yield National(
            client,
            clock,
            add=lambda **fields: simulator.world.add_complaint(**fields).complaint_id,
            advance=lambda delta: simulator.advance_to(clock.now() + delta),
            decide_requests=lambda: simulator.advance_to(admin_decision_at(clock.now())),
        )


@pytest.fixture(params=["fake", "simulator"])
def national(request: pytest.FixtureRequest) -> Iterator[National]:
    """The platform under test: the fake, then the simulator through the real client."""
    yield from (_on_the_fake if request.param == "fake" else _on_the_simulator)()


# -- follow-ups and the reference token (CONTRACT §4, §5, §6) ---------------------------------------------


def test_a_posted_followup_is_answered_and_read_back_with_its_reference(national: National) -> None:
    complaint_id = national.add(disposition_id=DINSOS)

    posted = national.platform.post_followup(
        complaint_id, institution_id=DINSOS, content=f"[{REFERENCE}] Petugas sudah meninjau lokasi.", is_secret=False
    )

    assert find_reference(posted.content) == REFERENCE and posted.complaint_id == complaint_id
    assert (posted.author_type, posted.institution_id, posted.is_secret) == (AuthorType.INSTITUTION, DINSOS, False)
    [listed] = national.platform.list_followups(complaint_id)
    assert (listed.national_id, listed.content) == (posted.national_id, posted.content)
    detail = national.platform.fetch_complaint(complaint_id)
    assert [e.national_id for e in detail.thread] == [posted.national_id]


def test_content_is_stored_normalised_and_the_reference_at_its_start_survives(national: National) -> None:
    complaint_id = national.add(disposition_id=DINSOS)

    national.follow_up(complaint_id, f"  [{REFERENCE}] <p>Petugas sudah <b>meninjau</b></p>\r\nlokasi.  ")

    [stored] = national.platform.list_followups(complaint_id)
    assert stored.content == f"[{REFERENCE}] Petugas sudah meninjau\nlokasi."
    assert find_reference(stored.content) == REFERENCE


def test_two_identical_posts_make_two_followups_in_posting_order(national: National) -> None:
    complaint_id = national.add(disposition_id=DINSOS)

    national.follow_up(complaint_id)
    national.follow_up(complaint_id)

    first, second = national.platform.list_followups(complaint_id)
    assert first.content == second.content and first.national_id < second.national_id


def test_a_followup_moves_a_verified_complaint_to_in_process_and_its_updated_at_to_now(national: National) -> None:
    complaint_id = national.add(disposition_id=DINSOS)
    national.advance(timedelta(minutes=7))

    national.follow_up(complaint_id)

    complaint = national.platform.fetch_complaint(complaint_id).complaint
    assert complaint.status_code == NationalStatus.IN_PROCESS
    assert complaint.updated_at == national.clock.now().replace(microsecond=0)


def test_a_followup_from_an_institution_outside_the_city_is_refused_for_that_item(national: National) -> None:
    complaint_id = national.add(disposition_id=DINSOS)

    with pytest.raises(ItemRejectedError) as refused:
        national.platform.post_followup(complaint_id, institution_id=KEMENSOS, content="Bukan kami.", is_secret=False)

    assert refused.value.status == 403 and national.platform.list_followups(complaint_id) == []


# -- status changes (CONTRACT §3, §5) ---------------------------------------------------------------------


def test_selesai_needs_an_institution_followup_first(national: National) -> None:
    complaint_id = national.add(disposition_id=DINSOS)
    platform = national.platform

    for status in (NationalStatus.COMPLETED, NationalStatus.ARCHIVED):  # not from Terverifikasi
        with pytest.raises(ItemRejectedError) as skipped:
            platform.set_status(complaint_id, status_code=status, note="Selesai.")
        assert skipped.value.status == 422
    platform.set_status(complaint_id, status_code=NationalStatus.IN_PROCESS, note="Sedang ditangani.")
    with pytest.raises(ItemRejectedError) as too_soon:
        platform.set_status(complaint_id, status_code=NationalStatus.COMPLETED, note="Selesai.")
    assert too_soon.value.status == 422 and national.status(complaint_id) == NationalStatus.IN_PROCESS

    national.follow_up(complaint_id)
    platform.set_status(complaint_id, status_code=NationalStatus.COMPLETED, note="Selesai.")

    assert national.status(complaint_id) == NationalStatus.COMPLETED


def test_a_closed_complaint_takes_no_more_writes(national: National) -> None:
    complaint_id = national.add(disposition_id=DINSOS)
    national.follow_up(complaint_id)
    national.platform.set_status(complaint_id, status_code=NationalStatus.COMPLETED, note="Selesai.")

    writes = [
        lambda: national.follow_up(complaint_id),
        lambda: national.platform.set_status(complaint_id, status_code=NationalStatus.IN_PROCESS, note="Lagi."),
        lambda: national.platform.request_reject(
            complaint_id, not_authority=False, target_institution_id=None, reason="Data kurang."
        ),
    ]
    for write in writes:
        with pytest.raises(ItemRejectedError) as refused:
            write()
        assert refused.value.status == 422
    assert len(national.platform.list_followups(complaint_id)) == 1


# -- the inbox walk (CONTRACT §5, §6) ---------------------------------------------------------------------


def test_the_inbox_walk_returns_what_changed_since_a_time_inclusive_ordered_across_pages(national: National) -> None:
    start = national.clock.now()
    first = national.add(disposition_id=DINSOS)
    national.advance(timedelta(minutes=1))
    second, third = national.add(disposition_id=DINSOS), national.add(disposition_id=DINSOS)  # one second
    national.advance(timedelta(minutes=1))
    fourth = national.add(disposition_id=DINSOS)
    second_at = national.platform.fetch_complaint(second).complaint.updated_at

    assert national.walk(start) == [first, second, third, fourth]
    assert national.walk(second_at) == [second, third, fourth]  # inclusive
    assert national.walk(second_at + timedelta(seconds=1)) == [fourth]
    assert national.walk(national.clock.now() + timedelta(seconds=1)) == []


def test_an_inbox_row_carries_the_updated_at_of_the_detail(national: National) -> None:
    complaint_id = national.add(disposition_id=DINSOS)
    national.advance(timedelta(minutes=10))
    national.follow_up(complaint_id)

    [row] = national.platform.walk_inbox(national.clock.now() - timedelta(minutes=1))

    assert isinstance(row, InboxItem)
    assert row.updated_at == national.platform.fetch_complaint(complaint_id).complaint.updated_at


def test_a_new_followup_brings_a_complaint_back_into_a_walk_from_now(national: National) -> None:
    quiet, followed_up = national.add(disposition_id=DINSOS), national.add(disposition_id=DINSOS)
    national.advance(timedelta(hours=1))
    mark = national.clock.now()

    national.follow_up(followed_up)

    assert national.walk(mark) == [followed_up]
    assert quiet in national.walk(mark - timedelta(hours=1))


def test_the_detail_records_when_the_complaint_was_verified(national: National) -> None:
    at = national.clock.now()
    complaint_id = national.add(disposition_id=DINSOS)

    detail = national.platform.fetch_complaint(complaint_id)

    verified = [e.at for e in detail.status_log if e.status_code == NationalStatus.VERIFIED]
    assert verified == [at] and detail.complaint.created_at < at
    assert detail.complaint.status_code == NationalStatus.VERIFIED and detail.complaint.disposition_id == DINSOS


# -- reject requests: archive and forward (CONTRACT §5) ---------------------------------------------------


def test_a_forward_takes_the_complaint_out_of_the_inbox_once_decided_and_its_detail_stays_readable(
    national: National,
) -> None:
    start = national.clock.now()
    forwarded, staying = national.add(disposition_id=DINSOS), national.add(disposition_id=DINSOS)

    national.platform.request_reject(
        forwarded, not_authority=True, target_institution_id=KEMENSOS, reason="Wewenang Kementerian Sosial."
    )

    assert national.walk(start) == [forwarded, staying]  # a request changes nothing yet
    national.decide_requests()
    assert national.walk(start) == [staying]  # gone, no tombstone
    complaint = national.platform.fetch_complaint(forwarded).complaint
    assert (complaint.disposition_id, complaint.status_code) == (KEMENSOS, NationalStatus.VERIFIED)
    with pytest.raises(ItemRejectedError) as refused:
        national.follow_up(forwarded)
    assert refused.value.status == 403


def test_an_archive_request_archives_the_complaint_once_decided_and_it_stays_in_the_inbox(national: National) -> None:
    start = national.clock.now()
    complaint_id = national.add(disposition_id=DINSOS)

    national.platform.request_reject(
        complaint_id, not_authority=False, target_institution_id=None, reason="Data dukung kurang."
    )

    assert national.status(complaint_id) == NationalStatus.VERIFIED
    national.decide_requests()
    assert national.status(complaint_id) == NationalStatus.ARCHIVED
    assert national.walk(start) == [complaint_id]


def test_a_second_request_replaces_the_first(national: National) -> None:
    complaint_id = national.add(disposition_id=DINSOS)
    platform = national.platform

    platform.request_reject(complaint_id, not_authority=False, target_institution_id=None, reason="Data kurang.")
    platform.request_reject(complaint_id, not_authority=True, target_institution_id=KEMENSOS, reason="Kemensos.")
    national.decide_requests()

    complaint = platform.fetch_complaint(complaint_id).complaint
    assert (complaint.disposition_id, complaint.status_code) == (KEMENSOS, NationalStatus.VERIFIED)


# -- refusals by complaint (CONTRACT §5, §6) ----------------------------------------------------------------


def test_a_complaint_the_platform_does_not_know_is_refused_for_that_item(national: National) -> None:
    calls = [
        lambda: national.platform.fetch_complaint(UNKNOWN),
        lambda: national.platform.list_followups(UNKNOWN),
        lambda: national.follow_up(UNKNOWN),
        lambda: national.platform.set_status(UNKNOWN, status_code=NationalStatus.IN_PROCESS, note="x"),
    ]
    for call in calls:
        with pytest.raises(ItemRejectedError) as refused:
            call()
        assert refused.value.status == 404


def test_reading_a_complaint_never_dispositioned_to_the_city_stops_the_run(national: National) -> None:
    elsewhere = national.add(disposition_id=KEMENSOS)

    with pytest.raises(RunStoppingError) as stopped:
        national.platform.fetch_complaint(elsewhere)

    assert stopped.value.status == 403
    assert elsewhere not in national.walk(national.clock.now() - timedelta(days=1))
