"""Every delivery attempt of an outbox row is kept (time, outcome, HTTP status, masked error), and pruned with the events.

On SQLite and PostgreSQL: the push on the in-memory fake platform, the App on a migrated database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from lapor_sync.app import App
from lapor_sync.config.settings import Settings
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.errors import AmbiguousWriteError, TransientError
from lapor_sync.storage.database import Database
from lapor_sync.sync.admin.outbox import attempts
from tests.support.city import CitySide
from tests.support.fake_platform import CITY, FakePlatform

LATER = timedelta(hours=2)  # past any backoff of an early failed attempt


@pytest.fixture
def city(database: Database, clock: ManualClock, clean_env: None) -> Iterator[CitySide]:
    """lapor-sync for Palangka Raya on ``database`` (SQLite and PostgreSQL), wired to an empty fake platform."""
    fake = FakePlatform(clock)
    settings = Settings(database_url=database.url, institution_id=CITY, initial_since=clock.now() - timedelta(days=1))
    app = App(settings, clock=clock)
    yield CitySide(app, fake, clock)
    app.db.dispose()


def _failing_twice_then_delivered(city: CitySide) -> int:
    """A follow-up whose first post fails (503), second is ambiguous (a timeout), third delivers; its row id."""
    fake = city.platform
    assert isinstance(fake, FakePlatform)
    complaint_id = fake.add_complaint().complaint_id
    city.sync(push=False)
    item = city.act(complaint_id, AgencyAction.FOLLOWUP, "Petugas sudah meninjau lokasi.")
    fake.fail_next("post_followup", TransientError("Service Unavailable", status=503))
    assert city.sync(pull=False).failed == 1
    city.clock.advance(LATER)
    fake.fail_next("post_followup", AmbiguousWriteError("transport failure (ReadTimeout) talking to the platform"))
    assert city.sync(pull=False).failed == 1
    city.clock.advance(LATER)
    assert city.sync(pull=False).pushed == 1
    assert item.id is not None
    return item.id


def test_a_row_that_failed_twice_then_delivered_shows_three_attempts_with_their_statuses(city: CitySide) -> None:
    start = city.clock.now()
    item_id = _failing_twice_then_delivered(city)

    row, tried = attempts(city.app.db, city.institution_id, item_id)

    assert (row.state, row.attempts) == ("delivered", 3)
    assert [(a.outcome, a.http_status) for a in tried] == [("failed", 503), ("ambiguous", None), ("delivered", None)]
    assert tried[0].error == "HTTP 503: Service Unavailable"
    assert "ReadTimeout" in (tried[1].error or "") and tried[2].error is None
    assert [a.at for a in tried] == [start, start + LATER, start + 2 * LATER]
    assert all(a.at.tzinfo is not None for a in tried)


def test_retention_prunes_old_attempts_with_the_events_and_keeps_the_row(city: CitySide) -> None:
    item_id = _failing_twice_then_delivered(city)
    city.clock.advance(timedelta(days=30) - LATER)  # the first attempt is now 30 days and 2 h old, the last 30 days

    run = city.service().retention(30)

    assert run.outcome == "ok"
    row, tried = attempts(city.app.db, city.institution_id, item_id)
    assert [a.outcome for a in tried] == ["ambiguous", "delivered"]
    assert (row.state, row.attempts) == ("delivered", 3)
    [pruned] = city.events("retention.pruned")
    assert "and 1 outbox attempt recorded before" in pruned.message
    [kept] = city.events("outbox.retry")  # the events go by the same cut-off: the first failure's is gone too
    assert "attempt 2" in kept.message
