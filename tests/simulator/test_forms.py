"""The simulator's form reader: multipart bodies as httpx and lapor-sync send them, URL-encoded ones, refusals."""

from __future__ import annotations

import httpx
import pytest

from lapor_sync.simulator.forms import FormError, parse_form

PART = b'--x\r\nContent-Disposition: form-data; name="a"\r\n'


def encoded(**kwargs: object) -> tuple[str, bytes]:
    """The Content-Type and body httpx sends for a POST with these ``data``/``files``."""
    request = httpx.Request("POST", "http://127.0.0.1/", **kwargs)  # type: ignore[arg-type]
    return request.headers["Content-Type"], request.read()


def test_fields_sent_as_file_less_parts_are_read_with_their_line_breaks_and_non_ascii_text() -> None:
    # lapor-sync sends every field as a (None, value) part (adapters/national/client.py).
    content = 'Halo ✓\r\nbaris "dua" --batas'
    content_type, body = encoded(files={"complaint_id": (None, "3100001"), "content": (None, content)})
    form = parse_form(content_type, body)
    assert form.fields == {"complaint_id": "3100001", "content": content}
    assert form.file_names == []


def test_files_give_their_names_and_their_content_is_dropped() -> None:
    files = [("attachments[]", ("foto_1.jpg", b"\xff\x00\r\n--x\r\n", "image/jpeg")), ("attachments[]", ("b.pdf", b""))]
    content_type, body = encoded(data={"rating": "0", "empty": ""}, files=files)
    form = parse_form(content_type, body)
    assert form.fields == {"rating": "0", "empty": ""}
    assert form.file_names == ["foto_1.jpg", "b.pdf"]


def test_a_quoted_boundary_and_a_preamble_are_read() -> None:
    body = b'preamble\r\n--a b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--a b--\r\n'
    assert parse_form('multipart/form-data; boundary="a b"', body).fields == {"x": "1"}


def test_url_encoded_bodies_are_read() -> None:
    content_type, body = encoded(data={"content": "a b&c", "blank": ""})
    assert parse_form(content_type, body).fields == {"content": "a b&c", "blank": ""}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"{}"),
        ("multipart/form-data", b"--x\r\n\r\n--x--"),  # no boundary
        ("multipart/form-data; boundary=x", b""),
        ("multipart/form-data; boundary=x", PART + b"\r\n1\r\n"),  # not closed
        ("multipart/form-data; boundary=x", PART + b"--x--"),  # no blank line after the headers
    ],
)
def test_unreadable_bodies_are_refused(content_type: str, body: bytes) -> None:
    with pytest.raises(FormError):
        parse_form(content_type, body)
