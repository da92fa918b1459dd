"""A server's ``Retry-After`` is honoured up to ``LAPOR_SYNC_MAX_RETRY_AFTER_SECONDS``, whatever it says.

Huge numbers, epochs given as delays, dates centuries ahead are cut to the cap (and the cut is
logged); a value no reading makes sense of is no ``Retry-After`` at all.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
import respx

from lapor_sync.adapters.national import LaporClient, RetryPolicy, classify
from lapor_sync.app import App
from lapor_sync.config.settings import Settings
from lapor_sync.domain.errors import TransientError
from tests.support.national import BASE, TOKEN_URL, client_settings, oauth2_settings

NOW = datetime(2024, 10, 31, 12, 0, tzinfo=UTC)
EPOCH_SECONDS = str(int(NOW.timestamp()) + 60)  # "in a minute", sent where delta-seconds belong
EPOCH_MILLISECONDS = EPOCH_SECONDS + "000"
FOLLOWUP_ADD = f"{BASE}/complaints/followup/add"
CLASSIFY_LOG = "lapor_sync.adapters.national.classify"
CAPPED = {"http_timeout_seconds": 5.0, "max_retry_after_seconds": 600}  # the client's settings: the cap at 600 s


@pytest.mark.parametrize(
    "value",
    ["99999999999999999999", EPOCH_SECONDS, EPOCH_MILLISECONDS, "Fri, 31 Dec 9999 23:59:59 GMT", "9" * 400],
)
def test_a_huge_or_epoch_retry_after_is_cut_to_the_cap_and_the_cut_is_logged(
    value: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger=CLASSIFY_LOG):
        assert classify.parse_retry_after(value, NOW) == 3600.0

    assert "waiting 3600 s at most (LAPOR_SYNC_MAX_RETRY_AFTER_SECONDS)" in caplog.text


def test_a_date_too_far_for_any_calendar_is_no_retry_after() -> None:
    assert classify.parse_retry_after("Mon, 01 Jan 99999999999999999999 00:00:00 GMT", NOW) is None


def test_a_decimal_retry_after_is_read_as_seconds() -> None:
    assert classify.parse_retry_after("1.5", NOW) == 1.5


def test_a_429_to_a_follow_up_post_asks_at_most_the_configured_wait(
    router: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    router.post(FOLLOWUP_ADD).respond(429, headers={"Retry-After": "99999999999999999999"})

    with (
        caplog.at_level(logging.WARNING, logger=CLASSIFY_LOG),
        LaporClient.from_settings(client_settings(**CAPPED), retry=RetryPolicy.no_wait()) as lapor,
        pytest.raises(TransientError) as caught,
    ):
        lapor.post_followup(7, institution_id=6271, content="[LS-abc] ditindaklanjuti", is_secret=False)

    assert caught.value.retry_after == 600.0
    assert "waiting 600 s at most" in caplog.text


def test_the_token_endpoints_retry_after_is_cut_to_the_configured_wait(router: respx.MockRouter) -> None:
    router.post(TOKEN_URL).respond(503, headers={"Retry-After": EPOCH_MILLISECONDS})
    oauth2 = oauth2_settings(**CAPPED)

    with (
        LaporClient.from_settings(oauth2, retry=RetryPolicy.no_wait()) as lapor,
        pytest.raises(TransientError) as caught,
    ):
        lapor.list_categories()

    assert caught.value.retry_after == 600.0


def test_the_worker_client_takes_the_cap_from_the_settings(
    router: respx.MockRouter,
    clean_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LAPOR_SYNC_MAX_RETRY_AFTER_SECONDS", "600")
    router.get(f"{BASE}/complaints/7/complaint").respond(503, headers={"Retry-After": EPOCH_SECONDS})
    app = App(Settings(api_base_url=BASE, api_key="sim-api-key", api_token="{guid}"))

    with app.platform() as platform, pytest.raises(TransientError) as caught:
        platform.fetch_complaint(7)

    assert caught.value.retry_after == 600.0
