"""End to end under the SPLP gateway: a pull waiting on the quota, stopped and resumed; refusals naming their layer.

The served simulator plays LAPOR!; the quota's clock is a fake one, so no test waits a minute.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from lapor_sync.adapters.national import LaporClient, RetryPolicy, StaticKeyAuth
from lapor_sync.adapters.national.quota import Quota
from lapor_sync.app import App
from lapor_sync.domain.errors import Layer
from lapor_sync.reports.health import assess
from lapor_sync.simulator import Credentials
from lapor_sync.simulator.catalog import category_id
from lapor_sync.storage.models import SyncEvent
from tests.support.e2e import DINSOS, FaultInjector, Harness, harness, settings_for, small_world
from tests.unit.test_quota import FakeTime

pytestmark = pytest.mark.e2e
SOSIAL = category_id("Sosial dan Kesejahteraan")
CREDENTIALS = Credentials()


class Counting(FaultInjector):
    """Forwards to the simulator and keeps the path of every request."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Note the path, then forward."""
        self.paths.append(request.url.path)
        return super().handle_request(request)

    def details(self) -> int:
        """Detail reads (``/complaints/{id}/complaint``) made so far."""
        return sum(path.endswith("/complaint") for path in self.paths)


def quota_client(
    h: Harness, transport: httpx.BaseTransport, quota: Quota | None, stop: threading.Event | None = None
) -> LaporClient:
    auth = StaticKeyAuth(CREDENTIALS.api_key, CREDENTIALS.app_token)
    retry = RetryPolicy.no_wait(interrupt=stop)
    return LaporClient(h.base_url, auth, retry=retry, clock=h.clock, transport=transport, quota=quota)


def six_complaints(h: Harness) -> list[int]:
    ids = [h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL).complaint_id for _ in range(6)]
    h.advance(timedelta(minutes=10))  # past the overlap window: a stored read of them is settled
    return ids


def limiter(per_minute: int, on_sleep: Callable[[threading.Event | None], None] | None = None) -> Quota:
    time = FakeTime(on_sleep=on_sleep)
    return Quota(per_minute, monotonic=time.monotonic, sleep=time.sleep)


def test_a_pull_stopped_while_waiting_on_the_quota_resumes_without_loss_or_reading_all_again(tmp_path: Path) -> None:
    with harness(small_world(), f"sqlite:///{tmp_path / 'e2e.db'}", fetch_concurrency=1) as h:
        ids = six_complaints(h)
        stop = threading.Event()
        first = Counting()
        # 7 a minute: the inbox page, then detail and follow-ups of three complaints; the fourth
        # detail waits for its turn, and the worker's SIGTERM comes during that wait.
        with quota_client(h, first, limiter(7, on_sleep=lambda _event: stop.set()), stop) as platform:
            interrupted = h.app.sync_service(platform, stop=stop).run(push=False)
        stored = {case.complaint_id for case in h.cases()}

        assert interrupted.outcome == "interrupted" and len(first.paths) == 7
        assert stored == set(ids[:3])

        second = Counting()
        with quota_client(h, second, None) as platform:
            resumed = h.sync(push=False, platform=platform)

        assert resumed.outcome == "ok" and {case.complaint_id for case in h.cases()} == set(ids)
        assert second.details() == 3, second.paths  # the three stored before the stop are not read again


def test_a_run_counts_its_quota_waits_and_status_shows_one_under_way(tmp_path: Path) -> None:
    with harness(small_world(), f"sqlite:///{tmp_path / 'e2e.db'}", fetch_concurrency=1) as h:
        six_complaints(h)
        seen: list[list[dict[str, object]]] = []

        def look(_stop: threading.Event | None) -> None:
            if not seen:  # another process would run `lapor-sync status` now
                seen.append(assess(h.app.db, h.app.mapping, h.app.settings, h.clock).as_dict()["quota_waits"])

        with quota_client(h, FaultInjector(), limiter(5, on_sleep=look)) as platform:
            run = h.sync(push=False, platform=platform)

        # 13 requests at 5 a minute: two waits of 60 s.
        assert run.outcome == "ok" and run.quota_waited_seconds == 120
        [[waiting]] = seen
        assert waiting["run_id"] == run.id and waiting["job"] == "pull"
        assert waiting["until"] == h.clock.now() + timedelta(seconds=60)
        facts = assess(h.app.db, h.app.mapping, h.app.settings, h.clock).as_dict()
        assert facts["quota_waits"] == []  # the run is over


def answering(status: int, body: bytes, content_type: str) -> httpx.MockTransport:
    return httpx.MockTransport(
        lambda request: httpx.Response(status, content=body, headers={"content-type": content_type})
    )


JSON_900901 = b'{"fault": {"code": 900901, "message": "Invalid Credentials", "description": "Invalid Credentials"}}'
XML_900908 = (
    b'<ams:fault xmlns:ams="http://wso2.org/apimanager/security"><ams:code>900908</ams:code>'
    b"<ams:message>Resource forbidden </ams:message><ams:description>User is NOT authorized</ams:description>"
    b"</ams:fault>"
)


@pytest.mark.parametrize(
    ("status", "body", "content_type", "layer", "start"),
    [
        (401, JSON_900901, "application/json", Layer.GATEWAY, "SPLP gateway refused: HTTP 401: fault 900901"),
        (403, XML_900908, "application/xml", Layer.GATEWAY, "SPLP gateway refused: HTTP 403: fault 900908"),
        (401, b'{"message": "Unauthenticated."}', "application/json", Layer.LAPOR, "LAPOR! refused: HTTP 401: "),
    ],
)
def test_a_refused_run_says_which_layer_refused_in_its_error_and_event(
    tmp_path: Path, status: int, body: bytes, content_type: str, layer: Layer, start: str
) -> None:
    base = "http://127.0.0.1:9/lapor/3.0.0"
    app = App(settings_for(f"sqlite:///{tmp_path / 'refused.db'}", base))
    auth = StaticKeyAuth(CREDENTIALS.api_key, CREDENTIALS.app_token)
    try:
        with LaporClient(
            base, auth, retry=RetryPolicy.no_wait(), transport=answering(status, body, content_type)
        ) as lapor:
            run = app.sync_service(lapor).run(push=False)
        error = run.error or ""
        with app.db.session() as session:
            [event] = session.exec(select(SyncEvent).where(SyncEvent.kind == "run.failed")).all()
    finally:
        app.db.dispose()

    assert run.outcome == "failed" and error.startswith(start)
    assert event.message == f"Sync run stopped: {error}"
    assert CREDENTIALS.api_key not in error and CREDENTIALS.app_token.strip("{}") not in error
    if layer is Layer.GATEWAY:
        assert "check LAPOR_SYNC_SPLP_KEY" in error or "not subscribed to this API" in error
