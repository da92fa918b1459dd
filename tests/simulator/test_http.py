"""The simulator over loopback HTTP: inbox paging, auth modes, writes, errors, rate limit, admin endpoints."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from lapor_sync.domain.clock import ManualClock
from lapor_sync.simulator import END_OF_DATA, AuthMode, Simulator
from lapor_sync.simulator.auth import RateLimiter
from lapor_sync.simulator.wire import parse_wib

STATIC = {"Authorization": "Bearer sim-api-key", "token": "{00000000-0000-4000-8000-000000006271}"}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Simulator, str]]:
    """A read-mostly simulator at the end of the data set, without rate limit."""
    sim = Simulator.generate(clock=ManualClock(END_OF_DATA), rate_limit=None)
    with sim.serve() as base_url:
        yield sim, base_url


@pytest.fixture
def client(served: tuple[Simulator, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[1], headers=STATIC) as http:
        yield http


def walk(http: httpx.Client, url: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        body = http.get(next_url, params=params).raise_for_status().json()["results"]
        items += body["data"]
        next_url, params = body["next_page_url"], None
    return items


def order_key(item: dict[str, Any]) -> tuple[datetime, int]:
    return parse_wib(item["updated_at"]), item["complaint_id"]


def test_inbox_walk_is_ordered_inclusive_and_complete(client: httpx.Client) -> None:
    everything = walk(client, "/complaints/inbox", {"per_page": 100})
    assert len(everything) == 1983 and everything == sorted(everything, key=order_key)
    pivot = everything[1000]["updated_at"]
    first = client.get("/complaints/inbox", params={"updated_since": pivot, "per_page": 7}).json()["results"]
    assert first["data"][0]["updated_at"] == pivot  # inclusive
    assert first["total"] == 983 and first["per_page"] == 7 and first["last_page"] == 141
    assert first["next_page_url"].startswith(str(client.base_url))
    assert "updated_since=" in first["next_page_url"] and "per_page=7" in first["next_page_url"]
    since = walk(client, "/complaints/inbox", {"updated_since": pivot, "per_page": 7})
    assert since == everything[1000:]
    big = client.get("/complaints/inbox", params={"per_page": 500}).json()["results"]
    assert big["per_page"] == 100 and len(big["data"]) == 100


def test_inbox_ties_are_ordered_by_complaint_id(served: tuple[Simulator, str], client: httpx.Client) -> None:
    sim, _ = served
    now = sim.clock.now()
    for cid in (3_100_900, 3_100_100):
        sim.world.touch(cid, now)
    tail = client.get("/complaints/inbox", params={"updated_since": "31-10-2024 23:59:59"}).json()["results"]
    assert [c["complaint_id"] for c in tail["data"][-2:]] == [3_100_100, 3_100_900]


def test_page_drift_hook_makes_a_page_walk_skip_an_item(served: tuple[Simulator, str], client: httpx.Client) -> None:
    sim, _ = served
    since = "01-02-2024 00:00:00"
    before = walk(client, "/complaints/inbox", {"updated_since": since, "per_page": 10})
    moved = before[0]["complaint_id"]

    def drift(page: int) -> None:
        if page == 2:
            sim.world.touch(moved)

    sim.world.before_inbox_page = drift
    try:
        during = walk(client, "/complaints/inbox", {"updated_since": since, "per_page": 10})
    finally:
        sim.world.before_inbox_page = None
    seen = {c["complaint_id"] for c in during}
    assert before[10]["complaint_id"] not in seen  # the first item of page 2 slid onto page 1
    now = during[-1]["updated_at"]
    assert moved in {c["complaint_id"] for c in during if c["updated_at"] == now}  # met again at the end


def test_detail_followups_and_reference_data(client: httpx.Client) -> None:
    detail = client.get("/complaints/3100001/complaint").json()["results"]
    assert detail["data"]["complaint_id"] == 3_100_001 and detail["data"]["status_logs"][-1]["status_code"] == 1
    assert detail["data_logs"][0]["template_code"] == "disposition"
    assert isinstance(detail["data_logs"][0]["data"], str)
    institutions = client.get("/institutions").json()["results"]["data"]
    assert {i["id"] for i in institutions} == {6271, *range(627101, 627113)}
    categories = client.get("/categories").json()["results"]["data"]
    assert categories[0] == {"id": 1, "parent_id": 0, "name": "Agama"} and len(categories) == 43
    assert client.get("/complaints/42/complaint").status_code == 404
    assert client.get("/complaints/42/complaint").json()["message"]


def test_followup_post_multipart_no_dedupe_and_unsorted_listing(client: httpx.Client) -> None:
    form = {
        "complaint_id": "3100002",
        "institution_from_id": "627110",
        "content": " Ditangani <i>segera</i>\r\n",
    }
    files = {"attachment[0]": ("foto.jpg", b"\xff\xd8", "image/jpeg")}
    ids = [
        client.post("/complaints/followup/add", data=form, files=files).json()["results"]["data"]["id"]
        for _ in range(25)
    ]
    assert len(set(ids)) == 25
    page_one = client.get("/complaints/3100002/followups").json()["results"]
    page_two = client.get("/complaints/3100002/followups", params={"page": 2}).json()["results"]
    listed = [f["id"] for f in page_one["data"] + page_two["data"]]
    assert page_one["total"] == 25 and sorted(listed) == sorted(ids) and listed != sorted(listed)
    assert {f["content"] for f in page_one["data"]} == {"Ditangani segera"}
    assert page_one["data"][0]["attachments"][0]["file_name"] == "foto.jpg"
    detail = client.get("/complaints/3100002/complaint").json()["results"]["data"]
    assert detail["status_name"] == "Dalam Proses"


def test_status_and_reject_errors_over_http(client: httpx.Client) -> None:
    refused = client.post("/complaints/process/3100003/status", json={"status_code": 3, "note": "x"})
    assert refused.status_code == 422 and "not allowed" in refused.json()["message"]
    missing = client.post("/complaints/followup/add", data={"complaint_id": "3100003", "institution_from_id": "6271"})
    assert missing.status_code == 422 and "content" in missing.json()["errors"]
    bad = client.post("/complaints/process/3100003/reject", json={"is_request": 1, "reason": 9001, "not_authority": 1})
    assert bad.status_code == 422 and "reason_description" in bad.json()["errors"]
    ok = client.post(
        "/complaints/process/3100003/reject",
        json={"is_request": 1, "reason": 9001, "reason_description": "Bukan wewenang", "not_authority": 1},
    )
    assert ok.status_code == 200 and ok.json()["results"]["data"]["status"] == "pending"
    bad_since = client.get("/complaints/inbox", params={"updated_since": "2024-01-01T00:00:00"})
    assert bad_since.status_code == 422 and "updated_since" in bad_since.json()["errors"]


def test_static_and_oauth2_authentication(served: tuple[Simulator, str]) -> None:
    sim, base_url = served
    root = base_url.removesuffix("/lapor/3.0.0")
    url = f"{base_url}/categories"
    app_token = {"token": STATIC["token"]}
    assert httpx.get(url, headers=STATIC).status_code == 200
    assert httpx.get(url, headers={"auth": "sim-api-key", **app_token}).status_code == 200
    for headers in (
        {"Authorization": "Bearer sim-api-key"},
        {"Authorization": "Bearer wrong", **app_token},
        {},
    ):
        answer = httpx.get(url, headers=headers)
        assert answer.status_code == 401 and answer.json()["message"]
    assert (
        httpx.post(
            f"{root}/oauth2/token", auth=("sim-client", "bad"), data={"grant_type": "client_credentials"}
        ).status_code
        == 401
    )
    grant = httpx.post(
        f"{root}/oauth2/token", auth=("sim-client", "sim-secret"), data={"grant_type": "client_credentials"}
    )
    token = grant.json()
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    oauth = {"Authorization": f"Bearer {token['access_token']}", "auth": "sim-api-key", **app_token}
    assert httpx.get(url, headers=oauth).status_code == 200
    assert httpx.get(url, headers={**oauth, "auth": "wrong"}).status_code == 401
    sim.tokens.revoke_all()
    assert httpx.get(url, headers=oauth).status_code == 401


def test_auth_mode_restricts_to_one_mode() -> None:
    sim = Simulator.generate(clock=ManualClock(END_OF_DATA), rate_limit=None, auth_mode=AuthMode.OAUTH2)
    with sim.serve() as base_url:
        assert httpx.get(f"{base_url}/categories", headers=STATIC).status_code == 401


def test_rate_limit_answers_429_with_retry_after() -> None:
    sim = Simulator.generate(clock=ManualClock(END_OF_DATA), rate_limit=2.0)
    with sim.serve() as base_url, httpx.Client(base_url=base_url, headers=STATIC) as http:
        answers = [http.get("/categories") for _ in range(6)]
    limited = [a for a in answers if a.status_code == 429]
    assert answers[0].status_code == 200 and limited
    assert int(limited[0].headers["Retry-After"]) >= 1 and limited[0].json()["message"]


def test_rate_limiter_refills_over_time() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, wall=lambda: now[0])
    assert limiter.acquire("a") is None and limiter.acquire("a") is None
    assert limiter.acquire("a") == 1 and limiter.acquire("b") is None
    now[0] = 0.5
    assert limiter.acquire("a") is None and limiter.acquire("a") == 1


def test_clock_and_tallies_admin_endpoints() -> None:
    sim = Simulator.generate(rate_limit=None)
    with sim.serve() as base_url:
        root = base_url.removesuffix("/lapor/3.0.0")
        assert httpx.get(f"{root}/_simulator/clock").json()["now"] == "01-01-2024 00:00:00"
        moved = httpx.post(f"{root}/_simulator/clock", json={"to": "31-01-2024 23:59:59"}).json()
        assert moved["now"] == "31-01-2024 23:59:59" and moved["movable"] is True
        back = httpx.post(f"{root}/_simulator/clock", json={"to": "01-01-2024 00:00:00"})
        assert back.status_code == 422
        tallies = httpx.get(f"{root}/_simulator/tallies", params={"from": "01-01-2024", "to": "31-10-2024"}).json()
    assert tallies["total"] == tallies["in_process"] == sim.world.inbox_page(None, 1, 1)[1] > 150
    assert tallies["archived_or_returned"] == 0


def test_save_endpoint_writes_the_start_up_file_0600_and_it_serves_again(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    sim = Simulator.generate(rate_limit=None, save_to=state)
    with sim.serve() as base_url:
        root = base_url.removesuffix("/lapor/3.0.0")
        httpx.post(f"{root}/_simulator/clock", json={"to": "31-01-2024 23:59:59"})
        saved = httpx.post(f"{root}/_simulator/save")

    assert saved.status_code == 200 and saved.json() == {"saved": str(state), "now": "31-01-2024 23:59:59"}
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    again = Simulator.load(state)
    assert again.clock.now() == sim.clock.now()
    assert again.world.inbox_page(None, 1, 1)[1] == sim.world.inbox_page(None, 1, 1)[1] > 0


def test_save_endpoint_is_absent_without_a_file_given_at_start(served: tuple[Simulator, str]) -> None:
    root = served[1].removesuffix("/lapor/3.0.0")
    assert httpx.post(f"{root}/_simulator/save").status_code == 404
