"""``lapor-sync simulator --gateway splp`` as a process over loopback: the banner, the keys, the quota, XML faults."""

from __future__ import annotations

import queue
import time

import httpx

from lapor_sync.demo.simulator_child import started_simulator

LAPOR = {"Authorization": "Bearer sim-api-key", "token": "{00000000-0000-4000-8000-000000006271}"}


def banner_after_base_url(lines: queue.Queue[str | None], last_mark: str, timeout: float = 30.0) -> list[str]:
    """The child's lines after its base URL, up to the first holding ``last_mark``."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while not any(last_mark in line for line in seen):
        line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        assert line is not None, "".join(seen)
        seen.append(line)
    return seen


def value_after(lines: list[str], label: str) -> str:
    return next(line.split(label, 1)[1].strip() for line in lines if line.strip().startswith(label))


def test_the_cli_serves_the_gateway_with_its_options() -> None:
    options = ("--gateway", "splp", "--quota-per-minute", "3", "--gateway-faults", "xml", "--no-rate-limit")
    with started_simulator(*options, "--clock", "end") as starting:
        child = starting.answering()
        banner = banner_after_base_url(starting.lines, "sandbox      AuthorizationSPLP: Bearer ")
        text = "".join(banner)
        assert "SPLP (WSO2-like), 3 requests/minute per key, faults as XML" in text
        sandbox_url = value_after(banner, "sandbox URL")
        assert sandbox_url == child.root + "/sandbox-konsolidasi/1.0"
        production_key = value_after(banner, "production   AuthorizationSPLP: Bearer")
        sandbox_key = value_after(banner, "sandbox      AuthorizationSPLP: Bearer")
        with httpx.Client(timeout=10) as http:
            production = {**LAPOR, "AuthorizationSPLP": f"Bearer {production_key}"}
            answers = [http.get(f"{child.base_url}/categories", headers=production) for _ in range(4)]
            assert [a.status_code for a in answers] == [200, 200, 200, 429]
            assert answers[-1].text.startswith('<amt:fault xmlns:amt="http://wso2.org/apimanager/throttling">')
            assert "<amt:code>900800</amt:code>" in answers[-1].text and "retry-after" not in answers[-1].headers
            missing = http.get(f"{sandbox_url}/complaints/inbox", headers=LAPOR)
            assert missing.status_code == 401 and "<ams:code>900902</ams:code>" in missing.text
            sandbox = {**LAPOR, "AuthorizationSPLP": f"Bearer {sandbox_key}"}
            inbox = http.get(f"{sandbox_url}/complaints/inbox-lmw", headers=sandbox, params={"page_size": 5})
            assert inbox.status_code == 200 and len(inbox.json()["results"]["data"]) == 5
        state = child.admin("GET", "/_simulator/gateway")
        assert state["keys"] == {"production": production_key, "sandbox": sandbox_key}
        assert state["refused"] == {"900800": 1, "900902": 1}
        assert state["passed"] == {"production": 3, "sandbox": 1, "contract": 3, "lmw": 1}
