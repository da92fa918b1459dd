"""LaporClient under the SPLP gateway's quota, on respx: turns, the throttle answer, the token renewal (CONTRACT §7)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx
from pydantic import SecretStr

from lapor_sync.adapters.national import LaporClient, RetryPolicy, StaticKeyAuth
from lapor_sync.adapters.national.auth import OAuth2ClientCredentialsAuth
from lapor_sync.adapters.national.quota import Quota
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.errors import Layer, QuotaExceededError, RunStoppingError, TransientError
from tests.support.national import BASE, TOKEN_URL
from tests.unit.test_quota import FakeTime

CATEGORIES = {"results": [{"id": 1, "name": "Agama", "parent_id": 0}]}
THROTTLED = {
    "fault": {"code": 900800, "message": "Message throttled out", "description": "You have exceeded your quota"}
}
API_KEY = "sim-api-key-0123456789"
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


class Heard:
    """A quota listener that keeps what it is told."""

    def __init__(self) -> None:
        self.until: list[datetime] = []
        self.waited: list[float] = []

    def waiting_on_quota(self, until: datetime) -> None:
        self.until.append(until)

    def waited_on_quota(self, seconds: float) -> None:
        self.waited.append(seconds)


def client(time: FakeTime, per_minute: int = 0, *, clock: ManualClock | None = None, **options: object) -> LaporClient:
    limiter = Quota(per_minute, monotonic=time.monotonic, sleep=time.sleep)
    options.setdefault("retry", RetryPolicy.no_wait())
    return LaporClient(
        BASE, StaticKeyAuth(API_KEY, "{guid}"), quota=limiter, clock=clock or ManualClock(NOW), **options
    )  # type: ignore[arg-type]


def test_429_without_retry_after_waits_the_quota_window_then_succeeds(router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/categories").mock(
        side_effect=[httpx.Response(429, json=THROTTLED), httpx.Response(200, json=CATEGORIES)]
    )
    time, heard = FakeTime(), Heard()
    with client(time, 10) as lapor:
        lapor.report_quota_to(heard)
        assert len(lapor.list_categories()) == 1

    assert route.call_count == 2 and time.sleeps == [pytest.approx(65)]
    assert heard.waited == [pytest.approx(65)] and heard.until == [NOW + timedelta(seconds=65)]


@pytest.mark.parametrize("write", [False, True])
def test_a_second_429_stops_as_a_quota_error_not_an_ambiguous_write(router: respx.MockRouter, write: bool) -> None:
    route = (router.post(f"{BASE}/complaints/process/7/status") if write else router.get(f"{BASE}/categories")).respond(
        429, json=THROTTLED
    )
    with client(FakeTime(), quota_wait_seconds=30) as lapor, pytest.raises(QuotaExceededError) as caught:
        if write:
            lapor.set_status(7, status_code=2, note="x")
        else:
            lapor.list_categories()

    assert route.call_count == 2  # the first and its one more try: no backoff loop on a throttle answer
    error = caught.value
    assert error.layer is Layer.GATEWAY and error.fault_code == 900800
    assert str(error).startswith("SPLP gateway refused: HTTP 429: fault 900800 Message throttled out; ")
    assert str(error).endswith(
        "throttled: the quota is spent, nothing was applied; again after the 30 s wait (the next run goes on; is LAPOR_SYNC_REQUESTS_PER_MINUTE above the key's tier?)"
    )


def test_the_quota_turns_each_request_and_tells_the_listener(router: respx.MockRouter) -> None:
    router.get(f"{BASE}/categories").respond(json=CATEGORIES)
    clock, time, heard = ManualClock(NOW), FakeTime(), Heard()
    with client(time, 3, clock=clock) as lapor:
        lapor.report_quota_to(heard)
        for _ in range(4):
            lapor.list_categories()

    assert time.sleeps == [pytest.approx(60)]
    assert heard.until == [NOW + timedelta(seconds=60)] and heard.waited == [pytest.approx(60)]


def test_a_quota_wait_is_not_spent_from_the_retry_budget(router: respx.MockRouter) -> None:
    # A 60 s wait for the turn, then a 503 retried: the 30 s retry budget is the call's, not the queue's.
    route = router.get(f"{BASE}/categories").mock(
        side_effect=[
            httpx.Response(200, json=CATEGORIES),
            httpx.Response(503, text="busy"),
            httpx.Response(200, json=CATEGORIES),
        ]
    )
    time = FakeTime()
    with client(time, 1, retry=RetryPolicy.no_wait(max_total_seconds=30)) as lapor:
        lapor.list_categories()
        lapor.list_categories()

    assert route.call_count == 3 and time.sleeps == [pytest.approx(60), pytest.approx(60)]


def test_a_stop_during_the_quota_wait_sends_nothing(router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/categories").respond(json=CATEGORIES)
    stop = threading.Event()
    time = FakeTime(on_sleep=lambda _event: stop.set())
    with client(time, 1, retry=RetryPolicy.no_wait(interrupt=stop)) as lapor:
        lapor.list_categories()
        with pytest.raises(TransientError, match="stopped while waiting on the request quota"):
            lapor.list_categories()

    assert route.call_count == 1


def test_token_expired_fault_renews_once_then_stops_naming_the_gateway(router: respx.MockRouter) -> None:
    clock = ManualClock(NOW)
    token_route = router.post(TOKEN_URL).mock(
        side_effect=lambda request: httpx.Response(200, json={"access_token": "tok-123456", "expires_in": 3600})
    )
    expired = {"fault": {"code": "900903", "message": "Access Token Expired", "description": "Renew the token"}}
    api_route = router.get(f"{BASE}/categories").respond(401, json=expired)
    auth = OAuth2ClientCredentialsAuth(
        TOKEN_URL, "sim-client", SecretStr("sim-secret"), SecretStr(API_KEY), SecretStr("{guid}"), clock=clock
    )
    with (
        LaporClient(BASE, auth, retry=RetryPolicy.no_wait(), clock=clock) as lapor,
        pytest.raises(RunStoppingError) as caught,
    ):
        lapor.list_categories()

    assert token_route.call_count == 2 and api_route.call_count == 2  # exactly one renewal, one resend
    assert caught.value.fault_code == 900903 and caught.value.layer is Layer.GATEWAY
    assert str(caught.value).startswith("SPLP gateway refused: HTTP 401: fault 900903 access token expired; ")
    assert "tok-123456" not in str(caught.value) and API_KEY not in str(caught.value)
