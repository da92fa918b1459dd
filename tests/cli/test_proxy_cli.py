"""``config show`` and ``doctor`` through a city's proxy: the proxy in force, masked, and its own doctor layer."""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from sqlalchemy import create_engine

from tests.support.cli import cli_env, invoke  # noqa: F401 - cli_env is a fixture
from tests.support.e2e import CREDENTIALS, small_world
from tests.support.forward_proxy import closed_port, forward_proxy
from tests.support.gateway_stub import BASE_PATH, CITY_INSTITUTIONS, EMPTY_INBOX, gateway_stub
from tests.support.secret_search import assert_no_secret, basic_auth, capture_all_logs, table_cells

PASSWORD = "pr0xy-rahasia"  # noqa: S105 - a test value
_PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, cli_env: str) -> pytest.MonkeyPatch:  # noqa: F811 - the fixture imported above
    """The simulator's credentials, and no proxy variable of the machine running the tests."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in {
        "AUTH_MODE": "static",
        "API_KEY": CREDENTIALS.api_key,
        "API_TOKEN": CREDENTIALS.app_token,
        "INSTITUTION_ID": "6271",
    }.items():
        monkeypatch.setenv(f"LAPOR_SYNC_{name}", value)
    return monkeypatch


@pytest.fixture
def gateway(env: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[int]:
    """The gateway stub over HTTPS as ``gateway.test`` (trusted through the CA bundle setting): its port."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("gateway.test").configure_cert(context)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    env.setenv("LAPOR_SYNC_TLS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    answers = {"/institutions": CITY_INSTITUTIONS, "/complaints/inbox": EMPTY_INBOX}
    with gateway_stub(answers, tls=context) as stub:
        port = int(stub.base_url.rsplit(":", 1)[1].split("/", 1)[0])
        env.setenv("LAPOR_SYNC_API_BASE_URL", f"https://gateway.test:{port}{BASE_PATH}")
        yield port


def doctor(*args: str) -> tuple[int, dict[str, dict[str, object]], str]:
    result = invoke(*args, "doctor", "--json")
    return result.exit_code, {step["step"]: step for step in json.loads(result.stdout)}, result.output


def test_config_show_prints_the_proxy_in_force_masked_and_the_variable_it_came_from(env, tmp_path):
    secret = tmp_path / "proxy-url"
    secret.write_text(f"http://kota:{PASSWORD}@proxy.kota.go.id:3128\n")
    env.setenv("LAPOR_SYNC_PROXY_URL_FILE", str(secret))
    env.setenv("HTTPS_PROXY", "http://ignored.kota.go.id:8080")
    shown = json.loads(invoke("config", "show", "--json").stdout)
    assert shown["national"]["proxy"] == "http://***:***@proxy.kota.go.id:3128 (from LAPOR_SYNC_PROXY_URL_FILE)"
    assert shown["proxy_url"]["source"] == "env-file"
    table = invoke("config", "show").stdout
    assert re.search(
        r"│ proxy +│ http://\*\*\*:\*\*\*@proxy\.kota\.go\.id:3128 \(from LAPOR_SYNC_PROXY_URL_FILE\)", table
    )
    assert PASSWORD not in table + json.dumps(shown)


def test_doctor_shows_the_proxy_as_a_layer_and_checks_tls_inside_its_tunnel(env, gateway, tmp_path):
    with forward_proxy(credentials=f"kota:{PASSWORD}") as proxy:
        (tmp_path / "proxy-url").write_text(f"http://kota:{PASSWORD}@127.0.0.1:{proxy.port}")
        env.setenv("LAPOR_SYNC_PROXY_URL_FILE", str(tmp_path / "proxy-url"))
        code, steps, output = doctor()
    assert code == 0, output
    assert steps["TCP"]["detail"].startswith(f"connected to 127.0.0.1:{proxy.port} in ")
    assert steps["proxy"]["ok"] is True
    assert steps["proxy"]["detail"].startswith(
        f"127.0.0.1:{proxy.port} (from LAPOR_SYNC_PROXY_URL_FILE) opened a tunnel to gateway.test:{gateway}: "
        "200 Connection established, "
    )
    assert str(steps["TLS"]["detail"]).startswith("certificate gateway.test, valid until ")
    assert [step for step in steps][:5] == ["settings", "DNS", "TCP", "proxy", "TLS"]
    assert PASSWORD not in output
    assert proxy.seen[0] == f"CONNECT gateway.test:{gateway} (right)"


def test_doctor_says_the_proxy_refused_the_credentials_and_sends_nothing_more(env, gateway):
    with forward_proxy(credentials="kota:the-right-one") as proxy:
        env.setenv("HTTPS_PROXY", f"http://kota:{PASSWORD}@127.0.0.1:{proxy.port}")
        code, steps, output = doctor()
    assert code == 1
    assert (
        steps["proxy"]["detail"]
        == f"the proxy 127.0.0.1:{proxy.port} answered CONNECT with 407 Proxy Authentication Required"
    )
    assert str(steps["proxy"]["fix"]).startswith(
        "the proxy refused the credentials: check the user and password in HTTPS_PROXY"
    )
    assert steps["TLS"]["ok"] is None and steps["gateway"]["ok"] is None
    assert PASSWORD not in output


def test_doctor_names_a_proxy_that_is_down_and_its_variable(env, gateway):
    down = closed_port()
    env.setenv("https_proxy", f"http://127.0.0.1:{down}")
    code, steps, _ = doctor()
    assert code == 1
    assert steps["TCP"]["detail"] == f"cannot reach the proxy 127.0.0.1:{down} (from https_proxy): connection refused"


def test_all_proxy_socks5_leaves_the_loopback_simulator_alone(env):
    env.setenv("ALL_PROXY", f"socks5://127.0.0.1:{closed_port()}")
    with small_world().serve() as base_url:
        env.setenv("LAPOR_SYNC_API_BASE_URL", base_url)
        code, steps, output = doctor()
    assert code == 0, output
    assert "proxy" not in steps
    assert json.loads(invoke("config", "show", "--json").stdout)["national"]["proxy"] == (
        "direct (loopback is never proxied)"
    )


def test_the_proxy_password_is_nowhere_after_syncs_doctor_and_config_show_right_and_wrong(
    env,
    gateway,
    tmp_path,
    cli_env,  # noqa: F811 - the fixture imported above
):
    wrong = "salah-Xq7Lk-leakcheck"
    outputs: dict[str, str] = {}
    with forward_proxy(credentials=f"kota:{PASSWORD}") as proxy, capture_all_logs() as logs:
        assert invoke("db", "upgrade").exit_code == 0
        (tmp_path / "proxy-url").write_text(f"http://kota:{PASSWORD}@127.0.0.1:{proxy.port}")
        env.setenv("LAPOR_SYNC_PROXY_URL_FILE", str(tmp_path / "proxy-url"))
        for command in (["sync"], ["doctor"], ["config", "show"], ["config", "show", "--json"]):
            result = invoke("--log-level", "debug", *command)
            outputs[f"right: {command}"] = result.output + repr(result.exception)
        assert "Sync run #1: ok" in outputs["right: ['sync']"]
        env.delenv("LAPOR_SYNC_PROXY_URL_FILE")
        env.setenv("HTTPS_PROXY", f"http://kota:{wrong}@127.0.0.1:{proxy.port}")
        for command in (["sync"], ["doctor"], ["config", "show"]):
            result = invoke("--log-level", "debug", *command)
            outputs[f"wrong: {command}"] = result.output + repr(result.exception)
        assert "refused the credentials (407)" in outputs["wrong: ['sync']"]
    secrets = {
        "proxy password": PASSWORD,
        "proxy Basic credentials": basic_auth("kota", PASSWORD),
        "wrong proxy password": wrong,
        "wrong proxy Basic credentials": basic_auth("kota", wrong),
    }
    tables = table_cells(create_engine(cli_env))
    assert_no_secret(outputs | logs.haystacks() | tables, secrets)
