"""The sync logs for IT staff: ``log`` as log lines, ``log --follow``, and the ``runs`` filters."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlmodel import col, select

from lapor_sync.cli import logs
from lapor_sync.domain.clock import ManualClock
from lapor_sync.queries.tail import EventTail, newest_id
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import SyncEvent
from lapor_sync.sync.journal import Level, RunJournal
from tests.support.cli import CITY, Seeded, cli_env, invoke, invoke_json, seeded
from tests.support.factories import T0

__all__ = ["cli_env", "seeded"]  # fixtures

LATER = T0 + timedelta(days=5)


def _add_event(
    url: str,
    kind: str,
    message: str,
    *,
    level: Level = Level.INFO,
    tracking_id: str = "1900002",
    event_id: int | None = None,
) -> None:
    db = Database(url)
    with db.session() as session:
        session.add(
            SyncEvent(
                id=event_id,
                run_id=None,
                at=LATER,
                tracking_id=tracking_id,
                agency_code="DINKES",
                kind=kind,
                level=level.value,
                message=message,
            )
        )
        session.commit()
    db.dispose()


def test_log_prints_one_line_per_event_like_a_log_file(seeded: Seeded) -> None:
    lines = invoke("log", "--level", "warning").stdout.splitlines()

    assert lines == [
        "2024-07-04 09:00 WIB  #1900003  DISKOMINFO  warning  complaint.triage  Complaint #1900003 "
        "matched no routing rule (category 'Topik Lainnya', disposition 6271); sent to DISKOMINFO "
        "for triage."
    ]
    assert len(invoke("log").stdout.splitlines()) == 4
    assert "No sync events match" in invoke("log", "--kind", "outbox").stdout


def _polls(actions: list[Callable[[], None]]) -> Callable[[float], None]:
    """A sleep that runs one action per poll, then stops the command as Ctrl-C would."""
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) > len(actions):
            raise KeyboardInterrupt
        actions[len(waits) - 1]()

    return sleep


def test_follow_prints_new_matching_events_as_they_arrive_and_ctrl_c_exits_0(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        logs,
        "sleep",
        _polls(
            [
                lambda: _add_event(seeded.url, "complaint.updated", "Complaint #1900002 updated from LAPOR!: x."),
                lambda: None,
                lambda: _add_event(
                    seeded.url, "complaint.set_aside", "Complaint 3100009 set aside: y.", level=Level.WARNING
                ),
            ]
        ),
    )

    result = invoke("log", "--follow", "--level", "warning")

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split("  ")[4] for line in lines] == ["complaint.triage", "complaint.set_aside"]


def test_follow_with_json_prints_one_object_per_line(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        logs,
        "sleep",
        _polls(
            [
                lambda: _add_event(seeded.url, "complaint.updated", "Complaint #1900002 updated from LAPOR!: x."),
            ]
        ),
    )

    result = invoke("log", "-f", "--json", "--tracking-id", "1900002")

    assert result.exit_code == 0
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(o["kind"], o["tracking_id"]) for o in objects] == [
        ("complaint.created", "1900002"),
        ("complaint.updated", "1900002"),
    ]
    assert objects[1]["at"] == LATER.isoformat()
    assert invoke("log", "--follow", "--until", "2024-07-04").exit_code == 2


def test_a_late_committing_lower_id_is_still_followed(seeded: Seeded) -> None:
    db = Database(seeded.url)
    with db.session() as session:
        top = max(session.exec(select(col(SyncEvent.id))).all())
    tail = EventTail(db, select(SyncEvent), after_id=top)
    _add_event(seeded.url, "complaint.updated", "second", event_id=top + 2)

    assert [e.message for e in tail.poll()] == ["second"]
    assert tail.gaps == {top + 1: 30}
    _add_event(seeded.url, "complaint.updated", "first, committed later", event_id=top + 1)
    assert [e.message for e in tail.poll()] == ["first, committed later"]
    assert tail.gaps == {} and tail.poll() == []
    db.dispose()


def test_log_follow_started_while_a_lower_id_is_uncommitted_still_shows_it(tmp_path) -> None:
    # On PostgreSQL an event id is taken at insert: `log -f` may start after a higher id committed
    # and before a lower one did; that lower one was in neither the first listing nor the tail.
    db = Database(f"sqlite:///{tmp_path / 'events.db'}")
    db.upgrade()
    with db.session() as session:
        for event_id in (1, 3):
            session.add(
                SyncEvent(
                    id=event_id, run_id=None, at=T0, kind="complaint.updated", level="info", message=f"event {event_id}"
                )
            )
        session.commit()
    tail = EventTail(db, select(SyncEvent), after_id=newest_id(db))
    with db.session() as session:
        session.add(
            SyncEvent(
                id=2, run_id=None, at=T0, kind="complaint.updated", level="info", message="event 2, committed late"
            )
        )
        session.commit()

    assert [e.message for e in tail.poll()] == ["event 2, committed late"]
    assert tail.poll() == []
    db.dispose()


def test_runs_filter_by_job_trigger_and_outcome(seeded: Seeded) -> None:
    db = Database(seeded.url)
    RunJournal(db, ManualClock(LATER), CITY, "resync", "manual").start().finish()
    db.dispose()

    assert [r["job"] for r in invoke_json("runs", "--job", "resync")] == ["resync"]
    assert [r["id"] for r in invoke_json("runs", "--trigger", "schedule")] == [seeded.failed_run]
    assert [r["job"] for r in invoke_json("runs", "--outcome", "ok")] == ["resync", "pull"]
    assert invoke_json("runs", "--job", "push", "--outcome", "ok") == []
    assert "resync" in invoke("runs", "--trigger", "MANUAL").stdout
