"""The invariant checker: a cleanly synced world passes, and each kind of loss or duplication is caught."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select

from lapor_sync.checks import InvariantReport, check_invariants
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.reference import tag_content
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import Binding, Case, OutboxItem, SetAsideRecord, ThreadEntry
from tests.support.cli import invoke
from tests.support.e2e import CITY, DINSOS, Harness, harness, small_world

pytestmark = pytest.mark.e2e

DISKOMINFO = 627110


def check(h: Harness, *, final: bool = True) -> InvariantReport:
    """Run the checker on the harness's two sides with the configured overlap."""
    return check_invariants(
        h.simulator, h.app.db, CITY, overlap=timedelta(seconds=h.app.settings.overlap_seconds), final=final
    )


def settle(h: Harness) -> None:
    """The final sync: late enough that its reads settle every second written before (Puller._settled)."""
    h.advance(timedelta(minutes=10))
    assert h.sync().outcome == "ok"


@dataclass(frozen=True)
class Synced:
    """Two complaints synced in, each with a delivered follow-up; the first also completed."""

    closed: int
    open: int
    followup: OutboxItem  # on the open one
    complete: OutboxItem  # of the closed one


@pytest.fixture
def synced(h: Harness) -> Synced:
    """Build :class:`Synced`, ending with the final sync."""
    closed, open_ = h.new_case(), h.new_case()
    h.act(closed, AgencyAction.FOLLOWUP, "Petugas akan survei lokasi.")
    followup = h.act(open_, AgencyAction.FOLLOWUP, "Kami jadwalkan kunjungan.")
    assert h.sync().pushed == 2
    complete = h.act(closed, AgencyAction.COMPLETE, "Bantuan sudah disalurkan.")
    assert h.sync().pushed == 1
    settle(h)
    return Synced(closed, open_, h.outbox(followup.id), h.outbox(complete.id))


def _found(report: InvariantReport) -> dict[str, tuple[int, tuple[int, ...]]]:
    return {f.key: (f.count, f.examples) for f in report.findings if f.count}


def _sql(h: Harness, *statements: object) -> None:
    with h.app.db.session() as session:
        for statement in statements:
            session.execute(statement)  # type: ignore[call-overload]
        session.commit()


def _update(h: Harness, model: type, row_id: int, **values: object) -> None:
    with h.app.db.session() as session:
        row = session.get(model, row_id)
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)
        session.commit()


def test_a_cleanly_synced_world_keeps_every_invariant(h: Harness, synced: Synced) -> None:
    report = check(h)

    assert report.ok, [f.sentence() for f in report.violations]
    assert (report.complaints_national, report.complaints_city) == (2, 2)
    assert (report.followups_expected, report.followups_found, report.status_changes_expected) == (2, 2, 1)
    assert report.outbox_by_state == {"delivered": 3}
    assert (report.lost, report.duplicated, report.set_aside) == (0, 0, 0)
    assert report.cursor == h.cursor() and _found(report) == {}


@pytest.mark.postgres
def test_the_checker_reads_sqlite_and_postgresql_alike(database: Database) -> None:
    with harness(small_world(), database.url) as h:
        complaint_id = h.new_case()
        h.act(complaint_id, AgencyAction.FOLLOWUP, "Sudah kami tindak lanjuti.")
        assert h.sync().pushed == 1
        settle(h)  # the push moved the complaint to Dalam Proses: the next pull takes that in
        assert _found(check(h)) == {}
        _update(h, Case, h.case(complaint_id).id, national_status_code=0)
        assert _found(check(h)) == {"status_stale": (1, (complaint_id,))}


def test_a_deleted_case_is_lost_unless_it_is_set_aside(h: Harness, synced: Synced) -> None:
    second = h.new_case()
    settle(h)
    case_id = h.case(second).id
    _sql(h, delete(Binding).where(Binding.case_id == case_id), delete(Case).where(Case.id == case_id))

    lost = check(h)
    assert not lost.ok and _found(lost) == {"complaint_lost": (1, (second,))}
    assert lost.lost == 1 and "[1] complaint_lost: 1" in lost.violations[0].sentence()

    with h.app.db.session() as session:
        now = h.clock.now()
        session.add(
            SetAsideRecord(
                institution_id=CITY,
                complaint_id=second,
                reason="created_at: not a date",
                raw="{}",
                first_seen_at=now,
                last_seen_at=now,
            )
        )
        session.commit()
    excused = check(h)
    assert excused.ok
    assert _found(excused) == {"complaint_set_aside": (1, (second,)), "set_aside_unresolved": (1, (1,))}
    [listed] = excused.unresolved_set_aside
    assert (listed.complaint_id, listed.reason) == (second, "created_at: not a date")


def test_a_second_national_copy_of_our_follow_up_is_a_duplicate_even_after_the_pull_stores_it(
    h: Harness, synced: Synced
) -> None:
    open_, followup = synced.open, synced.followup
    h.world.add_followup(open_, DINSOS, followup.payload["content"])  # as a blind retry after a timeout would

    report = check(h)
    assert _found(report) == {"followup_duplicated": (1, (followup.id,)), "thread_missing": (1, (open_,))}

    settle(h)
    stored = check(h)
    assert _found(stored) == {"followup_duplicated": (1, (followup.id,))}
    assert stored.duplicated == 1 and stored.followups_found == 2


def test_a_national_follow_up_with_a_token_the_outbox_does_not_know_is_reported(h: Harness, synced: Synced) -> None:
    stray = h.world.add_followup(synced.open, DINSOS, tag_content("LS-0123456789", "Dikirim dua kali?"))
    settle(h)

    report = check(h)
    assert _found(report) == {"followup_unknown": (1, (stray.id,))}


def test_a_delivered_follow_up_missing_on_lapor_is_lost(h: Harness, synced: Synced) -> None:
    open_, followup = synced.open, synced.followup
    with h.world.lock:
        complaint = h.world.complaint(open_)
        [posted] = [f for f in complaint.followups if f.content.startswith(f"[{followup.idempotency_key}]")]
        complaint.followups.remove(posted)

    report = check(h)
    assert _found(report) == {"followup_lost": (1, (followup.id,)), "thread_extra": (1, (open_,))}
    assert (report.followups_expected, report.followups_found, report.lost) == (2, 1, 1)


def test_follow_ups_that_reach_lapor_in_another_order_than_the_outbox(h: Harness) -> None:
    complaint_id = h.new_case()
    early = h.act(complaint_id, AgencyAction.FOLLOWUP, "Pertama.")
    late = h.act(complaint_id, AgencyAction.FOLLOWUP, "Kedua.")
    assert h.sync().pushed == 2
    settle(h)
    assert check(h).ok
    with h.world.lock:
        followups = h.world.complaint(complaint_id).followups
        first, second = sorted(followups, key=lambda f: f.id)
        first.created_at = second.created_at + timedelta(seconds=1)

    report = check(h)
    assert _found(report) == {"followup_out_of_order": (1, (complaint_id,))}
    assert h.outbox(early.id).state == h.outbox(late.id).state == "delivered"


def test_a_stale_national_status_and_a_completion_not_in_effect(h: Harness, synced: Synced) -> None:
    closed, open_ = synced.closed, synced.open
    _update(h, Case, h.case(open_).id, national_status_code=1)
    assert _found(check(h)) == {"status_stale": (1, (open_,))}

    with h.world.lock:
        h.world.complaint(closed).status_code = 2  # as if LAPOR! had never applied the completion
    report = check(h)
    assert _found(report) == {"status_stale": (2, (closed, open_)), "status_change_missing": (1, (synced.complete.id,))}


def test_thread_entries_missing_extra_and_unlinked(h: Harness, synced: Synced) -> None:
    closed, open_, followup = synced.closed, synced.open, synced.followup
    h.world.add_followup(open_, DISKOMINFO, "Ditangani langsung di LAPOR!.")  # staff posting on LAPOR! itself
    settle(h)
    assert check(h).ok
    _sql(h, delete(ThreadEntry).where(ThreadEntry.case_id == h.case(open_).id, ThreadEntry.origin == "national"))
    table = ThreadEntry.__table__  # type: ignore[attr-defined]
    with h.app.db.engine.begin() as conn:  # a copy of one of its entries, under a national id LAPOR! never gave
        copied = dict(conn.execute(select(table).where(table.c.case_id == h.case(closed).id)).mappings().first())
        del copied["id"]
        conn.execute(insert(table).values({**copied, "national_id": 99_999, "reference": None}))
    _update(h, ThreadEntry, followup.thread_entry_id, national_id=None)

    report = check(h)
    assert _found(report) == {
        "thread_missing": (1, (open_,)),
        "thread_extra": (1, (closed,)),
        "thread_unlinked": (1, (open_,)),
    }


def test_an_undelivered_row_breaks_a_final_check_only(h: Harness, synced: Synced) -> None:
    pending = h.act(synced.open, AgencyAction.FOLLOWUP, "Menunggu jadwal kunjungan.")

    final = check(h)
    assert not final.ok and _found(final) == {"outbox_not_delivered": (1, (pending.id,))}
    meanwhile = check(h, final=False)
    assert meanwhile.ok and meanwhile.count("outbox_not_delivered") == 1
    assert meanwhile.outbox_by_state == {"delivered": 3, "pending": 1}


def test_dead_and_cancelled_rows_need_a_reason(h: Harness, synced: Synced) -> None:
    dead = h.act(synced.open, AgencyAction.FOLLOWUP, "Satu.")
    cancelled = h.act(synced.open, AgencyAction.FOLLOWUP, "Dua.")
    _update(h, OutboxItem, dead.id, state="dead", last_error=None)
    _update(h, OutboxItem, cancelled.id, state="cancelled", last_error="  ")

    report = check(h)
    assert _found(report) == {
        "outbox_dead_without_reason": (1, (dead.id,)),
        "outbox_cancelled_without_reason": (1, (cancelled.id,)),
    }

    _update(h, OutboxItem, dead.id, last_error="refused by LAPOR!: HTTP 422: complaint is closed")
    _update(h, OutboxItem, cancelled.id, last_error="sent by phone instead")
    assert check(h).ok


def test_a_cursor_beyond_an_unstored_complaint(h: Harness, synced: Synced) -> None:
    cursor = h.cursor()
    assert cursor is not None
    overlap = timedelta(seconds=h.app.settings.overlap_seconds)
    skipped = h.add_complaint(disposition_id=DINSOS, dispositioned_at=cursor - overlap - timedelta(seconds=1))
    walked_again = h.add_complaint(disposition_id=DINSOS, dispositioned_at=cursor - overlap)

    report = check(h)
    assert _found(report) == {
        "complaint_lost": (2, (skipped.complaint_id, walked_again.complaint_id)),
        "cursor_passed_unstored": (1, (skipped.complaint_id,)),
    }


def test_the_command_exits_0_when_every_invariant_holds_and_1_otherwise(
    h: Harness, synced: Synced, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL", h.app.db.url)
    monkeypatch.setenv("COLUMNS", "300")
    state = tmp_path / "world.json"
    h.simulator.save(state)

    clean = invoke("check", "invariants", "--simulator-state", str(state), "--json")
    assert clean.exit_code == 0, clean.output
    body = json.loads(clean.stdout)
    assert (body["ok"], body["complaints"], body["lost"], body["duplicated"]) == (
        True,
        {"national": 2, "city": 2},
        0,
        0,
    )

    h.act(synced.open, AgencyAction.FOLLOWUP, "Belum terkirim.")
    broken = invoke("check", "invariants", "--simulator-state", str(state))
    assert broken.exit_code == 1
    assert "outbox_not_delivered" in broken.stdout and "1 invariant check(s) failed." in broken.stdout
    assert invoke("check", "invariants", "--simulator-state", str(state), "--not-final").exit_code == 0

    not_a_state = tmp_path / "other.json"
    not_a_state.write_text("{}")
    refused = invoke("check", "invariants", "--simulator-state", str(not_a_state))
    assert refused.exit_code == 2 and "not a simulator state file" in refused.output
