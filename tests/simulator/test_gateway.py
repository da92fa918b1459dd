"""``--gateway splp`` in process: the SPLP key, WSO2 faults (JSON and XML), the quota, variants, test hooks.

The app is called through httpx's ASGI transport, with the gateway's clock a list the test moves:
no sockets, no sleeping.
"""

from __future__ import annotations

import asyncio
import base64
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from lapor_sync.domain.clock import ManualClock
from lapor_sync.simulator import END_OF_DATA, Simulator
from lapor_sync.simulator.faults.plan import FaultPlan
from lapor_sync.simulator.gateway.faults import FaultFormat
from lapor_sync.simulator.gateway.keys import KeyType, mint
from lapor_sync.simulator.gateway.model import GatewaySettings

LAPOR = {"Authorization": "Bearer sim-api-key", "token": "{00000000-0000-4000-8000-000000006271}"}
PRODUCTION = "/lapor/3.0.0"
SANDBOX = "/sandbox-konsolidasi/1.0"
T0 = 1_733_558_400.0  # a whole minute (07-12-2024 08:00:00 UTC)
SECURITY = "{http://wso2.org/apimanager/security}"
THROTTLING = "{http://wso2.org/apimanager/throttling}"


class Client:
    """Synchronous requests to an ASGI app in process."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as http:
                return await http.request(method, path, **kwargs)

        return asyncio.run(call())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)


class World:
    """A simulator behind a gateway whose clock the test moves, and the headers of its two keys."""

    def __init__(self, now: list[float], **settings: Any) -> None:
        self.now = now
        gateway = GatewaySettings(clock=lambda: now[0], **settings)
        self.sim = Simulator.generate(clock=ManualClock(END_OF_DATA), rate_limit=None, gateway=gateway)
        assert self.sim.gateway is not None
        self.gateway = self.sim.gateway
        self.http = Client(self.sim.app)
        self.production = {**LAPOR, "AuthorizationSPLP": f"Bearer {self.gateway.keys.production.token}"}
        self.sandbox = {**LAPOR, "AuthorizationSPLP": f"Bearer {self.gateway.keys.sandbox.token}"}


@pytest.fixture(scope="module")
def shared() -> World:
    """One generated world for the tests that spend no quota worth speaking of (quota off)."""
    return World([T0], quota_per_minute=0)


@pytest.fixture
def make() -> Callable[..., World]:
    def build(**settings: Any) -> World:
        return World([T0], **settings)

    return build


def fault(answer: httpx.Response) -> dict[str, Any]:
    assert answer.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = answer.json()["fault"]
    return body


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def test_each_key_works_under_its_own_base_path_over_one_world(shared: World) -> None:
    production = shared.http.get(f"{PRODUCTION}/complaints/inbox", headers=shared.production)
    sandbox = shared.http.get(f"{SANDBOX}/complaints/inbox", headers=shared.sandbox)
    assert production.status_code == sandbox.status_code == 200
    assert production.json()["results"]["total"] == sandbox.json()["results"]["total"] == 1983
    assert sandbox.json()["results"]["next_page_url"].startswith(f"http://127.0.0.1:8765{SANDBOX}/complaints/inbox?")


def test_the_keys_are_jwts_with_the_claims_of_g5(shared: World) -> None:
    production, sandbox = shared.gateway.keys.production, shared.gateway.keys.sandbox
    assert claims(production.token)["keytype"] == "PRODUCTION" and claims(sandbox.token)["keytype"] == "SANDBOX"
    for key in (production, sandbox):
        seen = claims(key.token)
        assert seen["token_type"] == "apiKey" and seen["iat"] == int(T0) and "exp" not in seen
        assert key.token not in repr(key)
    assert production.token != sandbox.token


def test_missing_garbled_and_foreign_keys_are_refused_before_lapor(shared: World) -> None:
    before = shared.gateway.state()["passed"]
    missing = shared.http.get(f"{PRODUCTION}/complaints/inbox", headers=LAPOR)
    assert missing.status_code == 401 and fault(missing)["code"] == 900902
    assert fault(missing)["message"] == "Missing Credentials" and "AuthorizationSPLP" in fault(missing)["description"]
    assert "retry-after" not in missing.headers
    empty = shared.http.get(f"{PRODUCTION}/complaints/inbox", headers={**LAPOR, "AuthorizationSPLP": "Bearer "})
    assert fault(empty)["code"] == 900902
    foreign = mint(KeyType.PRODUCTION, int(T0)).token  # well formed, never accepted by this gateway
    for key in ("garbled", foreign):
        refused = shared.http.get(f"{PRODUCTION}/complaints/inbox", headers={**LAPOR, "AuthorizationSPLP": key})
        assert refused.status_code == 401 and fault(refused) == {
            "code": 900901,
            "message": "Invalid Credentials",
            "description": "Make sure you have provided the correct security credentials",
        }
        assert foreign not in refused.text
    assert shared.gateway.state()["passed"] == before


def test_a_key_on_the_other_environments_path_is_invalid_credentials(shared: World) -> None:
    sandbox_on_production = shared.http.get(f"{PRODUCTION}/categories", headers=shared.sandbox)
    production_on_sandbox = shared.http.get(f"{SANDBOX}/categories", headers=shared.production)
    for refused, offered, api in (
        (sandbox_on_production, "SANDBOX", "production"),
        (production_on_sandbox, "PRODUCTION", "sandbox"),
    ):
        assert refused.status_code == 401 and fault(refused)["code"] == 900901
        assert fault(refused)["description"] == f"A {offered} key was offered to the {api} API"


def test_the_header_name_is_a_setting_and_bearer_is_optional(make: Callable[..., World]) -> None:
    world = make(header="X-SPLP-Key", quota_per_minute=0)
    token = world.gateway.keys.production.token
    assert world.http.get(f"{PRODUCTION}/categories", headers={**LAPOR, "x-splp-key": token}).status_code == 200
    refused = world.http.get(f"{PRODUCTION}/categories", headers={**LAPOR, "AuthorizationSPLP": f"Bearer {token}"})
    assert fault(refused)["code"] == 900902 and "X-SPLP-Key" in fault(refused)["description"]


def test_an_expired_key_is_invalid_credentials(make: Callable[..., World]) -> None:
    world = make(key_lifetime=3600, quota_per_minute=0)
    assert claims(world.gateway.keys.production.token)["exp"] == int(T0) + 3600
    assert world.http.get(f"{PRODUCTION}/categories", headers=world.production).status_code == 200
    world.now[0] = T0 + 3600
    expired = world.http.get(f"{PRODUCTION}/categories", headers=world.production)
    assert expired.status_code == 401 and fault(expired)["code"] == 900901
    assert fault(expired)["description"] == "The API key has expired"


def test_lapors_own_refusal_stands_behind_the_gateway(shared: World) -> None:
    wrong_lapor_key = {**shared.production, "Authorization": "Bearer wrong"}
    refused = shared.http.get(f"{PRODUCTION}/complaints/inbox", headers=wrong_lapor_key)
    assert refused.status_code == 401 and refused.json() == {"message": "Unauthenticated."}
    unknown_complaint = shared.http.get(f"{PRODUCTION}/complaints/1/complaint", headers=shared.production)
    assert unknown_complaint.status_code == 404 and "fault" not in unknown_complaint.json()


def test_a_path_or_method_matching_no_resource_is_900906(shared: World) -> None:
    for method, path in (("GET", "/complaints/nowhere"), ("POST", "/complaints/inbox"), ("GET", "/complaints/inbox-x")):
        refused = shared.http.request(method, PRODUCTION + path, headers=shared.production)
        assert refused.status_code == 404 and fault(refused)["code"] == 900906
    # Checked before the key, as WSO2 dispatches to a resource first.
    assert fault(shared.http.get(f"{SANDBOX}/nowhere", headers=LAPOR))["code"] == 900906


def test_xml_faults_have_the_shape_of_g1(make: Callable[..., World]) -> None:
    world = make(fault_format=FaultFormat.XML, quota_per_minute=1)
    refused = world.http.get(f"{PRODUCTION}/categories", headers=world.sandbox)
    assert refused.status_code == 401 and refused.headers["content-type"].startswith("application/xml")
    assert refused.text.startswith('<ams:fault xmlns:ams="http://wso2.org/apimanager/security"><ams:code>900901<')
    root = ET.fromstring(refused.text)
    assert root.tag == f"{SECURITY}fault" and root.findtext(f"{SECURITY}message") == "Invalid Credentials"
    assert world.http.get(f"{PRODUCTION}/categories", headers=world.production).status_code == 200
    throttled = world.http.get(f"{PRODUCTION}/categories", headers=world.production)
    assert throttled.status_code == 429 and "retry-after" not in throttled.headers
    root = ET.fromstring(throttled.text)
    assert root.tag == f"{THROTTLING}fault" and root.findtext(f"{THROTTLING}code") == "900800"
    assert root.findtext(f"{THROTTLING}message") == "Message throttled out"


def test_quota_ten_a_minute_per_key_in_fixed_windows(make: Callable[..., World]) -> None:
    world = make()  # the default: 10 requests a minute (G4)
    assert world.gateway.settings.quota_per_minute == 10
    world.now[0] = T0 + 5
    answers = [world.http.get(f"{PRODUCTION}/categories", headers=world.production) for _ in range(11)]
    assert [a.status_code for a in answers] == [200] * 10 + [429]
    throttled = answers[-1]
    assert fault(throttled) == {
        "code": 900800,
        "message": "Message throttled out",
        "description": "You have exceeded your quota",
    }
    assert "retry-after" not in throttled.headers
    # The other key has a quota of its own.
    assert world.http.get(f"{SANDBOX}/categories", headers=world.sandbox).status_code == 200
    world.now[0] = T0 + 59.9  # still the same window
    assert world.http.get(f"{PRODUCTION}/categories", headers=world.production).status_code == 429
    world.now[0] = T0 + 60  # a new minute: the count starts again
    answers = [world.http.get(f"{PRODUCTION}/categories", headers=world.production) for _ in range(11)]
    assert [a.status_code for a in answers] == [200] * 10 + [429]
    assert world.gateway.state()["refused"] == {"900800": 3}


def test_refused_requests_spend_no_quota_and_zero_turns_it_off(make: Callable[..., World]) -> None:
    world = make(quota_per_minute=2)
    for _ in range(5):
        world.http.get(f"{PRODUCTION}/categories", headers=world.sandbox)  # 900901, not counted
    assert [world.http.get(f"{PRODUCTION}/categories", headers=world.production).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    off = make(quota_per_minute=0)
    assert {off.http.get(f"{PRODUCTION}/categories", headers=off.production).status_code for _ in range(30)} == {200}


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        (900900, 500, "Unclassified Authentication Failure"),
        (900903, 401, "Access Token Expired"),
        (900907, 401, "The requested API is temporarily blocked"),
        (900908, 403, "Resource forbidden "),
        (900909, 401, "The subscription to the API is inactive"),
        (900910, 403, "The access token does not allow you to access the requested resource"),
        (900801, 503, "Hard limit exceeded"),
        (900999, 401, "Unclassified fault"),
        (900899, 429, "Message throttled out"),
        (123456, 500, "Unclassified fault"),
    ],
)
def test_scripted_faults_answer_the_next_requests_then_stop(
    make: Callable[..., World], code: int, status: int, message: str
) -> None:
    world = make(quota_per_minute=1)
    world.gateway.script.push(code, count=2)
    for _ in range(2):
        answer = world.http.get(f"{PRODUCTION}/categories", headers=world.production)
        assert answer.status_code == status and fault(answer)["code"] == code and fault(answer)["message"] == message
        assert "retry-after" not in answer.headers
    # Scripted answers spent none of the quota of 1.
    assert world.http.get(f"{PRODUCTION}/categories", headers=world.production).status_code == 200


def test_the_admin_endpoint_scripts_faults_and_shows_the_state(make: Callable[..., World]) -> None:
    world = make()
    admin = world.http
    scripted = admin.request("POST", "/_simulator/gateway/faults", json={"code": 900907, "count": 2, "status": 503})
    assert scripted.status_code == 200 and scripted.json()["scripted"] == [{"code": 900907, "status": 503}] * 2
    first = admin.get(f"{SANDBOX}/categories")  # a scripted fault comes before every other check
    assert first.status_code == 503 and fault(first)["code"] == 900907
    assert admin.request("DELETE", "/_simulator/gateway/faults").json() == {"scripted": []}
    assert admin.get(f"{SANDBOX}/categories", headers=world.sandbox).status_code == 200
    for body in ({"count": 2}, {"code": "900900"}, {"code": 900900, "count": 0}, {"code": 900900, "status": 200}, [1]):
        refused = admin.request("POST", "/_simulator/gateway/faults", json=body)
        assert refused.status_code == 422 and refused.json()["message"].startswith("Cannot script gateway faults")
    state = admin.get("/_simulator/gateway").json()
    assert state["keys"] == {
        "production": world.gateway.keys.production.token,
        "sandbox": world.gateway.keys.sandbox.token,
    }
    assert (
        state["quota_per_minute"] == 10 and state["header"] == "AuthorizationSPLP" and state["fault_format"] == "json"
    )
    assert state["base_paths"] == {"production": PRODUCTION, "sandbox": SANDBOX}
    assert state["refused"] == {"900907": 1} and state["passed"]["sandbox"] == 1


def test_admin_and_token_urls_are_not_behind_the_gateway(shared: World) -> None:
    assert shared.http.get("/_simulator/clock").status_code == 200
    token = shared.http.request(
        "POST", "/oauth2/token", data={"grant_type": "client_credentials"}, auth=("sim-client", "sim-secret")
    )
    assert token.status_code == 200 and token.json()["token_type"] == "Bearer"


def test_lmw_variants_and_page_size_serve_the_same_endpoints(shared: World) -> None:
    http, headers = shared.http, shared.sandbox
    before = shared.gateway.state()["passed"]["lmw"]
    page = http.get(f"{SANDBOX}/complaints/inbox-lmw", headers=headers, params={"page_size": 7}).json()["results"]
    assert page["per_page"] == 7 and len(page["data"]) == 7
    assert page["next_page_url"] == f"http://127.0.0.1:8765{SANDBOX}/complaints/inbox-lmw?page_size=7&page=2"
    following = http.get(page["next_page_url"], headers=headers).json()["results"]
    assert following["current_page"] == 2 and len(following["data"]) == 7
    cid = page["data"][0]["complaint_id"]
    contract = http.get(f"{SANDBOX}/complaints/{cid}/complaint", headers=headers).json()
    assert http.get(f"{SANDBOX}/complaints/{cid}/complaint-lmw", headers=headers).json() == contract
    followups = http.get(f"{SANDBOX}/complaints/{cid}/followups", headers=headers).json()["results"]
    variant = http.get(f"{SANDBOX}/complaints/{cid}/followups-lmw", headers=headers).json()["results"]
    assert variant["data"] == followups["data"] and variant["first_page_url"].endswith("/followups-lmw?page=1")
    assert shared.gateway.state()["passed"]["lmw"] == before + 4


def test_a_followup_posted_to_the_variant_path_is_stored(make: Callable[..., World]) -> None:
    world = make(quota_per_minute=0)
    form = {"complaint_id": "3100002", "institution_from_id": "627110", "content": "[LS-abc] Ditindaklanjuti."}
    files = {"attachment[0]": ("foto.jpg", b"\xff\xd8", "image/jpeg")}
    path = f"{PRODUCTION}/complaints/followup/add-lmw"
    posted = world.http.request("POST", path, headers=world.production, data=form, files=files)
    assert posted.status_code == 200, posted.text
    stored = posted.json()["results"]["data"]["id"]
    thread = world.http.get(f"{PRODUCTION}/complaints/3100002/followups-lmw", headers=world.production).json()
    assert stored in {f["id"] for f in thread["results"]["data"]}


def test_lapor_faults_apply_behind_the_gateway_on_both_paths(make: Callable[..., World]) -> None:
    world = make(quota_per_minute=0)
    world.sim.set_faults(FaultPlan({"http_500": 1.0}))
    assert fault(world.http.get(f"{SANDBOX}/categories", headers=LAPOR))["code"] == 900902  # the gateway first
    for base, headers in ((PRODUCTION, world.production), (SANDBOX, world.sandbox)):
        answer = world.http.get(f"{base}/categories", headers=headers)
        assert answer.status_code == 500 and answer.json() == {"message": "Server Error"}
    assert world.sim.fault_counts() == {"http_500": 2}


def test_without_a_gateway_nothing_changes(shared: World) -> None:
    sim = Simulator.generate(clock=ManualClock(END_OF_DATA), rate_limit=None)
    assert sim.gateway is None
    http = Client(sim.app)
    assert http.get(f"{PRODUCTION}/categories", headers=LAPOR).status_code == 200
    for path in (f"{SANDBOX}/categories", f"{PRODUCTION}/categories-lmw", "/_simulator/gateway"):
        missing = http.get(path, headers=LAPOR)
        assert missing.status_code == 404 and missing.json() == {"message": "Not Found."}
    page = http.get(f"{PRODUCTION}/complaints/inbox", headers=LAPOR, params={"per_page": 5}).json()["results"]
    assert page["next_page_url"].endswith("/complaints/inbox?per_page=5&page=2")


def test_settings_refuse_nonsense() -> None:
    for bad in ({"header": " "}, {"quota_per_minute": -1}, {"key_lifetime": 0}):
        with pytest.raises(ValueError):
            GatewaySettings(**bad)
