"""The SPLP key's claims read without verifying it, the base URL's kind, and what is wrong with the pair (CONTRACT §7 G5)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from pydantic import SecretStr

from lapor_sync.adapters.national.config import connection_report
from lapor_sync.adapters.national.splp_key import (
    KeyClaims,
    UnreadableKeyError,
    base_url_kind,
    key_warnings,
    read_key_claims,
)
from lapor_sync.domain.errors import ConfigurationError
from tests.support.splp import splp_key

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # 10:00 WIB
PRODUCTION = "https://api-splp.layanan.go.id/lapor/3.0.0"
SANDBOX = "https://api-splp.layanan.go.id/sandbox-konsolidasi/1.0"


def claims_of(key: str) -> KeyClaims:
    return read_key_claims(SecretStr(key))


def test_a_sandbox_key_is_read_with_its_times() -> None:
    claims = claims_of(splp_key("SANDBOX", issued=NOW - timedelta(days=30), expires=NOW + timedelta(days=335)))

    assert claims == KeyClaims("SANDBOX", "apiKey", NOW - timedelta(days=30), NOW + timedelta(days=335))
    assert claims.issued_at is not None and claims.issued_at.tzinfo is not None


def test_a_production_key_without_exp_never_expires() -> None:
    claims = claims_of(splp_key("PRODUCTION", issued=NOW))

    assert (claims.keytype, claims.expires_at) == ("PRODUCTION", None)
    assert key_warnings(claims, PRODUCTION, NOW) == []


def test_the_key_type_is_read_in_any_case() -> None:
    assert claims_of(splp_key("sandbox")).keytype == "SANDBOX"


def test_the_signature_is_not_checked_the_gateway_does_that() -> None:
    header, payload, _signature = splp_key("PRODUCTION").split(".")

    assert claims_of(f"{header}.{payload}.bm90LXRoZS1zaWduYXR1cmU").keytype == "PRODUCTION"


def _segment(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "garbage",
    [
        "not-a-jwt-secret-value",
        "aaaa.bbbb.cccc",
        f"{_segment({'alg': 'HS256'})}.{_segment(['a', 'list'])}.c2ln",
        f"{_segment({'alg': 'HS256'})}.bm90IGpzb24.c2ln",
        "",
    ],
)
def test_a_key_that_is_no_readable_jwt_is_refused_naming_the_setting_not_the_key(garbage: str) -> None:
    with pytest.raises(UnreadableKeyError) as refused:
        read_key_claims(SecretStr(garbage))

    assert isinstance(refused.value, ConfigurationError)
    message = str(refused.value)
    assert message.startswith("LAPOR_SYNC_SPLP_KEY: not a readable JWT")
    assert not garbage or garbage not in message


def test_a_key_pasted_with_its_bearer_prefix_is_refused_saying_so() -> None:
    key = splp_key()

    with pytest.raises(UnreadableKeyError) as refused:
        read_key_claims(SecretStr(f"Bearer {key}"))

    assert str(refused.value).startswith("LAPOR_SYNC_SPLP_KEY: give the key alone, without 'Bearer '")
    assert key not in str(refused.value)


@pytest.mark.parametrize(("claim", "value"), [("keytype", 1), ("iat", "yesterday"), ("exp", True), ("exp", 10**20)])
def test_a_claim_of_the_wrong_type_is_refused(claim: str, value: object) -> None:
    with pytest.raises(UnreadableKeyError, match=f"LAPOR_SYNC_SPLP_KEY: its '{claim}' claim"):
        claims_of(splp_key(**{claim: value}))


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        (PRODUCTION, "production"),
        (SANDBOX, "sandbox"),
        (PRODUCTION + "/", "production"),
        ("http://127.0.0.1:8765/lapor/3.0.0", "production"),  # the simulator is judged by its path
        ("http://127.0.0.1:8765/sandbox-konsolidasi/1.0", "sandbox"),
        ("https://gateway.kota.go.id/lapor/2.0", "unknown"),
        ("https://api-splp.layanan.go.id", "unknown"),
        ("http://[::1/lapor/3.0.0", "unknown"),
    ],
)
def test_production_and_sandbox_are_told_by_the_path(url: str, kind: str) -> None:
    assert base_url_kind(url) == kind


def test_a_sandbox_key_on_the_production_api_is_warned_of_with_the_fix() -> None:
    (warning,) = key_warnings(claims_of(splp_key("SANDBOX")), PRODUCTION, NOW)

    assert warning.startswith("LAPOR_SYNC_SPLP_KEY is a SANDBOX key but LAPOR_SYNC_API_BASE_URL is the production API")
    assert "900901" in warning and "use a PRODUCTION key, or the sandbox URL" in warning


def test_a_production_key_on_the_sandbox_is_warned_of() -> None:
    (warning,) = key_warnings(claims_of(splp_key("PRODUCTION")), SANDBOX, NOW)

    assert "is a PRODUCTION key but LAPOR_SYNC_API_BASE_URL is the sandbox" in warning


@pytest.mark.parametrize(
    ("keytype", "url"), [("PRODUCTION", PRODUCTION), ("SANDBOX", SANDBOX), ("SANDBOX", "https://x/y")]
)
def test_a_key_that_suits_the_url_or_an_unknown_url_is_not_warned_of(keytype: str, url: str) -> None:
    assert key_warnings(claims_of(splp_key(keytype)), url, NOW) == []


def test_an_expired_key_is_warned_of_in_wib() -> None:
    claims = claims_of(splp_key("PRODUCTION", expires=NOW - timedelta(hours=1)))

    assert key_warnings(claims, PRODUCTION, NOW) == [
        "LAPOR_SYNC_SPLP_KEY expired at 2026-12-07 09:00 WIB: the gateway will refuse it (900901); "
        "ask SPLP for a new key"
    ]


def test_a_key_expiring_within_two_weeks_is_warned_of_and_a_later_one_is_not() -> None:
    soon = claims_of(splp_key("PRODUCTION", expires=NOW + timedelta(days=13)))
    later = claims_of(splp_key("PRODUCTION", expires=NOW + timedelta(days=15)))

    assert key_warnings(soon, PRODUCTION, NOW) == [
        "LAPOR_SYNC_SPLP_KEY expires at 2026-12-20 10:00 WIB: ask SPLP for a new key before then"
    ]
    assert key_warnings(later, PRODUCTION, NOW) == []


def test_a_key_without_a_known_type_or_of_another_token_type_is_warned_of() -> None:
    warnings = key_warnings(claims_of(splp_key(None, token_type="JWT")), PRODUCTION, NOW)

    assert len(warnings) == 2
    assert "names no key type SANDBOX or PRODUCTION" in warnings[0]
    assert "token_type 'JWT', not 'apiKey'" in warnings[1]


# -- the report config show and the doctor print ------------------------------------------------------


def settings(**values: object) -> SimpleNamespace:
    return SimpleNamespace(**({"api_base_url": PRODUCTION, "auth_mode": "splp_key"} | values))


def test_the_report_names_the_mode_headers_claims_and_warnings_without_the_key() -> None:
    key = splp_key("SANDBOX", issued=NOW)

    report = connection_report(settings(splp_key=SecretStr(key)), NOW)

    assert report.auth_mode == "splp_key" and report.base_url_kind == "production"
    assert report.headers == {"Authorization": "LAPOR API key", "AuthorizationSPLP": "SPLP key", "token": "app token"}
    assert report.key_claims == KeyClaims("SANDBOX", "apiKey", NOW, None)
    assert len(report.warnings) == 1 and "SANDBOX key" in report.warnings[0]
    assert key not in repr(report) and key not in json.dumps(report.as_data(), default=str)


def test_the_report_says_an_unreadable_key_or_a_shared_header_instead_of_raising() -> None:
    unreadable = connection_report(settings(splp_key=SecretStr("garbage-key")), NOW)
    shared = connection_report(settings(splp_key_header="authorization"), NOW)

    assert unreadable.key_claims is None and unreadable.warnings[0].startswith(
        "LAPOR_SYNC_SPLP_KEY: not a readable JWT"
    )
    assert shared.headers == {}
    assert shared.warnings == [
        "LAPOR_SYNC_SPLP_KEY_HEADER: header 'authorization' would carry both the LAPOR API key and the SPLP key; "
        "give each credential a header of its own"
    ]


@pytest.mark.parametrize(
    ("values", "headers"),
    [
        ({"auth_mode": "static"}, {"Authorization": "LAPOR API key", "token": "app token"}),
        ({"auth_mode": "static", "auth_header_name": "auth"}, {"auth": "LAPOR API key", "token": "app token"}),
        (
            {"auth_mode": "oauth2", "oauth_token_header": "X-Gateway-Token"},
            {"X-Gateway-Token": "SPLP access token", "auth": "LAPOR API key", "token": "app token"},
        ),
    ],
)
def test_the_report_of_the_other_modes_has_no_key_claims(values: dict[str, object], headers: dict[str, str]) -> None:
    report = connection_report(settings(splp_key=SecretStr(splp_key("SANDBOX")), **values), NOW)

    assert (report.headers, report.key_claims, report.warnings) == (headers, None, [])
