"""The SPLP gateway's WSO2 faults: read in JSON and XML, classified by code, the layer named (CONTRACT §7 G1-G3)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from lapor_sync.adapters.national import classify, gateway_faults
from lapor_sync.adapters.national.wire import read_fault
from lapor_sync.domain.errors import (
    ItemRejectedError,
    Layer,
    NationalPlatformError,
    QuotaExceededError,
    RunStoppingError,
    TransientError,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
REQUEST = httpx.Request("GET", "https://api-splp.layanan.go.id/lapor/3.0.0/complaints/inbox")
KEY = "eyJhbGciOiJSUzI1NiJ9.splp-key-payload.signature"


def json_fault(code: object, message: str = "Invalid Credentials", description: str = "") -> bytes:
    return httpx.Response(200, json={"fault": {"code": code, "message": message, "description": description}}).content


def xml_fault(code: str, message: str = "Invalid Credentials", description: str = "") -> bytes:
    return (
        '<ams:fault xmlns:ams="http://wso2.org/apimanager/security">'
        f"<ams:code>{code}</ams:code><ams:message>{message}</ams:message>"
        f"<ams:description>{description}</ams:description></ams:fault>"
    ).encode()


def refusal(
    status: int, body: bytes, headers: dict[str, str] | None = None, *, write: bool = False
) -> NationalPlatformError:
    response = httpx.Response(status, content=body, headers=headers, request=REQUEST)
    return classify.error_for_status(response, body, write=write, now=NOW, credentials=(KEY,))


@pytest.mark.parametrize(
    "body",
    [json_fault(900901), json_fault("900901"), xml_fault("900901"), xml_fault(" 900901 ")],
    ids=["json-int", "json-string", "xml", "xml-spaced"],
)
def test_invalid_credentials_stop_the_run_naming_the_gateway_and_the_fix(body: bytes) -> None:
    error = refusal(401, body)

    assert isinstance(error, RunStoppingError)
    assert error.layer is Layer.GATEWAY and error.fault_code == 900901 and error.status == 401
    text = str(error)
    assert text.startswith("SPLP gateway refused: HTTP 401: fault 900901 invalid credentials; ")
    assert "LAPOR_SYNC_SPLP_KEY" in text and "SANDBOX key on a PRODUCTION URL" in text
    assert "\n" not in text


@pytest.mark.parametrize("code", [900901, 900902, 900903, 900904, 900905, 900906, 900908, 900909, 900910])
def test_the_faults_that_are_permanent_for_the_run(code: int) -> None:
    error = refusal(401 if code < 900906 else 403, json_fault(code))

    assert isinstance(error, RunStoppingError) and error.fault_code == code
    assert str(error).startswith("SPLP gateway refused: ")
    assert gateway_faults.FAULTS[code].fix in str(error)


def test_wrong_path_and_missing_subscription_name_their_fixes() -> None:
    assert "check the endpoint paths" in str(refusal(404, json_fault(900906, "No matching resource found")))
    for code in (900908, 900909):
        assert "not subscribed to this API" in str(refusal(403, json_fault(code)))


@pytest.mark.parametrize("code", [900900, 900907])
def test_unclassified_and_blocked_are_transient_even_for_a_write(code: int) -> None:
    error = refusal(503 if code == 900907 else 401, json_fault(code), write=True)

    # The gateway refused: LAPOR! never saw the write, so it is retried, never read back.
    assert type(error) is TransientError and error.layer is Layer.GATEWAY and error.fault_code == code


@pytest.mark.parametrize("code", [900800, "900802", 900807])
def test_throttling_without_retry_after_is_a_quota_wait(code: object) -> None:
    error = refusal(429, json_fault(code, "Message throttled out"), write=True)

    assert isinstance(error, QuotaExceededError) and error.layer is Layer.GATEWAY and error.retry_after is None
    assert str(error).startswith(f"SPLP gateway refused: HTTP 429: fault {code} Message throttled out; throttled")


def test_a_bare_429_without_retry_after_is_a_quota_wait_too_and_one_with_it_is_not() -> None:
    assert isinstance(refusal(429, b""), QuotaExceededError)
    with_delay = refusal(429, json_fault(900800), {"Retry-After": "5"})
    assert type(with_delay) is TransientError and with_delay.retry_after == 5


def test_unknown_code_is_kept_as_received_masked_and_classified_by_status() -> None:
    body = json_fault(909099, f"Bad key {KEY}", "call 0812-3456-7890")
    error = refusal(404, body)

    assert isinstance(error, ItemRejectedError) and error.layer is Layer.GATEWAY and error.fault_code == 909099
    assert str(error).startswith("SPLP gateway refused: HTTP 404: fault 909099 Bad key ***; call ")
    assert KEY not in str(error) and "0812-3456-7890" not in str(error)


def test_non_numeric_code_is_kept_as_text() -> None:
    error = refusal(401, xml_fault("AUTH_FAIL", "nope"))

    assert isinstance(error, RunStoppingError) and error.layer is Layer.GATEWAY and error.fault_code is None
    assert "fault AUTH_FAIL nope" in str(error)


def test_lapor_answers_are_the_lapor_layer() -> None:
    error = refusal(422, b'{"message": "status sudah Selesai"}', write=True)

    assert error.layer is Layer.LAPOR and error.fault_code is None
    assert str(error) == "LAPOR! refused: HTTP 422: status sudah Selesai"
    assert refusal(503, b"<html>busy</html>").layer is Layer.LAPOR


def test_no_secret_in_any_message() -> None:
    for code in [*gateway_faults.FAULTS, 900800, 909999]:
        for body in (json_fault(code, KEY, KEY), xml_fault(str(code), KEY, KEY)):
            assert KEY not in str(refusal(401, body))


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY x "900901">]><fault><code>&x;</code></fault>',
        b'<!DOCTYPE f SYSTEM "http://evil.example/f.dtd"><fault><code>900901</code></fault>',
        b"<fault><code>900901</code>",  # cut short
        b"<html><body>502 Bad Gateway</body></html>",
        b'{"fault": "none"}',
        b'{"fault": {"message": "no code"}}',
        b'{"message": "Unauthenticated"}',
        b"",
    ],
)
def test_what_is_not_a_fault_is_not_read_as_one(body: bytes) -> None:
    assert read_fault(body) is None


def test_a_fault_without_the_namespace_is_read() -> None:
    fault = read_fault(b"<fault><code>900906</code><message>No match</message></fault>")

    assert fault is not None and fault.code == 900906 and fault.message == "No match"
