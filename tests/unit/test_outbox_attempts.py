"""What each delivery outcome leaves in a row's attempt history, and what the history never holds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.errors import (
    ItemRejectedError,
    LaporSyncError,
    Layer,
    QuotaExceededError,
    RunStoppingError,
    TransientError,
)
from lapor_sync.storage.models import OutboxAttempt
from lapor_sync.sync.admin.outbox import attempts
from tests.support.city import CitySide
from tests.support.fake_platform import FakePlatform
from tests.unit.test_pusher import new_case, one_at_a_time, push


def _history(city: CitySide, item_id: int | None) -> list[OutboxAttempt]:
    assert item_id is not None
    return attempts(city.app.db, city.institution_id, item_id)[1]


@pytest.mark.parametrize(
    ("error", "outcome", "status", "counted"),
    [
        (ItemRejectedError("The given data was invalid.", status=422), "dead_lettered", 422, 1),
        (
            QuotaExceededError("fault 900800 Message throttled out", status=429, layer=Layer.GATEWAY),
            "throttled",
            429,
            0,
        ),
        (RunStoppingError("Unauthenticated.", status=401), "stopped", 401, 0),
    ],
    ids=["refused", "throttled", "run-stopping"],
)
def test_each_outcome_is_an_attempt_with_its_http_status_and_rows_left_untried_have_none(
    city: CitySide, fake: FakePlatform, error: LaporSyncError, outcome: str, status: int, counted: int
) -> None:
    tried = city.act(new_case(city, fake), AgencyAction.FOLLOWUP)
    untried = city.act(new_case(city, fake), AgencyAction.FOLLOWUP)
    fake.fail_next("post_followup", error)
    one_at_a_time(city)  # the second row is never started when the first stops the run

    push(city)

    [attempt] = _history(city, tried.id)
    assert (attempt.outcome, attempt.http_status, attempt.at) == (outcome, status, city.clock.now())
    assert str(status) in (attempt.error or "")
    assert city.outbox(tried.id).attempts == counted  # a throttle or a stop is not one of the row's attempts
    if outcome != "dead_lettered":
        assert _history(city, untried.id) == []


def test_the_last_attempt_allowed_is_dead_lettered(city: CitySide, fake: FakePlatform) -> None:
    item = city.act(new_case(city, fake), AgencyAction.FOLLOWUP)
    pusher = city.service().pusher
    for _ in range(pusher.options.max_attempts):
        fake.fail_next("post_followup", TransientError("Service Unavailable", status=503))
        push(city)
        city.clock.advance(timedelta(days=1))

    history = _history(city, item.id)

    assert [a.outcome for a in history] == ["failed"] * (pusher.options.max_attempts - 1) + ["dead_lettered"]
    assert "gave up after" not in (history[-1].error or "")  # the attempt's own error; the row says it gave up
    assert city.outbox(item.id).state == "dead"


def test_an_attempts_error_never_keeps_reporters_data_nor_the_text_sent(city: CitySide, fake: FakePlatform) -> None:
    text = "Petugas sudah meninjau lokasi di Jalan Kenanga 7."
    item = city.act(new_case(city, fake), AgencyAction.FOLLOWUP, text)
    quoted = f"upstream rejected '{text}' from budi@contoh.id, 0813-9999-0000"
    fake.fail_next("post_followup", TransientError(quoted, status=502))

    push(city)

    [attempt] = _history(city, item.id)
    assert attempt.http_status == 502 and attempt.error is not None
    for secret in (text, "budi@contoh.id", "0813-9999-0000"):
        assert secret not in attempt.error
