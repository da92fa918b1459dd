"""The national client through a city's proxy: a real CONNECT proxy on loopback, HTTPS to a stub behind it.

The stub answers on 127.0.0.1 under the name ``gateway.test`` (its certificate is trustme's); the
client never resolves that name: the proxy does (``tests/support/forward_proxy.py``).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from lapor_sync.adapters.national import LaporClient, RetryPolicy
from lapor_sync.config.settings import Settings
from lapor_sync.domain.errors import RunStoppingError, TransientError
from tests.support.e2e import CREDENTIALS, small_world
from tests.support.forward_proxy import closed_port, forward_proxy
from tests.support.gateway_stub import BASE_PATH, Answer, gateway_stub

CATEGORIES = Answer(200, {"results": [{"id": 1, "name": "Infrastruktur"}]})
PROXY_PASSWORD = "pr0xy-rahasia"  # noqa: S105 - a test value


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """The stub over HTTPS as ``gateway.test``: its port, and the CA bundle that trusts it."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("gateway.test").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with gateway_stub({"/categories": CATEGORIES}, tls=context) as stub:
        yield int(stub.base_url.rsplit(":", 1)[1].split("/", 1)[0]), str(bundle)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy variable of the machine running the tests leaks in."""
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "LAPOR_SYNC_PROXY_URL"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def settings_for(base_url: str, bundle: str | None = None, **values: object) -> Settings:
    more = {"tls_ca_bundle": bundle} if bundle else {}
    return Settings.load(
        api_base_url=base_url,
        auth_mode="static",
        api_key=CREDENTIALS.api_key,
        api_token=CREDENTIALS.app_token,
        **more,
        **values,
    )


def test_the_proxy_setting_wins_over_https_proxy_and_carries_https_in_a_tunnel(gateway, environment):
    port, bundle = gateway
    environment.setenv("HTTPS_PROXY", f"http://127.0.0.1:{closed_port()}")  # a proxy that is down
    with forward_proxy() as proxy:
        environment.setenv("LAPOR_SYNC_PROXY_URL", proxy.url)
        with LaporClient.from_settings(settings_for(f"https://gateway.test:{port}{BASE_PATH}", bundle)) as client:
            assert [category.name for category in client.list_categories()] == ["Infrastruktur"]
    assert proxy.seen == [f"CONNECT gateway.test:{port} (no credentials)"]


def test_proxy_credentials_from_a_file_are_sent_as_basic_and_never_shown(gateway, environment, tmp_path):
    port, bundle = gateway
    secret = tmp_path / "proxy-url"
    with forward_proxy(credentials=f"kota:{PROXY_PASSWORD}") as proxy:
        secret.write_text(f"http://kota:{PROXY_PASSWORD}@127.0.0.1:{proxy.port}\n")
        environment.setenv("LAPOR_SYNC_PROXY_URL_FILE", str(secret))
        settings = settings_for(f"https://gateway.test:{port}{BASE_PATH}", bundle)
        with LaporClient.from_settings(settings) as client:
            client.list_categories()
    assert proxy.seen == [f"CONNECT gateway.test:{port} (right)"]
    assert PROXY_PASSWORD not in repr(settings.masked())


def test_a_proxy_refusing_the_credentials_stops_the_run_in_one_line_naming_the_setting(gateway, environment):
    port, bundle = gateway
    with forward_proxy(credentials="kota:the-right-one") as proxy:
        environment.setenv("LAPOR_SYNC_PROXY_URL", f"http://kota:{PROXY_PASSWORD}@127.0.0.1:{proxy.port}")
        with (
            LaporClient.from_settings(settings_for(f"https://gateway.test:{port}{BASE_PATH}", bundle)) as client,
            pytest.raises(RunStoppingError) as refused,
        ):
            client.list_categories()
    assert str(refused.value) == (
        f"the proxy at 127.0.0.1:{proxy.port} refused the credentials (407): check the user and password in "
        "LAPOR_SYNC_PROXY_URL (LAPOR_SYNC_PROXY_URL_FILE keeps them out of the environment)"
    )
    assert PROXY_PASSWORD not in str(refused.value)
    assert proxy.seen == [f"CONNECT gateway.test:{port} (wrong)"]  # a 407 is not retried


def test_a_proxy_asking_for_credentials_none_were_given_for_says_where_to_put_them(gateway, environment):
    port, bundle = gateway
    with forward_proxy(credentials="kota:the-right-one") as proxy:
        environment.setenv("HTTPS_PROXY", proxy.url)
        with (
            LaporClient.from_settings(settings_for(f"https://gateway.test:{port}{BASE_PATH}", bundle)) as client,
            pytest.raises(RunStoppingError) as refused,
        ):
            client.list_categories()
    assert str(refused.value) == (
        f"the proxy at 127.0.0.1:{proxy.port} asks for credentials (407): put its user and password in HTTPS_PROXY "
        f"as http://user:password@127.0.0.1:{proxy.port} (LAPOR_SYNC_PROXY_URL_FILE keeps them out of the environment)"
    )


def test_a_proxy_that_is_down_is_named_with_its_variable_and_retried_as_transient(gateway, environment):
    port, bundle = gateway
    down = closed_port()
    environment.setenv("HTTPS_PROXY", f"http://127.0.0.1:{down}")
    settings = settings_for(f"https://gateway.test:{port}{BASE_PATH}", bundle)
    waits: list[float] = []
    retry = RetryPolicy(sleep=waits.append, initial_wait_seconds=0.01)
    with LaporClient.from_settings(settings, retry=retry) as client, pytest.raises(TransientError) as failed:
        client.list_categories()
    assert type(failed.value) is TransientError
    assert len(waits) == retry.max_attempts - 1
    assert str(failed.value) == f"cannot reach the proxy 127.0.0.1:{down} (from HTTPS_PROXY): connection refused"


def test_all_proxy_socks5_in_the_environment_leaves_the_loopback_simulator_alone(environment):
    environment.setenv("ALL_PROXY", f"socks5://127.0.0.1:{closed_port()}")
    environment.setenv("https_proxy", f"http://127.0.0.1:{closed_port()}")
    with small_world().serve() as base_url, LaporClient.from_settings(settings_for(base_url)) as client:
        assert client.list_categories()
