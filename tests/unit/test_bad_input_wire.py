"""Bad input at the wire: texts made valid with their length kept, and records that cannot be stored set aside."""

from __future__ import annotations

import json

import pytest

from lapor_sync.adapters.national import wire
from lapor_sync.domain.complaint import MalformedRecord
from lapor_sync.domain.errors import MalformedRecordError
from lapor_sync.domain.text import ReceivedText, receive_text, valid_payload, valid_text
from tests.unit.test_national_wire import detail, followup

EMOJI_AND_HTML = "Jalan rusak 😟👍🏽 <b>segera</b> <script>alert(1)</script>\r\n&amp; \x07"


# -- the pure rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "stored"),
    [
        ("a\x00b\x00", "ab"),
        ("a\ud800b", "ab"),
        ("\udc00tail", "tail"),
        ("end\ud83d", "end"),
        ("\ud83d\ude00", "😀"),  # a pair split into two code points is one character, not two lone halves
        ("x\x00\ud800\x00y", "xy"),
    ],
)
def test_nul_and_lone_surrogates_are_removed(received: str, stored: str) -> None:
    assert valid_text(received) == stored
    assert receive_text(received) == ReceivedText(stored, len(received))
    stored.encode("utf-8")  # storable by every driver


def test_emoji_html_and_control_characters_are_kept_as_received() -> None:
    assert valid_text(EMOJI_AND_HTML) is EMOJI_AND_HTML
    assert receive_text(EMOJI_AND_HTML).received_length == len(EMOJI_AND_HTML)


def test_a_raw_payload_is_made_storable_keys_and_nesting_included() -> None:
    raw = {"a\x00": ["x\ud800", {"n": 1, "t": True, "z": None, "s": "\x00"}], "ok": 1.5}
    assert valid_payload(raw) == {"a": ["x", {"n": 1, "t": True, "z": None, "s": ""}], "ok": 1.5}


# -- complaints and follow-ups ---------------------------------------------------------------------


def test_nul_and_lone_surrogates_in_complaint_texts_are_removed_and_the_content_length_kept() -> None:
    results = detail(
        title="Judul\x00",
        content="Isi\x00 laporan \ud800!",
        category_name="Sosial\udfff",
        location_name="Jekan\x00Raya",
        user={"name": "Budi\x00", "email": None, "phone": "08\ud800"},
    )

    complaint, _ = wire.read_complaint_detail(results, 1916449)

    assert (complaint.title, complaint.content) == ("Judul", "Isi laporan !")
    assert complaint.content_length == len("Isi\x00 laporan \ud800!") == 15
    assert (complaint.category_name, complaint.location_name) == ("Sosial", "JekanRaya")
    assert complaint.reporter is not None and (complaint.reporter.name, complaint.reporter.phone) == ("Budi", "08")


def test_emoji_and_html_content_is_not_malformed_and_kept_as_received() -> None:
    complaint, _ = wire.read_complaint_detail(detail(content=EMOJI_AND_HTML, title="<i>😟</i>"), 1916449)
    assert (complaint.title, complaint.content, complaint.content_length) == (
        "<i>😟</i>",
        EMOJI_AND_HTML,
        len(EMOJI_AND_HTML),
    )


def test_a_70000_character_content_is_read_whole() -> None:
    content = ("Lubang jalan di Jl. Tjilik Riwut. " * 2100)[:70_000]
    complaint, _ = wire.read_complaint_detail(detail(content=content), 1916449)
    assert complaint.content == content and complaint.content_length == 70_000


def test_nul_in_followup_content_is_removed_and_its_length_kept() -> None:
    row = {**followup(1, "01-11-2024 10:00:00"), "content": "Sudah\x00 ditangani \ud800"}
    [entry] = wire.read_followups([row], 1916449)
    assert (entry.content, entry.content_length) == ("Sudah ditangani ", 18)


# -- what cannot be stored is set aside, never a crash ---------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"created_at": "31-02-2024 10:00:00"}, "data.created_at: not a real date and time"),
        ({"created_at": "99-99-9999 10:00:00"}, "data.created_at: not a real date and time"),
        ({"created_at": "99-99-9999"}, "data.created_at: expected a WIB timestamp"),
        ({"updated_at": "01-01-0001 00:00:00"}, "data.updated_at: not a real date and time"),  # before year 1 in UTC
        ({"created_at": "٠١-١١-٢٠٢٤ 10:00:00"}, "data.created_at: expected a WIB timestamp"),  # Arabic-Indic digits
        ({"status_code": 2**31}, "data.status_code: expected a whole number from 0 to 2147483647"),
        ({"status_code": "9" * 5000}, "data.status_code: expected a whole number"),
        ({"category_id": -(2**40)}, "data.category_id: expected a whole number from 0 to 2147483647"),
        ({"tracking_id": "1" * 33}, "data.tracking_id: expected at most 32 characters"),
    ],
)
def test_a_value_the_database_cannot_hold_sets_the_complaint_aside(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(MalformedRecordError) as caught:
        wire.read_complaint_detail(detail(**changes), 1916449)
    assert caught.value.reason.startswith(reason)
    for value in changes.values():  # the reason names the field, never the value
        assert str(value)[:12] not in caught.value.reason


def test_an_impossible_date_of_incident_is_read_as_unknown_not_malformed() -> None:
    complaint, _ = wire.read_complaint_detail(detail(date_of_incident="99-99-9999"), 1916449)
    assert complaint.date_of_incident is None  # shown only: unreadable is unknown (CONTRACT §4)


def test_a_set_aside_payload_carrying_nul_and_lone_surrogates_can_be_stored() -> None:
    with pytest.raises(MalformedRecordError) as caught:
        wire.read_complaint_detail(detail(status_code="abc", content="isi\x00\ud800", title="\udc00"), 1916449)
    raw = caught.value.raw
    assert raw["data"]["content"] == "isi" and raw["data"]["title"] == ""  # type: ignore[index]
    assert raw["data"]["status_code"] == "abc"  # type: ignore[index]  # what was wrong stays visible
    json.dumps(raw, ensure_ascii=False).encode("utf-8")


def test_an_inbox_row_with_an_unreadable_id_is_set_aside_with_no_id() -> None:
    row = wire.read_inbox_row({"complaint_id": "x", "updated_at": "31-10-2024 23:59:59", "content": "a\ud800"})
    assert isinstance(row, MalformedRecord) and row.complaint_id is None
    assert row.reason.startswith("inbox row complaint_id: expected a whole number")
    assert row.raw == {"complaint_id": "x", "updated_at": "31-10-2024 23:59:59", "content": "a"}


# -- bodies that are not the protocol --------------------------------------------------------------


def test_bytes_that_are_not_utf8_become_replacement_characters_not_a_protocol_error() -> None:
    body = b'{"results": {"data": {"content": "caf\xe9 \xed\xa0\x80"}}}'  # Latin-1 e-acute; CESU-8 surrogate
    assert wire.unwrap_envelope(body) == {"data": {"content": "caf\ufffd \ufffd\ufffd\ufffd"}}


def test_a_body_nested_too_deep_is_not_json_not_a_crash() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        wire.unwrap_envelope(b"[" * 100_000)


def test_an_error_message_with_nul_or_a_lone_surrogate_is_made_valid() -> None:
    assert wire.error_message(b'{"message": "Tidak \\u0000valid \\ud800!"}') == "Tidak valid !"
