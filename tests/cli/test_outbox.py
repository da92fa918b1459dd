"""``lapor-sync outbox show``, ``retry`` and ``cancel``: what they show, change and refuse, and the audit events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from lapor_sync.domain.clock import SystemClock
from lapor_sync.storage.database import Database
from lapor_sync.storage.lease import Leases
from lapor_sync.storage.models import OutboxAttempt, OutboxItem, SyncEvent
from lapor_sync.sync.admin.outbox import OutboxRefused
from tests.support.cli import CITY, Seeded, cli_env, invoke, invoke_json, outbox_row, seeded

__all__ = ["cli_env", "seeded"]  # fixtures


@pytest.fixture(autouse=True)
def admin_user(monkeypatch: pytest.MonkeyPatch) -> str:
    """The OS user the commands name in their events."""
    monkeypatch.setattr("getpass.getuser", lambda: "ops-admin")
    return "ops-admin"


def _set(url: str, item_id: int, **values: object) -> None:
    db = Database(url)
    with db.session() as session:
        row = session.get(OutboxItem, item_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)
        session.commit()
    db.dispose()


def _events(url: str, kind: str) -> list[SyncEvent]:
    db = Database(url)
    with db.session() as session:
        found = list(session.exec(select(SyncEvent).where(SyncEvent.kind == kind).order_by(SyncEvent.id)))
    db.dispose()
    return found


def test_retry_puts_a_dead_row_back_due_now_with_attempts_reset_and_readback_kept(seeded: Seeded) -> None:
    _set(seeded.url, seeded.dead_outbox, needs_readback=True)
    before = datetime.now(UTC)

    [row] = invoke_json("outbox", "retry", str(seeded.dead_outbox))

    stored = outbox_row(seeded.url, seeded.dead_outbox)
    assert (row["id"], row["state"], row["attempts"]) == (seeded.dead_outbox, "pending", 0)
    assert (stored.state, stored.attempts, stored.needs_readback) == ("pending", 0, True)
    assert before <= stored.next_attempt_at <= datetime.now(UTC)
    [event] = _events(seeded.url, "outbox.requeued")
    assert event.run_id is None and event.tracking_id == stored.tracking_id and event.agency_code == "DISKOMINFO"
    assert "requeued by ops-admin" in event.message and "HTTP 422: complaint is closed" in event.message
    assert "read back" in event.message
    assert [e["kind"] for e in invoke_json("log", "--kind", "outbox")] == ["outbox.requeued"]


def test_retry_dead_takes_every_dead_row_and_says_when_there_is_none(seeded: Seeded) -> None:
    _set(seeded.url, seeded.pending_outbox, state="dead", attempts=8, last_error="gave up")

    rows = invoke_json("outbox", "retry", "--dead")

    assert sorted(r["id"] for r in rows) == sorted([seeded.pending_outbox, seeded.dead_outbox])
    assert invoke_json("outbox", "--state", "dead") == []
    assert len(_events(seeded.url, "outbox.requeued")) == 2
    again = invoke("outbox", "retry", "--dead")
    assert again.exit_code == 0 and "No dead outbox rows" in again.stdout


def test_retry_refuses_rows_in_flight_or_delivered_and_needs_one_target(seeded: Seeded) -> None:
    _set(seeded.url, seeded.dead_outbox, state="delivered")
    _set(seeded.url, seeded.pending_outbox, state="sending")

    for item in (seeded.dead_outbox, seeded.pending_outbox, 999):
        result = invoke("outbox", "retry", str(item))
        assert isinstance(result.exception, OutboxRefused), item
    assert "delivered: LAPOR! has it" in str(invoke("outbox", "retry", str(seeded.dead_outbox)).exception)
    assert invoke("outbox", "retry").exit_code == 2
    assert invoke("outbox", "retry", "1", "--dead").exit_code == 2
    assert _events(seeded.url, "outbox.requeued") == []


def test_cancel_gives_up_a_pending_row_with_the_reason_and_who(seeded: Seeded) -> None:
    row = invoke_json("outbox", "cancel", str(seeded.pending_outbox), "--reason", "posted by hand on lapor.go.id")

    assert (row["state"], row["last_error"]) == ("cancelled", "posted by hand on lapor.go.id")
    assert outbox_row(seeded.url, seeded.pending_outbox).state == "cancelled"
    [event] = _events(seeded.url, "outbox.cancelled")
    assert event.level == "warning" and event.agency_code == "DINSOS"
    assert "cancelled by ops-admin (was pending): posted by hand on lapor.go.id" in event.message
    assert [r["id"] for r in invoke_json("outbox", "--state", "cancelled")] == [seeded.pending_outbox]


def test_cancel_refuses_delivered_sending_and_cancelled_rows_and_needs_a_reason(seeded: Seeded) -> None:
    for state in ("delivered", "sending", "cancelled"):
        _set(seeded.url, seeded.pending_outbox, state=state)
        result = invoke("outbox", "cancel", str(seeded.pending_outbox), "--reason", "salah kirim")
        assert isinstance(result.exception, OutboxRefused), state
        assert outbox_row(seeded.url, seeded.pending_outbox).state == state
    assert invoke("outbox", "cancel", str(seeded.dead_outbox)).exit_code == 2  # --reason is required
    assert isinstance(invoke("outbox", "cancel", str(seeded.dead_outbox), "--reason", " ").exception, OutboxRefused)
    assert _events(seeded.url, "outbox.cancelled") == []


def test_cancel_does_not_wait_for_a_running_push(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    # A push claims a row only while it is still pending, so a cancelled row is never sent: no lease needed.
    monkeypatch.setenv("LAPOR_SYNC_LEASE_WAIT_SECONDS", "0")
    db = Database(seeded.url)
    try:
        with Leases(db, SystemClock(), "web01:4242 worker").hold(
            "push", institution_id=CITY, renew_in_background=False
        ):
            row = invoke_json("outbox", "cancel", str(seeded.dead_outbox), "--reason", "duplikat")
    finally:
        db.dispose()

    assert row["state"] == "cancelled" and outbox_row(seeded.url, seeded.dead_outbox).state == "cancelled"


def test_cancel_refuses_a_row_claimed_by_a_push_naming_the_claimer(seeded: Seeded) -> None:
    _set(seeded.url, seeded.pending_outbox, state="sending", claimed_by="web01:4242 worker @77-0a1b2c3d")

    result = invoke("outbox", "cancel", str(seeded.pending_outbox), "--reason", "salah kirim")

    assert isinstance(result.exception, OutboxRefused)
    assert "being sent by web01:4242 worker @77-0a1b2c3d" in str(result.exception)
    [row] = invoke_json("outbox", "--state", "sending")
    assert row["claimed_by"] == "web01:4242 worker @77-0a1b2c3d"


def test_show_lists_a_rows_attempts_oldest_first_with_status_and_error(seeded: Seeded) -> None:
    first = datetime(2024, 1, 5, 2, 0, tzinfo=UTC)  # 09:00 WIB
    db = Database(seeded.url)
    with db.session() as session:
        session.add(OutboxAttempt(outbox_id=seeded.dead_outbox, at=first, outcome="failed", http_status=503, error="x"))
        later = first + timedelta(hours=1)
        session.add(OutboxAttempt(outbox_id=seeded.dead_outbox, at=later, outcome="dead_lettered", http_status=422))
        session.commit()
    db.dispose()

    shown = invoke_json("outbox", "show", str(seeded.dead_outbox))
    table = invoke("outbox", "show", str(seeded.dead_outbox))

    assert (shown["id"], shown["state"]) == (seeded.dead_outbox, "dead")
    assert shown["attempt_history"] == [
        {"at": "2024-01-05T02:00:00+00:00", "outcome": "failed", "http_status": 503, "error": "x"},
        {"at": "2024-01-05T03:00:00+00:00", "outcome": "dead_lettered", "http_status": 422, "error": None},
    ]
    assert table.exit_code == 0
    assert "2024-01-05 09:00 WIB" in table.stdout and "dead_lettered" in table.stdout and "503" in table.stdout
    assert invoke_json("outbox", "show", str(seeded.pending_outbox))["attempt_history"] == []
    assert "Attempts: none." in invoke("outbox", "show", str(seeded.pending_outbox)).stdout


def test_show_of_an_unknown_row_is_a_one_line_error(seeded: Seeded) -> None:
    result = invoke("outbox", "show", "999")

    assert isinstance(result.exception, OutboxRefused)
    assert str(result.exception) == "no outbox row 999; see `lapor-sync outbox`"
