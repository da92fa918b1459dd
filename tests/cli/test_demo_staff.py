"""The demo's simulated staff: what one round does to each open case, reading every case's thread at once."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from lapor_sync.adapters.city.builtin import BuiltinCityRecords
from lapor_sync.config.mapping_file import load_mapping
from lapor_sync.demo.plan import Outcome
from lapor_sync.demo.staff import SimulatedStaff, StaffRound
from lapor_sync.domain.clock import ManualClock
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import OutboxItem
from tests.support.cli import Seeded, cli_env, seeded
from tests.support.factories import T0

__all__ = ["cli_env", "seeded"]  # fixtures


def staff_round(seeded: Seeded, outcomes: dict[int, Outcome]) -> tuple[StaffRound, list[tuple[int, str]]]:
    """One round on the seeded cases, committed; returns what it did and the outbox's (case, kind) rows."""
    db, mapping = Database(seeded.url), load_mapping()
    with db.session() as session:
        records = BuiltinCityRecords(session, mapping=mapping, clock=ManualClock(T0 + timedelta(days=4)))
        done = SimulatedStaff(mapping, outcomes).work(records, last_round=False)
        session.commit()
        rows = [(row.case_id, row.kind) for row in session.exec(select(OutboxItem).order_by(OutboxItem.id))]
    db.dispose()
    return done, rows


def test_each_open_case_is_worked_by_its_own_thread_and_a_requested_case_is_left_alone(seeded: Seeded) -> None:
    # Seeded threads: the public case has a reporter reply and then our follow-up; the triage case
    # our (dead) follow-up; the secret case nothing of ours.
    outcomes = {3_100_001: Outcome.IN_PROCESS, 3_100_002: Outcome.RETURN, 3_100_003: Outcome.COMPLETE}
    first, rows = staff_round(seeded, outcomes)

    assert first == StaffRound(followups=0, completions=1, requests=1)
    assert rows[2:] == [(seeded.secret_case, "return"), (seeded.triage_case, "complete")]

    second, rows_after = staff_round(seeded, outcomes)
    assert second == StaffRound() and rows_after == rows  # returned case waits for the admin; nothing new to say
