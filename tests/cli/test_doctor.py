"""``lapor-sync doctor``: one line per layer, the first failure with its fix, exit 0/1/2 as ``status``.

Everything runs on loopback: the built-in simulator for a platform that works, a stub gateway
(``tests/support/gateway_stub.py``) for WSO2 faults, throttling and TLS with trustme's certificates,
a closed port for an unreachable host, and an injected resolver for a name that does not resolve.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme

from lapor_sync.checks.doctor import Network, Step, run_doctor
from tests.support.cli import cli_env, invoke  # noqa: F401 - cli_env is a fixture
from tests.support.e2e import CREDENTIALS, small_world
from tests.support.gateway_stub import CITY_INSTITUTIONS, EMPTY_INBOX, Answer, gateway_stub, paginated
from tests.support.splp import splp_key

INSTITUTIONS = "/institutions"
INBOX = "/complaints/inbox"
FAULT_900901 = Answer(
    401,
    {
        "fault": {
            "code": 900901,
            "message": "Invalid Credentials",
            "description": "Make sure you have given the correct access token",
        }
    },
)


@pytest.fixture
def settings_for(monkeypatch: pytest.MonkeyPatch, cli_env: str):  # noqa: F811 - the fixture imported above
    """Set the environment for a deployment at ``base_url`` with the simulator's credentials (or ``changes``)."""

    def point_at(base_url: str, **changes: str) -> None:
        values = {
            "API_BASE_URL": base_url,
            "AUTH_MODE": "static",
            "API_KEY": CREDENTIALS.api_key,
            "API_TOKEN": CREDENTIALS.app_token,
            "INSTITUTION_ID": "6271",
        } | changes
        for name, value in values.items():
            monkeypatch.setenv(f"LAPOR_SYNC_{name}", value)

    return point_at


@pytest.fixture
def simulator_url() -> Iterator[str]:
    """The built-in simulator, served on loopback over plain http."""
    with small_world().serve() as base_url:
        yield base_url


def lines(output: str) -> dict[str, str]:
    """The doctor's lines by step name (the fix line joined to its step's)."""
    found: dict[str, str] = {}
    last = ""
    for line in output.splitlines():
        if line.lstrip().startswith("fix:"):
            found[last] += "\n" + line.strip()
            continue
        mark, rest = line[0], line[2:]
        step = next(s.value for s in sorted(Step, key=lambda s: -len(s.value)) if rest.startswith(s.value))
        found[step] = f"{mark} {rest[len(step) :].strip()}"
        last = step
    return found


def doctor_json(*args: str) -> tuple[int, dict[str, dict[str, Any]]]:
    result = invoke(*args, "doctor", "--json")
    return result.exit_code, {step["step"]: step for step in json.loads(result.stdout)}


def doctor_against_stub(
    settings_for, answers: dict[str, Answer], *, tls: ssl.SSLContext | None = None, **changes: str
) -> tuple[int, dict[str, dict[str, Any]], list[str]]:
    """Run ``doctor --json`` against a stub gateway giving ``answers``: the exit code, the steps, the requests seen."""
    with gateway_stub(answers, tls=tls) as stub:
        settings_for(stub.base_url, **changes)
        code, steps = doctor_json()
    return code, steps, stub.seen


# -- the way is clear --------------------------------------------------------------------------------


def test_all_good_against_the_simulator(settings_for, simulator_url):
    settings_for(simulator_url)
    result = invoke("doctor")
    assert result.exit_code == 0, result.output
    found = lines(result.stdout)
    assert list(found) == [step.value for step in Step if step is not Step.PROXY]  # shown only when one is used
    assert found["settings"].startswith("✓ auth mode static, institution 6271 (Pemerintah Kota Palangka Raya)")
    assert found["DNS"] == "✓ 127.0.0.1 → 127.0.0.1"
    assert found["TCP"].startswith("✓ connected to 127.0.0.1:")
    assert found["TLS"] == "- skipped (http on loopback)"
    assert found["gateway key"] == "- no SPLP key configured (auth mode static)"
    assert found["gateway"] == "✓ let the request through (sent: authorization, token)"
    assert found["LAPOR!"] == "✓ accepted the key and app token"
    assert found["institution"].startswith("✓ 6271 Pemerintah Kota Palangka Raya visible")
    assert found["inbox"].startswith("✓ readable: 0 complaints updated since 2024-01-01 00:00 WIB")
    assert found["quota"].startswith("✓ doctor sent 2 GETs; ")
    assert CREDENTIALS.api_key not in result.output and CREDENTIALS.app_token.strip("{}") not in result.output


def test_json_gives_the_same_steps(settings_for, simulator_url):
    settings_for(simulator_url)
    code, steps = doctor_json()
    assert code == 0
    assert list(steps) == [step.value for step in Step if step is not Step.PROXY]
    assert all(set(step) == {"step", "ok", "detail", "fix"} for step in steps.values())
    assert steps["TLS"]["ok"] is None and steps["inbox"]["ok"] is True and steps["quota"]["fix"] is None


def test_it_only_reads_two_requests_and_never_writes(settings_for):
    with gateway_stub({INSTITUTIONS: CITY_INSTITUTIONS, INBOX: EMPTY_INBOX}) as stub:
        settings_for(stub.base_url)
        assert invoke("doctor").exit_code == 0
    assert stub.seen == ["GET /institutions", "GET /complaints/inbox"]


def test_the_inbox_is_read_one_row_from_page_one(settings_for):
    inbox = paginated([{"complaint_id": 1, "updated_at": "02-01-2024 09:00:00"}], total=1983)
    inbox.body["results"]["next_page_url"] = "http://127.0.0.1/lapor/3.0.0/complaints/inbox?page=2"
    code, steps, seen = doctor_against_stub(settings_for, {INSTITUTIONS: CITY_INSTITUTIONS, INBOX: inbox})
    assert code == 0
    assert steps["inbox"]["detail"] == "readable: 1,983 complaints updated since 2024-01-01 00:00 WIB"
    assert seen.count("GET /complaints/inbox") == 1


# -- the gateway and LAPOR! refuse -------------------------------------------------------------------


def test_wrong_splp_key_fails_the_gateway_with_its_fault(settings_for, monkeypatch):
    with gateway_stub({INSTITUTIONS: FAULT_900901, INBOX: FAULT_900901}) as stub:
        settings_for(stub.base_url, API_KEY="wrong-key-0123456789")
        result = invoke("doctor")
    assert result.exit_code == 1
    found = lines(result.stdout)
    assert found["gateway"].startswith("✗ SPLP gateway refused: HTTP 401: fault 900901 invalid credentials")
    assert "fix: check LAPOR_SYNC_API_KEY" in found["gateway"]
    assert "sandbox or production" in found["gateway"]
    assert found["LAPOR!"] == "- skipped" and found["inbox"] == "- skipped"
    assert found["quota"].startswith("✓ doctor sent 1 GET;")
    assert "wrong-key-0123456789" not in result.output
    assert stub.seen == ["GET /institutions"]


def test_a_wrong_splp_key_names_the_key_setting_once(settings_for):
    with gateway_stub({INSTITUTIONS: FAULT_900901}) as stub:
        settings_for(stub.base_url, AUTH_MODE="splp_key", SPLP_KEY=splp_key("PRODUCTION"))
        code, steps = doctor_json()
    assert code == 1
    gateway = steps["gateway"]
    assert gateway["detail"] == "SPLP gateway refused: HTTP 401: fault 900901 invalid credentials"
    assert gateway["fix"].startswith("check LAPOR_SYNC_SPLP_KEY (in the LAPOR_SYNC_SPLP_KEY_HEADER header); ")
    assert "sandbox or production" in gateway["fix"]


def test_wrong_lapor_key_passes_the_gateway_and_fails_lapor(settings_for, simulator_url):
    settings_for(simulator_url, API_KEY="not-the-key-0123456789")
    result = invoke("doctor")
    assert result.exit_code == 1
    found = lines(result.stdout)
    assert found["gateway"].endswith("LAPOR! answered HTTP 401")
    assert found["gateway"].startswith("✓")
    assert found["LAPOR!"].startswith("✗ LAPOR! refused: HTTP 401: authentication refused")
    assert "fix: LAPOR! refused the credentials: check LAPOR_SYNC_API_KEY" in found["LAPOR!"]
    assert found["institution"] == "- skipped"
    assert "not-the-key-0123456789" not in result.output


def oauth2(settings_for, simulator_url: str, secret: str) -> None:
    """Point the doctor at the simulator in OAuth2 mode, with the client secret ``secret``."""
    token_url = simulator_url.removesuffix("/lapor/3.0.0") + "/oauth2/token"
    settings_for(
        simulator_url,
        AUTH_MODE="oauth2",
        OAUTH_TOKEN_URL=token_url,
        OAUTH_CLIENT_ID=CREDENTIALS.client_id,
        OAUTH_CLIENT_SECRET=secret,
    )


def test_an_oauth2_client_the_gateway_refuses(settings_for, simulator_url):
    oauth2(settings_for, simulator_url, "not-the-secret-0123456789")
    result = invoke("doctor")
    assert result.exit_code == 1
    found = lines(result.stdout)
    assert found["gateway"].startswith("✗ SPLP gateway: HTTP 401: OAuth2 token endpoint refused the client credentials")
    assert "fix: check LAPOR_SYNC_OAUTH_CLIENT_ID, LAPOR_SYNC_OAUTH_CLIENT_SECRET" in found["gateway"]
    assert found["quota"].startswith("✓ doctor sent 1 OAuth2 token request;")
    assert "not-the-secret-0123456789" not in result.output


def test_an_oauth2_client_that_works(settings_for, simulator_url):
    oauth2(settings_for, simulator_url, CREDENTIALS.client_secret)
    code, steps = doctor_json()
    assert code == 0
    assert steps["gateway"]["detail"] == "let the request through (sent: auth, authorization, token)"
    assert steps["quota"]["detail"].startswith("doctor sent 1 OAuth2 token request and 2 GETs;")


def test_a_throttled_request_says_how_long_to_wait(settings_for):
    throttled = Answer(429, {"fault": {"code": 900800, "message": "Message throttled out"}})
    code, steps, seen = doctor_against_stub(settings_for, {INSTITUTIONS: throttled})
    assert code == 1
    assert steps["gateway"]["ok"] is None and "throttled" in steps["gateway"]["detail"]
    assert steps["quota"]["ok"] is False
    assert steps["quota"]["detail"].startswith("throttled by the gateway (HTTP 429")
    assert steps["quota"]["fix"].startswith("wait 65 s for the quota window")
    assert seen == ["GET /institutions"]  # sent once: no retry spends more of the quota


def test_an_institution_the_key_does_not_see(settings_for):
    others = paginated([{"id": 6201, "name": "Pemerintah Provinsi Kalimantan Tengah", "parent_id": None}])
    code, steps, seen = doctor_against_stub(settings_for, {INSTITUTIONS: others, INBOX: EMPTY_INBOX})
    assert code == 1
    assert steps["institution"]["detail"] == "6271 is not among the 1 institutions this key sees (6201)"
    assert "LAPOR_SYNC_INSTITUTION_ID" in steps["institution"]["fix"]
    assert steps["inbox"]["ok"] is None and seen == ["GET /institutions"]


def test_an_inbox_lapor_forbids(settings_for):
    forbidden = Answer(403, {"message": "This action is unauthorized."})
    code, steps, seen = doctor_against_stub(settings_for, {INSTITUTIONS: CITY_INSTITUTIONS, INBOX: forbidden})
    assert code == 1
    assert steps["inbox"]["detail"] == "LAPOR! refused: HTTP 403: forbidden: This action is unauthorized."
    assert "inbox access" in steps["inbox"]["fix"]


# -- below HTTP ---------------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_host(settings_for):
    settings_for(f"http://127.0.0.1:{closed_port()}/lapor/3.0.0")
    result = invoke("doctor")
    assert result.exit_code == 1
    found = lines(result.stdout)
    assert found["TCP"].startswith("✗ connection refused by 127.0.0.1:")
    assert "fix: check the port in LAPOR_SYNC_API_BASE_URL" in found["TCP"]
    assert all(found[step] == "- skipped" for step in ("TLS", "gateway key", "gateway", "LAPOR!", "inbox"))
    assert found["quota"].startswith("✓ doctor sent no request;")


def test_a_name_that_does_not_resolve(settings_for):
    settings_for("https://api-splp.layanan.go.id/lapor/3.0.0")

    def no_such_name(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    def no_connect(address: str, port: int, timeout: float) -> socket.socket:
        raise AssertionError("nothing is connected to after a failed lookup")

    report = run_doctor(None, network=Network(resolve=no_such_name, connect=no_connect))
    dns = report.checks[1]
    assert (dns.step, dns.ok) == (Step.DNS, False)
    assert dns.detail == "cannot look up api-splp.layanan.go.id: Name or service not known"
    assert "LAPOR_SYNC_API_BASE_URL" in (dns.fix or "")
    assert report.exit_code == 1 and report.requests == 0


def test_a_firewall_that_drops_the_connection(settings_for):
    settings_for("https://api-splp.layanan.go.id/lapor/3.0.0")
    tried: list[str] = []

    def drops(address: str, port: int, timeout: float) -> socket.socket:
        tried.append(address)
        raise TimeoutError

    network = Network(resolve=lambda host, port: ["203.0.113.7", "203.0.113.8"], connect=drops)
    tcp = run_doctor(None, timeout=2, network=network).checks[2]
    assert tcp.ok is False and tcp.detail == "no answer from 203.0.113.8:443 within 2 s"
    assert tcp.fix is not None and "api-splp.layanan.go.id:443" in tcp.fix and "HTTPS_PROXY" in tcp.fix
    assert tried == ["203.0.113.7", "203.0.113.8"]


def test_a_name_lookup_that_hangs_is_cut_at_the_timeout(settings_for):
    settings_for("https://api-splp.layanan.go.id/lapor/3.0.0")
    import threading

    release = threading.Event()

    def hangs(host: str, port: int) -> list[str]:
        release.wait(10)
        return []

    try:
        report = run_doctor(None, timeout=0.2, network=Network(resolve=hangs))
    finally:
        release.set()
    assert report.checks[1].ok is False
    assert report.checks[1].detail == "looking up api-splp.layanan.go.id: no answer within 0.2 s"


# -- TLS -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA, *identities: str, **issue: Any) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*identities, **issue).configure_cert(context)
    return context


def ca_bundle(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "city-proxy-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def test_tls_good_shows_the_certificate_and_everything_passes(settings_for, ca, tmp_path):
    not_after = datetime(2031, 1, 1, 12, 0, tzinfo=UTC)
    tls = server_context(ca, "127.0.0.1", common_name="gateway.test", not_after=not_after)
    with gateway_stub({INSTITUTIONS: CITY_INSTITUTIONS, INBOX: EMPTY_INBOX}, tls=tls) as stub:
        settings_for(stub.base_url, TLS_CA_BUNDLE=ca_bundle(ca, tmp_path))
        result = invoke("doctor")
    assert result.exit_code == 0, result.output
    found = lines(result.stdout)
    assert found["TLS"].startswith("✓ certificate gateway.test, valid until 2031-01-01 19:00 WIB, TLSv1.")


def test_unknown_ca_names_the_ca_bundle_setting(settings_for, ca):
    with gateway_stub({}, tls=server_context(ca, "127.0.0.1")) as stub:
        settings_for(stub.base_url)  # trusts the default CAs only
        result = invoke("doctor")
    assert result.exit_code == 1
    found = lines(result.stdout)
    assert found["TLS"].startswith("✗ certificate signed by an unknown CA (unable to get local issuer certificate)")
    assert "LAPOR_SYNC_TLS_CA_BUNDLE" in found["TLS"]
    assert found["gateway"] == "- skipped" and stub.seen == []


def test_expired_certificate(settings_for, ca, tmp_path):
    now = datetime.now(UTC)
    tls = server_context(ca, "127.0.0.1", not_before=now - timedelta(days=400), not_after=now - timedelta(days=2))
    code, steps, seen = doctor_against_stub(settings_for, {}, tls=tls, TLS_CA_BUNDLE=ca_bundle(ca, tmp_path))
    assert code == 1
    assert steps["TLS"]["detail"] == "certificate expired (certificate has expired)"
    assert "clock" in steps["TLS"]["fix"]


def test_certificate_for_another_host(settings_for, ca, tmp_path):
    code, steps, seen = doctor_against_stub(
        settings_for, {}, tls=server_context(ca, "elsewhere.test"), TLS_CA_BUNDLE=ca_bundle(ca, tmp_path)
    )
    assert code == 1
    assert steps["TLS"]["detail"].startswith("certificate is not for 127.0.0.1 (")
    assert "LAPOR_SYNC_API_BASE_URL" in steps["TLS"]["fix"]


# -- settings -----------------------------------------------------------------------------------------


def test_bad_settings_exit_2_and_nothing_is_checked(settings_for, simulator_url):
    settings_for(simulator_url, AUTH_MODE="basic")
    code, steps = doctor_json()
    assert code == 2
    assert steps["settings"]["ok"] is False
    assert steps["settings"]["detail"] == "LAPOR_SYNC_AUTH_MODE: must be 'static', 'splp_key' or 'oauth2', got 'basic'"
    assert all(step["ok"] is None for name, step in steps.items() if name != "settings")


def test_missing_credentials_are_named(settings_for, simulator_url, monkeypatch):
    settings_for(simulator_url)
    monkeypatch.delenv("LAPOR_SYNC_API_TOKEN")
    code, steps = doctor_json()
    assert code == 2
    assert "LAPOR_SYNC_API_TOKEN" in steps["settings"]["detail"]


def test_a_database_that_does_not_answer_is_a_settings_failure(settings_for, simulator_url, monkeypatch):
    settings_for(simulator_url)
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL", f"postgresql://lapor:s3cret-pw@127.0.0.1:{closed_port()}/lapor")
    result = invoke("doctor", "--json")
    assert result.exit_code == 2
    settings = json.loads(result.stdout)[0]
    assert settings["detail"].startswith("LAPOR_SYNC_DATABASE_URL: cannot use the database: ")
    assert "s3cret-pw" not in result.output


def test_the_database_is_only_read(settings_for, simulator_url, cli_env):  # noqa: F811
    settings_for(simulator_url)
    database_file = Path(cli_env.removeprefix("sqlite:///"))
    code, steps = doctor_json()
    assert code == 0
    assert "no file yet" in steps["settings"]["detail"]
    assert not database_file.exists()


@pytest.fixture
def postgres_url() -> str:
    """The test server's URL, read before ``clean_env`` removes every ``LAPOR_SYNC_*`` variable."""
    from tests.conftest import _postgres_url

    return _postgres_url()


def test_a_postgresql_database_is_reached(postgres_url, settings_for, simulator_url, monkeypatch):
    settings_for(simulator_url)
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL", postgres_url)
    code, steps = doctor_json()
    assert code == 0
    assert steps["settings"]["detail"].split("database ", 1)[1].startswith("postgresql at 127.0.0.1:5432/")


def test_help_tells_the_exit_codes():
    result = invoke("doctor", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "Exits 0 when every step passed, 1 when one failed (degraded), 2 when the settings are wrong" in text
