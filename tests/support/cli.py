"""Shared set-up of the CLI tests: the real ``lapor-sync`` app, a temp SQLite database and seeded records.

Records are made the way a pull makes them (BuiltinCityRecords.receive plus the journal's events), so
what the CLI reads is what sync writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import typer
from click.testing import Result
from sqlmodel import Session
from typer.testing import CliRunner

from lapor_sync.adapters.city.builtin import BuiltinCityRecords
from lapor_sync.cli.app import app
from lapor_sync.cli.simulator import register as register_simulator
from lapor_sync.config.mapping_file import load_mapping
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.complaint import AuthorType, ComplaintSnapshot, Reporter
from lapor_sync.domain.ports import Received
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import OutboxItem, SetAsideRecord
from lapor_sync.sync.cursor import advance_cursor
from lapor_sync.sync.journal import RunJournal, insert_events
from lapor_sync.sync.receive import record_receipt
from lapor_sync.sync.service import sync_agencies
from tests.support.factories import T0, complaint, followup, snapshot

CITY = 6271
# Fictitious personal data that must never show in listings or the log.
PERSONAL = ("Budi Contoh", "budi@contoh.id", "0812-0000-0001", "Siti Rahasia", "siti@contoh.id", "0813-9999")
SECRET_TITLE = "Pungli di loket puskesmas"
SECRET_CONTENT = "Petugas meminta uang tambahan."


def receive_as_pulled(
    session: Session, journal: RunJournal, records: BuiltinCityRecords, snap: ComplaintSnapshot
) -> Received:
    """Store ``snap`` as a pull would: routed and mapped by ``records``' mapping, with the receipt's events."""
    c, mapping = snap.complaint, records.mapping
    routing = mapping.route(c.disposition_id, c.category_id, c.category_name)
    state = mapping.case_state_for(c.status_code)
    received = records.receive(snap, agency_code=routing.agency_code, routing_rule=routing.rule, state=state)
    events: list[dict[str, Any]] = []
    record_receipt(events, journal, snap, received, routing, state)
    insert_events(session.connection(), events)
    return received


def simulator_app() -> typer.Typer:
    """A CLI app with only the ``simulator`` command (no settings, no logging set up), as it is registered."""
    app = typer.Typer()
    register_simulator(app)

    @app.callback()
    def main() -> None:
        """Keep ``simulator`` a named sub-command even when it is the only one."""

    return app


def invoke(*args: str) -> Result:
    """Run ``lapor-sync *args`` in-process (exceptions stay in ``result.exception``)."""
    return CliRunner().invoke(app, list(args))


def invoke_json(*args: str) -> Any:
    """Run ``lapor-sync *args --json``, check it succeeded, and return the parsed JSON."""
    result = invoke(*args, "--json")
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


@dataclass(frozen=True)
class Seeded:
    """What :func:`seed` created: case ids, run ids and the database URL."""

    url: str
    public_case: int  # DINSOS, reporter known, one reporter reply
    secret_case: int  # DINKES by category, confidential
    triage_case: int  # anonymous, no route: DISKOMINFO triage
    pull_run: int
    failed_run: int
    pending_outbox: int
    dead_outbox: int


@pytest.fixture
def cli_env(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, clean_env: None) -> str:
    """Point the CLI at an empty temp SQLite database, with no other LAPOR_SYNC_* setting; return its URL."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "400")  # wide tables: no value is wrapped across lines
    return url


@pytest.fixture
def seeded(cli_env: str) -> Seeded:
    """The temp database with three received cases, two runs, outbox rows, a set-aside record and a cursor."""
    return seed(cli_env)


def _snapshots() -> list[ComplaintSnapshot]:
    reply = followup(
        1, "Terima kasih, mohon segera ditindaklanjuti.", author=AuthorType.REPORTER, at=T0 + timedelta(hours=1)
    )
    public = snapshot(complaint(3_100_001), thread=(reply,))
    secret = snapshot(
        complaint(
            3_100_002,
            title=SECRET_TITLE,
            content=SECRET_CONTENT,
            is_secret=True,
            category_id=12,
            category_name="Kesehatan",
            disposition_id=CITY,
            disposition_name="Pemerintah Kota Palangka Raya",
            reporter=Reporter("Siti Rahasia", "siti@contoh.id", "0813-9999-0000"),
            created_at=T0 + timedelta(days=1),
        )
    )
    triage = snapshot(
        complaint(
            3_100_003,
            title="Saran umum",
            is_anonymous=True,
            reporter=None,
            category_id=43,
            category_name="Topik Lainnya",
            disposition_id=CITY,
            disposition_name="Pemerintah Kota Palangka Raya",
            created_at=T0 + timedelta(days=2),
        )
    )
    return [public, secret, triage]


def seed(url: str) -> Seeded:
    """Fill the database at ``url`` as a pull, staff actions and a failed push run would."""
    db, mapping, clock = Database(url), load_mapping(), ManualClock(T0 + timedelta(days=3))
    db.upgrade()
    journal = RunJournal(db, clock, CITY, "pull", "command").start()
    with db.session() as session:
        sync_agencies(session, mapping)
        records = BuiltinCityRecords(session, mapping=mapping, clock=clock)
        ids = [receive_as_pulled(session, journal, records, snap).case_id for snap in _snapshots()]
        advance_cursor(session, CITY, T0 + timedelta(days=2), clock.now())
        session.add(
            SetAsideRecord(
                institution_id=CITY,
                run_id=journal.run_id,
                complaint_id=3_100_009,
                reason="created_at: not a date",
                raw="{}",
                first_seen_at=clock.now(),
                last_seen_at=clock.now(),
            )
        )
        session.commit()
        journal.counts.fetched = journal.counts.created = 3
    journal.finish()
    with db.session() as session:
        records = BuiltinCityRecords(session, mapping=mapping, clock=clock)
        pending = records.act(
            records.get_case(case_id=ids[0]),
            AgencyAction.FOLLOWUP,
            institution_id=627104,
            content="Petugas akan survei lokasi.",
        )
        dead = records.act(
            records.get_case(case_id=ids[2]),
            AgencyAction.FOLLOWUP,
            institution_id=627110,
            content="Diteruskan ke bagian terkait.",
        )
        dead.state, dead.attempts, dead.last_error = "dead", 8, "HTTP 422: complaint is closed"
        session.add(dead)
        session.commit()
    failed = RunJournal(db, clock, CITY, "push", "schedule").start()
    failed.finish(error="HTTP 401: token expired")
    db.dispose()
    return Seeded(url, *ids, journal.run_id, failed.run_id, pending.id, dead.id)


def outbox_row(url: str, item_id: int) -> OutboxItem:
    """Read one outbox row back."""
    db = Database(url)
    with db.session() as session:
        row = session.get(OutboxItem, item_id)
    db.dispose()
    assert row is not None
    return row


def utc(text: str) -> datetime:
    """Parse an ISO datetime printed by ``--json`` and check it is UTC."""
    value = datetime.fromisoformat(text)
    assert value.utcoffset() == timedelta(0)
    return value.astimezone(UTC)
