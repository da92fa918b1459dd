"""End to end through the simulated SPLP gateway: the `splp_key` mode, variant paths and `page_size` from settings,
and a pull that waits on a per-minute quota instead of failing (issue 13, CONTRACT §7 G3-G8).

The gateway's quota windows and the client's quota run on one fake clock, moved only by the
client's waits: no test waits a minute.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from lapor_sync.adapters.national import LaporClient, RetryPolicy
from lapor_sync.adapters.national.quota import Quota
from lapor_sync.simulator import Simulator
from lapor_sync.simulator.catalog import category_id
from lapor_sync.simulator.gateway.model import GatewaySettings
from tests.support.e2e import DINSOS, harness, small_world
from tests.unit.test_quota import FakeTime

pytestmark = pytest.mark.e2e
SOSIAL = category_id("Sosial dan Kesejahteraan")
# The simulated gateway's variant of every endpoint (README, "The SPLP gateway in the simulator"), paged by page_size.
GATEWAY_VARIANTS = {
    "inbox": "/complaints/inbox-lmw",
    "complaint_detail": "/complaints/{complaint_id}/complaint-lmw",
    "followups": "/complaints/{complaint_id}/followups-lmw",
    "followup_add": "/complaints/followup/add-lmw",
    "status": "/complaints/process/{complaint_id}/status-lmw",
    "reject": "/complaints/process/{complaint_id}/reject-lmw",
    "institutions": "/institutions-lmw",
    "categories": "/categories-lmw",
    "page_size_param": "page_size",
}


def behind_the_gateway(time: FakeTime, quota_per_minute: int = 10) -> Simulator:
    """An empty world behind a gateway whose quota windows follow ``time`` (epoch seconds)."""
    simulator = small_world()
    world = simulator.world
    return Simulator(
        world,
        rate_limit=None,
        gateway=GatewaySettings(quota_per_minute=quota_per_minute, clock=time.monotonic),
    )


def pull_through_the_gateway(tmp_path: Path, *, client_quota: int, complaints: int = 30) -> tuple:
    """Serve the gateway, add ``complaints``, pull once in ``splp_key`` mode with the client's quota on ``time``.

    One fetch at a time: on a fake clock that only waits move, a wait on one thread would move the
    time of a request another thread was already granted, which real time does not do.
    """
    time = FakeTime()
    simulator = behind_the_gateway(time)
    key = simulator.gateway.keys.production.token
    with harness(
        simulator,
        f"sqlite:///{tmp_path / 'splp.db'}",
        auth_mode="splp_key",
        splp_key=key,
        endpoints=GATEWAY_VARIANTS,
        per_page=10,
        fetch_concurrency=1,
    ) as h:
        ids = {h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL).complaint_id for _ in range(complaints)}
        h.advance(timedelta(minutes=10))
        quota = Quota(client_quota, monotonic=time.monotonic, sleep=time.sleep)
        with LaporClient.from_settings(h.app.settings, clock=h.clock, retry=RetryPolicy.no_wait(), quota=quota) as p:
            run = h.app.sync_service(p).run(push=False)
        stored = {case.complaint_id for case in h.cases()}
        return run, ids, stored, simulator.gateway.state(), time


def test_a_pull_of_30_complaints_at_10_a_minute_waits_on_the_quota_and_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lapor_sync.quota")  # as `lapor-sync sync` run by hand shows them
    run, ids, stored, gateway, time = pull_through_the_gateway(tmp_path, client_quota=10)

    assert run.outcome == "ok" and run.error is None
    assert stored == ids  # 0 lost
    assert gateway["refused"] == {}  # the client kept within the gateway's quota: never throttled
    assert gateway["passed"]["contract"] == 0 and gateway["passed"]["lmw"] == gateway["passed"]["production"]
    made = gateway["passed"]["lmw"]
    assert made >= 31  # the inbox pages, then a detail each
    assert run.quota_waited_seconds >= 60 * ((made - 1) // 10) - 1  # a minute for every 10 after the first 10
    assert sum(time.sleeps) == pytest.approx(run.quota_waited_seconds, abs=1)
    waits = [r.getMessage() for r in caplog.records if r.name == "lapor_sync.quota"]
    assert waits and all(w.startswith("waiting on the SPLP quota until ") and "WIB" in w for w in waits)


def test_without_a_client_quota_the_gateways_throttle_is_waited_out_and_the_pull_completes(tmp_path: Path) -> None:
    run, ids, stored, gateway, time = pull_through_the_gateway(tmp_path, client_quota=0, complaints=12)

    assert run.outcome == "ok" and stored == ids
    assert gateway["refused"].get("900800", 0) >= 1  # the gateway said "throttled out" with no Retry-After
    assert 65.0 in time.sleeps  # and the client held the quota window (LAPOR_SYNC_QUOTA_WAIT_SECONDS) before one retry
