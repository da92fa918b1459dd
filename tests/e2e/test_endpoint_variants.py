"""A deployment whose LAPOR! serves its own path variants and pages by ``page_size`` (CONTRACT §7 G7, G8) syncs with
settings only: the served simulator behind a layer that answers only the variants, as such a deployment would."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from lapor_sync.adapters.national import LaporClient, RetryPolicy
from lapor_sync.app import App
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.status import NationalStatus
from lapor_sync.simulator.catalog import category_id
from tests.support.e2e import DINSOS, FaultInjector, Harness, settings_for, small_world
from tests.support.national import VARIANT_ENDPOINTS

pytestmark = pytest.mark.e2e

# The deployment's path (after the base URL's prefix) -> the simulator's (CONTRACT §5).
VARIANTS = [
    (re.compile(r"/complaints/inbox-lmw$"), r"/complaints/inbox"),
    (re.compile(r"/complaints/(\d+)/complaint-lmw$"), r"/complaints/\1/complaint"),
    (re.compile(r"/complaints/(\d+)/followups-lmw$"), r"/complaints/\1/followups"),
    (re.compile(r"/complaints/followup/add-lmw$"), r"/complaints/followup/add"),
    (re.compile(r"/complaints/process-lmw/(\d+)/(status|reject)$"), r"/complaints/process/\1/\2"),
]


@dataclass
class VariantDeployment(httpx.BaseTransport):
    """Serves the deployment's variants from the simulator; any other path is a 404, a ``per_page`` a 400."""

    inner: httpx.BaseTransport = field(default_factory=FaultInjector)
    served: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    page_sizes: list[str] = field(default_factory=list)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Rewrite a variant onto the simulator's path (``page_size`` onto ``per_page``); refuse the rest."""
        path = request.url.path
        for pattern, target in VARIANTS:
            found = pattern.search(path)
            if found is None:
                continue
            params = request.url.params
            if "per_page" in params:
                self.refused.append(f"{request.method} {path}?per_page")
                return httpx.Response(400, json={"message": "unknown parameter per_page"}, request=request)
            if "page_size" in params:
                self.page_sizes.append(params["page_size"])
                params = params.remove("page_size").set("per_page", params["page_size"])
            self.served[pattern.pattern] += 1
            url = request.url.copy_with(path=path[: found.start()] + found.expand(target), params=params)
            forwarded = httpx.Request(request.method, url, headers=request.headers, content=request.content)
            return self.inner.handle_request(forwarded)
        self.refused.append(f"{request.method} {path}")
        return httpx.Response(404, json={"message": "Not Found"}, request=request)


def test_a_deployment_with_variant_paths_and_page_size_syncs_with_settings_only(tmp_path: Path) -> None:
    simulator = small_world()
    clock = simulator.clock
    deployment = VariantDeployment()
    with simulator.serve() as base_url:
        app = App(
            settings_for(f"sqlite:///{tmp_path / 'lmw.db'}", base_url, endpoints=VARIANT_ENDPOINTS, per_page=2),
            clock=clock,
        )
        platform = LaporClient.from_settings(
            app.settings, clock=clock, transport=deployment, retry=RetryPolicy.no_wait()
        )
        with platform:
            h = Harness(app, platform, clock, simulator=simulator, base_url=base_url, faults=FaultInjector())
            ids = [
                h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan")).complaint_id
                for _ in range(3)
            ]

            pulled = h.sync()
            h.act(ids[0], AgencyAction.FOLLOWUP, "Petugas sudah meninjau lokasi.")
            pushed = h.sync(pull=False)
            h.act(ids[0], AgencyAction.COMPLETE, "Sudah selesai ditangani.")
            completed = h.sync(pull=False)
            app.db.dispose()

    assert (pulled.created, pushed.pushed, completed.pushed) == (3, 1, 1)
    assert deployment.refused == []  # nothing asked at the contract's paths or with per_page
    assert set(deployment.served) == {pattern.pattern for pattern, _ in VARIANTS}  # every call at its variant
    assert set(deployment.page_sizes) == {"2"} and deployment.served["/complaints/inbox-lmw$"] >= 2  # 3 rows, 2 a page
    national = h.world.complaint(ids[0])
    assert len(national.followups) == 1 and national.status_code == NationalStatus.COMPLETED
    assert {case.complaint_id for case in h.cases()} == set(ids)
