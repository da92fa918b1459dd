"""Fault injection in the simulator: each kind seen through real HTTP, determinism, counts, profiles, files."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from lapor_sync.simulator import Simulator
from lapor_sync.simulator.faults.plan import RATED_KINDS, FaultKind, FaultPlan, FaultSettings
from lapor_sync.simulator.faults.profiles import FaultFileError, load_profile_file, profile, resolve_faults
from lapor_sync.simulator.wire import format_wib, parse_wib
from tests.support.cli import simulator_app
from tests.support.e2e import DAY_ONE, small_world

STATIC = {"Authorization": "Bearer sim-api-key", "token": "{00000000-0000-4000-8000-000000006271}"}
TEXT = "Jalan rusak di depan Pasar Besar, mohon segera diperbaiki karena membahayakan pengendara motor."
FAST = FaultSettings(slow_seconds=0.2, timeout_seconds=0.3)
CLIENT_TIMEOUT = 0.1  # below FAST.timeout_seconds: a silence becomes a read timeout
DROPPED = (httpx.ReadError, httpx.RemoteProtocolError)


class Served:
    """A served simulator with five complaints one hour apart, and helpers to switch its faults."""

    def __init__(self, sim: Simulator, base_url: str) -> None:
        self.sim = sim
        self.base_url = base_url
        self.root = base_url.removesuffix("/lapor/3.0.0")
        self.baseline: dict[str, int] = {}

    def new_counts(self) -> dict[str, int]:
        """The faults counted since the test began (the module's simulator counts over all tests)."""
        now = self.sim.fault_counts()
        return {kind: n - self.baseline.get(kind, 0) for kind, n in now.items() if n != self.baseline.get(kind, 0)}

    def force(self, kind: FaultKind | str, rate: float = 1.0, **settings: Any) -> None:
        """Put a plan in force that gives ``kind`` at ``rate`` and nothing else."""
        self.sim.set_faults(FaultPlan({kind: rate}, seed=1, settings=FaultSettings(**{**_fast(), **settings})))

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=STATIC, timeout=CLIENT_TIMEOUT)


def _fast() -> dict[str, Any]:
    return {"slow_seconds": FAST.slow_seconds, "timeout_seconds": FAST.timeout_seconds}


def _world_with_complaints(count: int = 5) -> Simulator:
    sim = small_world(DAY_ONE + timedelta(days=1))
    for n in range(count):
        sim.world.add_complaint(dispositioned_at=DAY_ONE + timedelta(hours=n), content=f"{TEXT} ({n})")
    return sim


@pytest.fixture(scope="module")
def module_served() -> Iterator[Served]:
    sim = _world_with_complaints()
    with sim.serve() as base_url:
        yield Served(sim, base_url)


@pytest.fixture
def served(module_served: Served) -> Iterator[Served]:
    """The module's simulator, with no faults before and after the test."""
    module_served.sim.set_faults(None)
    module_served.baseline = module_served.sim.fault_counts()
    yield module_served
    module_served.sim.set_faults(None)


def inbox(http: httpx.Client, **params: Any) -> httpx.Response:
    return http.get("/complaints/inbox", params={"per_page": 2, **params})


def first_id(sim: Simulator) -> int:
    return sim.world.all_complaints()[0].complaint_id


def post_followup(http: httpx.Client, complaint_id: int, content: str) -> httpx.Response:
    form = {"complaint_id": str(complaint_id), "institution_from_id": "627104", "content": content}
    return http.post("/complaints/followup/add", data=form)


# -- answers instead of the endpoint ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "content_type"),
    [("http_500", 500, "application/json"), ("http_502", 502, "text/html"), ("http_504", 504, "text/html")],
)
def test_server_and_gateway_errors(served: Served, kind: str, status: int, content_type: str) -> None:
    served.force(kind)
    with served.client() as http:
        answer = inbox(http)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith(content_type)
    if status == 500:
        assert answer.json() == {"message": "Server Error"}
    else:
        assert f"<h1>{status} " in answer.text
    assert served.new_counts() == {kind: 1}


@pytest.mark.parametrize(("kind", "status"), [("http_503", 503), ("http_429", 429)])
def test_retry_after_comes_in_seconds_and_as_an_http_date(served: Served, kind: str, status: int) -> None:
    served.force(kind, retry_after_seconds=4)
    now = served.sim.clock.now()
    with served.client() as http:
        answers = [inbox(http) for _ in range(12)]
    assert {a.status_code for a in answers} == {status}
    waits = [a.headers["retry-after"] for a in answers]
    in_seconds = [w for w in waits if w.isdigit()]
    as_dates = [parsedate_to_datetime(w) for w in waits if not w.isdigit()]
    assert in_seconds and as_dates
    assert set(in_seconds) == {"4"}
    assert all(timedelta(seconds=4) <= d - now <= timedelta(seconds=5) for d in as_dates)


def test_connection_reset_gives_no_answer(served: Served) -> None:
    served.force("connection_reset")
    with served.client() as http, pytest.raises(DROPPED):
        inbox(http)
    assert served.new_counts() == {"connection_reset": 1}


def test_read_timeout_keeps_silent_longer_than_the_client_waits(served: Served) -> None:
    served.force("read_timeout")
    with served.client() as http, pytest.raises(httpx.ReadTimeout):
        inbox(http)


def test_slow_answer_arrives_after_the_delay(served: Served) -> None:
    served.force("slow", slow_seconds=0.15)
    with httpx.Client(base_url=served.base_url, headers=STATIC, timeout=5) as http:
        answer = inbox(http)
    assert answer.status_code == 200 and answer.elapsed >= timedelta(seconds=0.15)
    assert len(answer.json()["results"]["data"]) == 2


def test_token_expires_early_and_the_token_url_still_answers(served: Served) -> None:
    token_url = f"{served.root}/oauth2/token"
    grant = {"grant_type": "client_credentials"}
    served.force("token_expiry")
    with served.client() as http:
        token = http.post(token_url, data=grant, auth=("sim-client", "sim-secret")).json()
        assert token["expires_in"] == 3600
        headers = {"Authorization": f"Bearer {token['access_token']}", "auth": "sim-api-key"}
        assert inbox(http).status_code == 200  # static key: no OAuth token to expire
        assert http.get("/complaints/inbox", headers=headers).status_code == 401
        assert http.get("/complaints/inbox", headers=headers).status_code == 401  # stays dead
        fresh = http.post(token_url, data=grant, auth=("sim-client", "sim-secret"))
    assert fresh.status_code == 200
    assert served.new_counts() == {"token_expiry": 1}


# -- writes applied, answers lost ---------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "error"), [("write_lost_timeout", httpx.ReadTimeout), ("write_lost_drop", DROPPED)])
def test_a_write_is_stored_though_its_answer_is_lost(served: Served, kind: str, error: Any) -> None:
    complaint_id = first_id(served.sim)
    before = len(served.sim.world.complaint(complaint_id).followups)
    served.force(kind)
    with served.client() as http:
        assert inbox(http).status_code == 200  # reads keep their answers
        with pytest.raises(error):
            post_followup(http, complaint_id, f"[LS-0123456789] {kind}")
    thread = served.sim.world.complaint(complaint_id).followups
    assert len(thread) == before + 1 and thread[-1].content == f"[LS-0123456789] {kind}"
    assert served.new_counts() == {kind: 1}


# -- a 200 that is no data ----------------------------------------------------------------------------


def test_html_200(served: Served) -> None:
    served.force("html_200")
    with served.client() as http:
        answer = inbox(http)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert answer.text.startswith("<!DOCTYPE html>")


def test_empty_200_and_null_results(served: Served) -> None:
    with served.client() as http:
        served.force("empty_200")
        empty = inbox(http)
        served.force("null_results")
        null = inbox(http)
    assert (empty.status_code, empty.content) == (200, b"")
    assert null.status_code == 200 and null.json()["results"] is None


def test_a_plan_for_chosen_complaints_faults_only_their_requests(served: Served) -> None:
    poisoned, healthy = (c.complaint_id for c in served.sim.world.all_complaints()[:2])
    served.sim.set_faults(FaultPlan({"null_results": 1.0}, complaints=frozenset({poisoned})))
    with served.client() as http:
        answers = {
            "detail": http.get(f"/complaints/{poisoned}/complaint"),
            "followups": http.get(f"/complaints/{poisoned}/followups"),
            "other detail": http.get(f"/complaints/{healthy}/complaint"),
            "inbox": inbox(http),
        }
    assert {name: a.json()["results"] is None for name, a in answers.items()} == {
        "detail": True,
        "followups": True,
        "other detail": False,
        "inbox": False,
    }
    assert served.new_counts() == {"null_results": 2}


# -- odd pages ----------------------------------------------------------------------------------------


def test_duplicate_item_in_a_page(served: Served) -> None:
    served.force("duplicate_item")
    with served.client() as http:
        page = inbox(http).json()["results"]
    ids = [item["complaint_id"] for item in page["data"]]
    assert len(ids) == 3 and len(set(ids)) == 2


def test_empty_page_that_still_has_a_next_page(served: Served) -> None:
    served.force("empty_page")
    with served.client() as http:
        page = inbox(http).json()["results"]
        last = inbox(http, page=3).json()["results"]
    assert page["data"] == [] and "page=2" in page["next_page_url"]
    assert (page["total"], page["from"], page["to"]) == (5, 1, 2)  # the true figures stay
    assert len(last["data"]) == 1 and last["next_page_url"] is None  # no next page: not applied
    assert served.new_counts() == {"empty_page": 1}


def test_next_page_url_that_repeats(served: Served) -> None:
    served.force("repeat_next_page")
    with served.client() as http:
        page = inbox(http, page=2).json()["results"]
        again = http.get(page["next_page_url"]).json()["results"]
    assert "page=2" in page["next_page_url"] and again["current_page"] == 2
    assert again["next_page_url"] == page["next_page_url"]


def test_page_drift_moves_an_item_from_an_earlier_page_to_the_end() -> None:
    sim = _world_with_complaints()
    with sim.serve() as base_url, httpx.Client(base_url=base_url, headers=STATIC) as http:
        page_one = [c["complaint_id"] for c in inbox(http).json()["results"]["data"]]
        sim.set_faults(FaultPlan({"page_drift": 1.0}, seed=3))
        page_two = [c["complaint_id"] for c in inbox(http, page=2).json()["results"]["data"]]
        sim.set_faults(None)
        everything = [c["complaint_id"] for c in inbox(http, per_page=10).json()["results"]["data"]]
    moved = everything[-1]
    assert moved in page_one and sim.world.complaint(moved).updated_at == sim.clock.now()
    skipped = set(everything) - set(page_one) - set(page_two) - {everything[-1], everything[-2]}
    assert len(skipped) == 1  # the walk's page 3 would start after it
    assert sim.fault_counts() == {"page_drift": 1}


# -- malformed records, on the wire copy only --------------------------------------------------------


def _content(item: dict[str, Any]) -> str:
    return item["content"]


def _impossible_date(item: dict[str, Any]) -> bool:
    return any(str(item.get(name, "")).startswith("31-02-2024 ") for name in ("updated_at", "created_at"))


def _missing_field(item: dict[str, Any]) -> bool:
    required = ("updated_at", "created_at", "status_code", "disposition_id", "title", "content")
    return any(name not in item for name in required)


def _wrong_type(item: dict[str, Any]) -> bool:
    expected = {
        "status_code": int,
        "disposition_id": int,
        "updated_at": str,
        "created_at": str,
        "attachments": list,
        "is_secret": int,
    }
    return any(not isinstance(item[name], kind) for name, kind in expected.items())


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("huge_content", lambda item: len(_content(item)) == 70_000 and _content(item).startswith(TEXT)),
        ("nul_byte", lambda item: "\x00" in _content(item)),
        ("lone_surrogate", lambda item: "\ud800" in _content(item)),
        ("emoji", lambda item: "🙏🏽" in _content(item)),
        ("html_content", lambda item: "<script>" in _content(item)),
        ("impossible_date", _impossible_date),
        ("missing_field", _missing_field),
        ("wrong_type", _wrong_type),
    ],
)
def test_malformed_records_in_the_inbox(served: Served, kind: str, check: Any) -> None:
    served.force(kind)
    with served.client() as http:
        answer = inbox(http)
    items = json.loads(answer.content)["results"]["data"]
    assert len(items) == 2 and all(check(item) for item in items)
    assert all(isinstance(item["complaint_id"], int) for item in items)  # identity survives
    if kind in ("nul_byte", "lone_surrogate", "emoji", "html_content"):
        assert all(_content(item).startswith(TEXT[:40]) for item in items)  # the head is kept
    if kind == "lone_surrogate":
        assert b"\\ud800" in answer.content  # the JSON escape, not invalid UTF-8
    assert served.new_counts() == {kind: 2}


def test_detail_follow_ups_and_stored_follow_up_are_malformed_too_but_the_world_is_not(served: Served) -> None:
    complaint_id = first_id(served.sim)
    with served.client() as http:
        assert post_followup(http, complaint_id, "[LS-00000000aa] " + TEXT).status_code == 200
        clean_detail = http.get(f"/complaints/{complaint_id}/complaint").json()
        served.force("emoji")
        detail = http.get(f"/complaints/{complaint_id}/complaint").json()["results"]["data"]
        followups = http.get(f"/complaints/{complaint_id}/followups").json()["results"]["data"]
        stored = post_followup(http, complaint_id, "[LS-00000000bb] " + TEXT).json()["results"]["data"]
        served.sim.set_faults(None)
        after = http.get(f"/complaints/{complaint_id}/complaint").json()
    assert "🙏🏽" in detail["content"] and "🙏🏽" in stored["content"]
    assert followups and all("🙏🏽" in f["content"] for f in followups)
    assert all("🙏" not in f.content for f in served.sim.world.complaint(complaint_id).followups)
    assert "🙏" not in served.sim.world.complaint(complaint_id).content
    assert after["results"]["data"]["content"] == clean_detail["results"]["data"]["content"]


# -- the server's clock ------------------------------------------------------------------------------


def test_clock_ahead_shifts_every_timestamp_consistently(served: Served) -> None:
    with served.client() as http:
        true = inbox(http).json()["results"]
        served.sim.set_faults(FaultPlan(settings=FaultSettings(clock_offset_minutes=7)))
        ahead = inbox(http).json()["results"]
        since = ahead["data"][1]["updated_at"]
        later = inbox(http, updated_since=since).json()["results"]
    for plain, shifted in zip(true["data"], ahead["data"], strict=True):
        assert parse_wib(shifted["updated_at"]) - parse_wib(plain["updated_at"]) == timedelta(minutes=7)
        assert parse_wib(shifted["created_at"]) - parse_wib(plain["created_at"]) == timedelta(minutes=7)
    assert later["data"][0]["updated_at"] == since  # inclusive, on the server's own (wrong) clock
    assert httpx.URL(later["next_page_url"]).params["updated_since"] == since
    assert served.new_counts() == {"clock_skew": 2}


# -- determinism, counts, profiles, admin endpoints --------------------------------------------------

MIXED = {
    "http_500": 0.1,
    "http_502": 0.1,
    "http_429": 0.1,
    "connection_reset": 0.1,
    "html_200": 0.05,
    "duplicate_item": 0.2,
    "emoji": 0.2,
    "missing_field": 0.2,
    "wrong_type": 0.1,
}


def _observe(seed: int) -> tuple[list[str], dict[str, int]]:
    sim = _world_with_complaints()
    seen: list[str] = []
    with sim.serve() as base_url, httpx.Client(base_url=base_url, headers=STATIC) as http:
        sim.set_faults(FaultPlan(MIXED, seed=seed))
        for n in range(40):
            try:
                answer = inbox(http, page=1 + n % 3)
                body = answer.content.replace(base_url.encode(), b"")  # the port differs
                seen.append(f"{answer.status_code}:{hashlib.sha256(body).hexdigest()[:12]}")
            except DROPPED as dropped:
                seen.append(type(dropped).__name__)
    return seen, sim.fault_counts()


def test_same_seed_same_faults_for_the_same_requests() -> None:
    first, first_counts = _observe(seed=11)
    second, second_counts = _observe(seed=11)
    other, _ = _observe(seed=12)
    assert first == second and first_counts == second_counts
    assert other != first
    assert sum(first_counts.values()) >= 10 and len(first_counts) >= 5


def test_counts_are_cumulative_over_plans_and_served_by_the_admin_endpoint(served: Served) -> None:
    with served.client() as http:
        served.force("http_500")
        inbox(http)
        inbox(http)
        served.force("duplicate_item")
        inbox(http)
        served.sim.set_faults(None)
        inbox(http)
        assert served.new_counts() == {"duplicate_item": 1, "http_500": 2}
        shown = http.get(f"{served.root}/_simulator/faults").json()
        switched = http.post(f"{served.root}/_simulator/faults", json={"profile": "flaky", "seed": 5}).json()
        refused = http.post(f"{served.root}/_simulator/faults", json={"profile": "chaotic"})
    assert shown == {"profile": None, "counts": served.sim.fault_counts()}
    assert switched["profile"] == "flaky" and switched["seed"] == 5 and switched["rates"]["http_429"] == 0.02
    assert refused.status_code == 422 and "chaotic" in refused.json()["message"]
    assert served.sim.faults.plan is not None and served.sim.faults.plan.name == "flaky"


def test_admin_and_token_endpoints_are_never_faulted(served: Served) -> None:
    everything = {kind: 1.0 for kind in RATED_KINDS if kind is not FaultKind.SLOW}
    served.sim.set_faults(FaultPlan(everything, settings=FaultSettings(clock_offset_minutes=30, **_fast())))
    with served.client() as http:
        clock = http.get(f"{served.root}/_simulator/clock")
        tallies = http.get(f"{served.root}/_simulator/tallies", params={"from": "01-01-2024", "to": "31-01-2024"})
        faults = http.get(f"{served.root}/_simulator/faults")
        token = http.post(
            f"{served.root}/oauth2/token", data={"grant_type": "client_credentials"}, auth=("sim-client", "sim-secret")
        )
    assert [r.status_code for r in (clock, tallies, faults, token)] == [200, 200, 200, 200]
    assert clock.json()["now"] == format_wib(served.sim.clock.now())  # not shifted
    assert tallies.json()["total"] == 5 and token.json()["token_type"] == "Bearer"
    assert served.new_counts() == {}


def test_profile_none_changes_nothing(served: Served) -> None:
    cid = first_id(served.sim)

    def answers(http: httpx.Client) -> list[bytes]:
        paths = ("/complaints/inbox", f"/complaints/{cid}/complaint", f"/complaints/{cid}/followups")
        return [http.get(path).content for path in paths]

    with served.client() as http:
        plain = answers(http)
        served.sim.set_faults("none", fault_seed=9)
        under_none = answers(http)
    assert under_none == plain and served.new_counts() == {}
    assert served.sim.faults.plan is not None and served.sim.faults.plan.name == "none"


def test_named_profiles() -> None:
    assert dict(profile("none").rates) == {}
    flaky = profile("flaky", seed=4)
    assert flaky.seed == 4 and flaky.name == "flaky"
    assert {k for k, rate in flaky.rates.items() if rate} == {
        FaultKind.HTTP_500,
        FaultKind.HTTP_502,
        FaultKind.HTTP_503,
        FaultKind.HTTP_504,
        FaultKind.HTTP_429,
        FaultKind.CONNECTION_RESET,
        FaultKind.SLOW,
    }
    hostile = profile("hostile")
    assert set(hostile.rates) == set(RATED_KINDS) and hostile.settings.clock_offset_minutes != 0
    assert all(hostile.rates[k] > flaky.rates[k] for k in flaky.rates)
    with pytest.raises(ValueError, match="flaky"):
        profile("chaotic")


# -- the TOML file format -----------------------------------------------------------------------------


def test_profile_file_builds_on_a_base(tmp_path: Path) -> None:
    path = tmp_path / "soak.toml"
    path.write_text(
        'base = "hostile"\n[rates]\nhttp_500 = 0.5\nemoji = 0\n[settings]\ntimeout_seconds = 1.5\n'
        "clock_offset_minutes = -3\n"
    )
    plan = load_profile_file(path, seed=8)
    assert plan.name == "soak" and plan.seed == 8
    assert plan.rates[FaultKind.HTTP_500] == 0.5 and plan.rates[FaultKind.EMOJI] == 0.0
    assert plan.rates[FaultKind.WRITE_LOST_DROP] == profile("hostile").rates[FaultKind.WRITE_LOST_DROP]
    assert plan.settings == FaultSettings(slow_seconds=0.3, timeout_seconds=1.5, clock_offset_minutes=-3)
    resolved = resolve_faults(str(path), seed=2)
    assert resolved is not None and resolved.seed == 2 and resolved.rates == plan.rates


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rate = 1\n", "unknown key 'rate'"),
        ("[rates]\nhttp_501 = 0.1\n", "unknown key in [rates]: 'http_501'"),
        ("[rates]\nclock_skew = 0.1\n", "unknown key in [rates]: 'clock_skew'"),
        ("[settings]\ntimeout = 2\n", "unknown key in [settings]: 'timeout'"),
        ("[rates]\nhttp_500 = 1.5\n", "from 0 to 1"),
        ('[rates]\nhttp_500 = "often"\n', "from 0 to 1"),
        ("[settings]\nretry_after_seconds = 1.5\n", "retry_after_seconds must be a whole number"),
        ('base = "chaos"\n', "base one of none, flaky, hostile"),
        ("[rates\n", "not a readable TOML file"),
    ],
)
def test_profile_file_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(FaultFileError, match=message.replace("[", r"\[").replace("]", r"\]")) as refused:
        load_profile_file(path)
    assert str(path) in str(refused.value)


def test_unknown_profile_or_missing_file_is_refused() -> None:
    with pytest.raises(ValueError, match="neither a fault profile"):
        resolve_faults("no-such-profile.toml")
    with pytest.raises(ValueError, match="neither a fault profile"):
        Simulator(small_world().world, faults="chaos")


def test_cli_names_the_fault_options_and_refuses_an_unknown_profile() -> None:
    runner = CliRunner()
    shown = runner.invoke(simulator_app(), ["simulator", "--help"], terminal_width=200)
    assert "--faults" in shown.output and "--fault-seed" in shown.output
    refused = runner.invoke(simulator_app(), ["simulator", "--faults", "chaos", "--port", "0"])
    assert refused.exit_code == 2 and "chaos" in refused.output


def test_plan_refuses_unknown_kinds_and_bad_rates() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        FaultPlan({"http_418": 0.1})
    with pytest.raises(ValueError, match="from 0 to 1"):
        FaultPlan({"http_500": -0.1})
    assert not FaultPlan().active and FaultPlan(settings=FaultSettings(clock_offset_minutes=1)).active
