"""The national client's outbound policy against the served simulator: loopback is reached directly, never
through a proxy, and an answer over the size limit sets its complaint aside while the run goes on."""

from __future__ import annotations

import socket

import pytest

from lapor_sync.adapters.national import LaporClient, RetryPolicy, StaticKeyAuth
from lapor_sync.simulator.catalog import category_id
from tests.support.e2e import CREDENTIALS, DINSOS, client_for, harness, small_world

pytestmark = pytest.mark.e2e


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_review_plain_http_to_loopback_never_goes_through_a_proxy(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # A proxy would get the whole request in clear, key and app token included: the loopback
    # exception to "https only" would then leave the machine after all.
    monkeypatch.setenv(variable, f"http://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    sim = small_world()
    with sim.serve() as base_url:
        auth = StaticKeyAuth(CREDENTIALS.api_key, CREDENTIALS.app_token)
        with LaporClient(base_url, auth, retry=RetryPolicy.no_wait(max_attempts=1), clock=sim.clock) as lapor:
            assert lapor.list_categories()  # straight to the simulator: the proxy's port is closed


def test_review_a_complaint_with_an_oversized_thread_is_set_aside_and_the_run_goes_on(tmp_path) -> None:
    limit = 16 * 1024
    with harness(small_world(), f"sqlite:///{tmp_path / 'e2e.db'}", max_response_bytes=limit) as h:
        big, small = (
            h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
            for _ in range(2)
        )
        for _ in range(3):  # the platform keeps 10,000 characters of each: 30 KB of thread
            h.world.add_followup(big.complaint_id, DINSOS, "Tanggapan panjang. " * 600)
        with LaporClient.from_settings(h.app.settings, clock=h.clock, retry=RetryPolicy.no_wait()) as lapor:
            run = h.sync(platform=lapor)

        assert (run.outcome, run.created, run.set_aside) == ("ok", 1, 1)
        assert [c.complaint_id for c in h.cases()] == [small.complaint_id]
        (event,) = h.events("complaint.set_aside")
        assert event.complaint_id == big.complaint_id and f"larger than {limit} bytes" in event.message
        with client_for(h.base_url, h.clock) as unlimited:  # the default limit reads it
            assert h.sync(platform=unlimited).created == 1
