"""The doctor's gateway-key step: the SPLP key's claims against the base URL, read before any request (CONTRACT §7 G5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from pydantic import SecretStr

from lapor_sync.checks.doctor.gateway_key import check_gateway_key
from tests.support.splp import splp_key

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
PRODUCTION = "https://api-splp.layanan.go.id/lapor/3.0.0"
SANDBOX = "https://api-splp.layanan.go.id/sandbox-konsolidasi/1.0"


def settings(key: str | None, base_url: str = PRODUCTION, mode: str = "splp_key") -> SimpleNamespace:
    return SimpleNamespace(auth_mode=mode, splp_key=SecretStr(key) if key else None, api_base_url=base_url)


def test_a_matching_key_passes_and_says_its_kind_and_expiry():
    check = check_gateway_key(settings(splp_key("PRODUCTION", expires=NOW + timedelta(days=90))), NOW)
    assert check.ok is True
    assert check.detail.startswith("PRODUCTION key for the production API, expires ")
    assert "WIB" in check.detail


def test_a_sandbox_key_on_the_production_url_fails_with_the_fix():
    key = splp_key("SANDBOX")
    check = check_gateway_key(settings(key), NOW)
    assert check.ok is False
    assert "SANDBOX key on the production API" in check.detail and "900901" in check.detail
    assert "LAPOR_SYNC_SPLP_KEY" in check.fix and "LAPOR_SYNC_API_BASE_URL" in check.fix
    assert key not in check.detail + check.fix


def test_a_production_key_on_the_sandbox_fails():
    check = check_gateway_key(settings(splp_key("PRODUCTION"), SANDBOX), NOW)
    assert check.ok is False and "PRODUCTION key on the sandbox API" in check.detail


def test_an_expired_key_fails_and_one_expiring_soon_passes_with_a_note():
    expired = check_gateway_key(settings(splp_key("PRODUCTION", expires=NOW - timedelta(hours=1))), NOW)
    assert expired.ok is False and "expired" in expired.detail and "new key" in expired.fix
    soon = check_gateway_key(settings(splp_key("PRODUCTION", expires=NOW + timedelta(days=3))), NOW)
    assert soon.ok is True and "ask SPLP for a new key before then" in soon.detail


def test_an_unreadable_key_fails_without_quoting_it():
    check = check_gateway_key(settings("not-a-jwt-secret-value"), NOW)
    assert check.ok is False
    assert "LAPOR_SYNC_SPLP_KEY" in check.detail and "not-a-jwt-secret-value" not in check.detail + check.fix


def test_modes_without_an_splp_key_are_not_checked():
    check = check_gateway_key(settings(None, mode="static"), NOW)
    assert check.ok is None and "auth mode static" in check.detail
