"""The error classifier: each answer or failure, on a GET and on a write, gets the class CONTRACT §6 asks."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from lapor_sync.adapters.national import classify
from lapor_sync.domain.errors import (
    AmbiguousWriteError,
    ItemRejectedError,
    Layer,
    NationalPlatformError,
    RunStoppingError,
    TransientError,
)
from lapor_sync.domain.personal_data import EMAIL_MASK, PHONE_MASK

NOW = datetime(2024, 10, 31, 12, 0, tzinfo=UTC)
REQUEST = httpx.Request("POST", "https://api.example.invalid/lapor/3.0.0/complaints/followup/add")
HTML = b"<html><body>502 Bad Gateway</body></html>"


GOOD = b'{"results": {"data": 1}}'


def answer(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=body, headers=headers, request=REQUEST)


def status_error(
    status: int, body: bytes = b"", headers: dict[str, str] | None = None, *, write: bool
) -> NationalPlatformError:
    """``error_for_status`` on an answer with ``body``, read as the client reads it."""
    return classify.error_for_status(answer(status, body, headers), body, write=write, now=NOW)


@pytest.mark.parametrize(
    ("status", "body", "headers", "on_get", "on_write"),
    [
        (302, b"", {"Location": "/login"}, RunStoppingError, RunStoppingError),  # never followed, never retried
        (307, b"", {"Location": "https://elsewhere.example/"}, RunStoppingError, RunStoppingError),
        (400, b'{"message": "content wajib diisi"}', None, ItemRejectedError, ItemRejectedError),
        (404, b'{"message": "Not found"}', None, ItemRejectedError, ItemRejectedError),
        (422, b'{"message": "status sudah Selesai"}', None, ItemRejectedError, ItemRejectedError),
        (401, b'{"message": "Unauthenticated"}', None, RunStoppingError, RunStoppingError),
        (403, b'{"message": "Forbidden"}', None, RunStoppingError, ItemRejectedError),
        (408, b"", None, TransientError, AmbiguousWriteError),
        (429, b"", {"Retry-After": "3"}, TransientError, TransientError),
        (500, b'{"message": "Server Error"}', None, TransientError, AmbiguousWriteError),
        (502, HTML, None, TransientError, AmbiguousWriteError),
        (503, HTML, {"Retry-After": "30"}, TransientError, TransientError),
        (503, HTML, None, TransientError, AmbiguousWriteError),
        (504, HTML, None, TransientError, AmbiguousWriteError),
    ],
)
def test_status_classes_on_get_and_write(
    status: int, body: bytes, headers: dict[str, str] | None, on_get: type, on_write: type
) -> None:
    on_get_error = status_error(status, body, headers, write=False)
    on_write_error = status_error(status, body, headers, write=True)

    assert type(on_get_error) is on_get and on_get_error.status == status
    assert type(on_write_error) is on_write and on_write_error.status == status


def test_rejection_carries_the_servers_message() -> None:
    body = b'{"message": "status tidak dapat diubah", "errors": {"status_code": ["invalid"]}}'
    error = status_error(422, body, write=True)
    assert error.detail == "status tidak dapat diubah (fields: status_code)"
    assert str(error) == "LAPOR! refused: HTTP 422: status tidak dapat diubah (fields: status_code)"
    assert error.layer is Layer.LAPOR and error.fault_code is None


def test_gateway_html_is_not_quoted() -> None:
    error = status_error(502, HTML, write=False)
    assert "<html>" not in str(error) and error.detail == "Bad Gateway"


def test_401_never_quotes_the_body() -> None:
    error = status_error(401, b'{"message": "bad key sim-api-key"}', write=False)
    assert "sim-api-key" not in str(error)


def test_retry_after_is_carried_in_seconds() -> None:
    error = status_error(429, headers={"Retry-After": "7"}, write=True)
    assert isinstance(error, TransientError) and error.retry_after == 7.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Thu, 31 Oct 2024 12:01:30 GMT", 90.0),
        ("Thu, 31 Oct 2024 12:01:30 -0000", 90.0),
        ("Thu, 31 Oct 2024 11:00:00 GMT", 0.0),  # already past: do not wait
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_retry_after_in_both_forms(value: str | None, seconds: float | None) -> None:
    assert classify.parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    ("failure", "on_write"),
    [
        (httpx.ConnectError("refused"), TransientError),
        (httpx.ConnectTimeout("slow"), TransientError),
        (httpx.PoolTimeout("busy"), TransientError),
        (httpx.ReadTimeout("no answer"), AmbiguousWriteError),
        (httpx.WriteTimeout("stalled"), AmbiguousWriteError),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), AmbiguousWriteError),
        (httpx.ReadError("reset"), AmbiguousWriteError),
    ],
)
def test_transport_failures(failure: httpx.TransportError, on_write: type) -> None:
    assert type(classify.transport_error(failure, write=False)) is TransientError
    assert type(classify.transport_error(failure, write=True)) is on_write


@pytest.mark.parametrize("body", [HTML, b"", b'{"results": null, "message": "Data not found"}'])
def test_a_200_that_is_not_the_protocol(body: bytes) -> None:
    with pytest.raises(TransientError) as on_get:
        classify.check_response(answer(200, body), body, write=False, now=NOW)
    with pytest.raises(AmbiguousWriteError):
        classify.check_response(answer(200, body), body, write=True, now=NOW)
    assert type(on_get.value) is TransientError and "protocol error" in str(on_get.value)


def test_a_good_answer_gives_its_results() -> None:
    assert classify.check_response(answer(200, GOOD), GOOD, write=True, now=NOW) == {"data": 1}


def test_a_transport_failure_names_the_host_and_the_setting_but_no_credentials() -> None:
    request = httpx.Request("GET", "https://user:s3cret@api.example.go.id:8443/lapor/3.0.0/complaints/inbox")
    error = classify.transport_error(httpx.ConnectError("proxy http://u:p@proxy failed", request=request), write=False)
    assert "api.example.go.id:8443" in str(error) and "LAPOR_SYNC_API_BASE_URL" in str(error)
    assert "s3cret" not in str(error) and "proxy" not in str(error)


PHONE, EMAIL = "0812-3456-7890", "budi.santoso@gmail.com"  # fictitious


def test_a_reason_phrase_is_masked_and_stripped_of_credentials_like_a_message() -> None:
    request = httpx.Request("GET", "https://splp.test/lapor/3.0.0/complaints/7/complaint")
    response = httpx.Response(
        422,
        request=request,
        content=b"<html>refused</html>",
        extensions={"reason_phrase": f"Pelapor {PHONE} {EMAIL} key sim-api-key-1234".encode()},
    )

    error = classify.error_for_status(
        response, response.content, write=False, now=datetime.now(UTC), credentials=["sim-api-key-1234"]
    )

    assert isinstance(error, ItemRejectedError)
    assert str(error) == f"LAPOR! refused: HTTP 422: Pelapor {PHONE_MASK} {EMAIL_MASK} key ***"
