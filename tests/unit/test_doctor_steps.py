"""The doctor's pieces on their own: where it connects (a proxy too), the fixes it names, its exit codes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lapor_sync.adapters.national.proxy import choose
from lapor_sync.checks.doctor import EXIT_CANNOT_RUN, EXIT_FAILED, EXIT_OK, Check, DoctorReport, Step
from lapor_sync.checks.doctor.national import Spent, gateway_fix, lapor_fix
from lapor_sync.checks.doctor.network import Target
from lapor_sync.checks.doctor.quota import check_quota
from lapor_sync.domain.errors import TransientError

PRODUCTION = "https://api-splp.layanan.go.id/lapor/3.0.0"


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_target_is_the_base_urls_host_and_port(no_proxy_env):
    assert Target.of(PRODUCTION) == Target("https", "api-splp.layanan.go.id", 443)
    assert Target.of("http://127.0.0.1:8765/lapor/3.0.0").dialled == ("127.0.0.1", 8765)


def test_through_a_proxy_the_proxy_is_dialled(no_proxy_env):
    no_proxy_env.setenv("HTTPS_PROXY", "http://proxy.kota.test:3128")
    target = Target.of(PRODUCTION, choose(PRODUCTION).route)
    assert target.dialled == ("proxy.kota.test", 3128)
    assert target.where() == "proxy.kota.test:3128 (proxy for api-splp.layanan.go.id, from HTTPS_PROXY)"
    # plain http never goes through a proxy (the client mounts a direct transport for it)
    assert choose("http://127.0.0.1:8765/lapor/3.0.0").route is None


def test_no_proxy_excludes_the_host(no_proxy_env):
    no_proxy_env.setenv("HTTPS_PROXY", "http://proxy.kota.test:3128")
    no_proxy_env.setenv("NO_PROXY", "layanan.go.id")
    assert Target.of(PRODUCTION, choose(PRODUCTION).route).proxy is None


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (900901, "LAPOR_SYNC_API_KEY"),
        (900902, "sandbox or production"),
        (None, "LAPOR_SYNC_API_KEY"),
        (900906, "endpoint paths and LAPOR_SYNC_API_BASE_URL (lapor-sync config show)"),
        (900907, "run doctor again in a few minutes"),
        (900909, "subscribe it"),
    ],
)
def test_a_gateway_fault_gets_its_fix(code, words):
    assert words in gateway_fix(code, "static")


def test_gateway_credentials_are_named_by_auth_mode():
    assert "LAPOR_SYNC_OAUTH_CLIENT_SECRET" in gateway_fix(900901, "oauth2")
    assert "LAPOR_SYNC_SPLP_KEY (in the LAPOR_SYNC_SPLP_KEY_HEADER header)" in gateway_fix(900901, "splp_key")
    assert "LAPOR_SYNC_API_KEY" in gateway_fix(900901, "static")


@pytest.mark.parametrize("mode", ["static", "splp_key", "oauth2"])
def test_lapor_refusing_the_credentials_names_its_own_in_every_mode(mode):
    # Beside the gateway's key or token, LAPOR! is sent its own API key and app token in every mode.
    fix = lapor_fix(401, mode)
    assert "LAPOR_SYNC_API_KEY" in fix and "LAPOR_SYNC_API_TOKEN" in fix and "OAUTH" not in fix


def test_lapor_fixes_by_status():
    assert "LAPOR_SYNC_API_TOKEN" in lapor_fix(401, "static")
    assert "API access" in lapor_fix(403, "static")
    assert "later" in lapor_fix(502, "static")
    assert "docs/api.md" in lapor_fix(200, "static")  # an answer that is not the API


def test_exit_codes_follow_status():
    passed = Check.passed(Step.DNS, "x")
    assert DoctorReport((passed, Check.skipped(Step.TLS))).exit_code == EXIT_OK
    assert DoctorReport((passed, Check.failed(Step.TCP, "x", "y"))).exit_code == EXIT_FAILED
    assert DoctorReport((Check.failed(Step.SETTINGS, "x", "y"),)).exit_code == EXIT_CANNOT_RUN


def test_a_throttle_with_retry_after_waits_that_long():
    throttled = TransientError("Too Many Attempts.", status=429, retry_after=20)
    configured = SimpleNamespace(requests_per_minute=10, quota_wait_seconds=65.0)
    check = check_quota(configured, Spent(requests=1), throttled)  # type: ignore[arg-type]
    assert check.ok is False and check.fix is not None and check.fix.startswith("wait 20 s")
    assert check.detail.startswith("throttled by the gateway (HTTP 429); doctor sent 1 GET;")
    assert check.detail.endswith("client-side quota 10 requests/min")
