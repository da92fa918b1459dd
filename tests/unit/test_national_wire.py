"""The national wire format: WIB timestamps, complaint and follow-up records, malformed records."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from lapor_sync.adapters.national import wire
from lapor_sync.domain.complaint import AuthorType, InboxItem, MalformedRecord, Reporter
from lapor_sync.domain.errors import MalformedRecordError

REPORTER_NAME = "Budi Fiktif"
REPORTER_EMAIL = "budi.fiktif@example.invalid"
REPORTER_PHONE = "0800-0000-1111"

COMPLAINT = {
    "complaint_id": 1916449,
    "tracking_id": 1916449,
    "title": "Jalan berlubang di Jl. Tjilik Riwut",
    "content": "Lubang besar 😟\r\n<b>mohon</b> diperbaiki",
    "classification_id": "2",
    "classification_name": "Pengaduan",
    "category_id": 23,
    "category_name": "Pekerjaan Umum dan Penataan Ruang",
    "status_code": 1,
    "status_name": "Terverifikasi",
    "disposition_id": 627101,
    "disposition_name": "Dinas Pekerjaan Umum dan Penataan Ruang",
    "is_anonymous": 0,
    "is_secret": "1",
    "is_priority": True,
    "channel": 1,
    "channel_name": "Website",
    "location_id": "",
    "location_name": "Jekan Raya",
    "date_of_incident": "30-10-2024",
    "created_at": "31-10-2024 08:00:00",
    "updated_at": "31-10-2024 23:59:59",
    "user": {"name": REPORTER_NAME, "email": REPORTER_EMAIL, "phone": REPORTER_PHONE},
    "attachments": [{"id": 7, "file_name": "foto.jpg", "extension": "jpg", "path": "/files/foto.jpg"}],
    "status_logs": [
        {"status_code": 1, "status_name": "Terverifikasi", "note": None, "timestamp": "31-10-2024 09:00:00"},
        {"status_code": 0, "status_name": "Belum Terverifikasi", "note": "masuk", "timestamp": "31-10-2024 08:00:00"},
    ],
}


def followup(followup_id: int, created_at: str, user_type: str = "instansi") -> dict[str, object]:
    """A follow-up row as the platform sends it."""
    return {
        "id": followup_id,
        "complaint_id": 1916449,
        "user_type": user_type,
        "institution_from_id": 627101,
        "institution_from_name": "Dinas PUPR",
        "content": f"tindak lanjut {followup_id}",
        "rating": None,
        "is_secret": 0,
        "attachments": [],
        "created_at": created_at,
    }


def detail(**changes: object) -> dict[str, object]:
    """``results`` of the detail endpoint, with the complaint's fields changed as given."""
    data = copy.deepcopy(COMPLAINT)
    data.update(changes)
    return {"data": data, "data_logs": []}


def test_wib_timestamp_is_read_as_utc() -> None:
    assert wire.parse_wib_datetime("31-10-2024 23:59:59") == datetime(2024, 10, 31, 16, 59, 59, tzinfo=UTC)
    assert wire.parse_wib_datetime("01-01-2025 03:00:00") == datetime(2024, 12, 31, 20, 0, tzinfo=UTC)


def test_date_only_is_a_calendar_date() -> None:
    assert wire.parse_wib_date("31-10-2024") == date(2024, 10, 31)


@pytest.mark.parametrize("text", ["2024-10-31 23:59:59", "31-10-2024", "31-10-2024 23:59", "", None, 1730393999])
def test_wrong_timestamp_formats_are_refused(text: object) -> None:
    with pytest.raises(ValueError, match="DD-MM-YYYY HH:MM:SS"):
        wire.parse_wib_datetime(text)


@pytest.mark.parametrize(
    "text",
    [
        "00-01-2024 10:00:00",
        "29-02-2023 10:00:00",
        "01-13-2024 10:00:00",
        "31-10-2024 24:00:00",
        "31-10-2024 23:60:00",
        "31-10-2024 23:59:60",
        "01-01-0000 10:00:00",
    ],
)
def test_timestamps_of_no_real_instant_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a real date and time"):
        wire.parse_wib_datetime(text)


def test_query_timestamp_is_written_in_wib_rounded_down() -> None:
    instant = datetime(2024, 10, 31, 16, 59, 59, 900_000, tzinfo=UTC)
    assert wire.format_wib_datetime(instant) == "31-10-2024 23:59:59"
    assert wire.format_wib_datetime(instant.astimezone(timezone(timedelta(hours=-5)))) == "31-10-2024 23:59:59"
    with pytest.raises(ValueError, match="aware"):
        wire.format_wib_datetime(datetime(2024, 10, 31, 16, 59, 59))  # noqa: DTZ001 - the point of the test


def test_complaint_detail_becomes_domain_objects() -> None:
    complaint, status_log = wire.read_complaint_detail(detail(), 1916449)

    assert complaint.complaint_id == 1916449
    assert complaint.tracking_id == "1916449"
    assert complaint.content == COMPLAINT["content"]  # kept as received, emoji and all
    assert complaint.updated_at == datetime(2024, 10, 31, 16, 59, 59, tzinfo=UTC)
    assert complaint.created_at.tzinfo is UTC
    assert (complaint.is_anonymous, complaint.is_secret, complaint.is_priority) == (False, True, True)
    assert complaint.classification_id == 2 and complaint.location_id is None
    assert complaint.date_of_incident == date(2024, 10, 30)
    assert complaint.reporter == Reporter(REPORTER_NAME, REPORTER_EMAIL, REPORTER_PHONE)
    assert [attachment.file_name for attachment in complaint.attachments] == ["foto.jpg"]
    assert [entry.status_code for entry in status_log] == [0, 1]  # time order, whatever the wire's order
    assert status_log[0].at == datetime(2024, 10, 31, 1, 0, tzinfo=UTC)


def test_anonymous_complaint_has_no_reporter_even_if_the_wire_sends_one() -> None:
    complaint, _ = wire.read_complaint_detail(detail(is_anonymous=1), 1916449)
    assert complaint.is_anonymous is True
    assert complaint.reporter is None


def test_lenient_fields_do_not_set_a_complaint_aside() -> None:
    complaint, status_log = wire.read_complaint_detail(
        detail(user=[], attachments=None, status_logs=None, date_of_incident="kemarin", title=None, is_priority=False),
        1916449,
    )
    assert complaint.reporter is None
    assert complaint.attachments == () and status_log == ()
    assert complaint.date_of_incident is None and complaint.title == ""


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"updated_at": "2024-10-31T16:59:59Z"}, "data.updated_at"),
        ({"status_code": "Selesai"}, "data.status_code"),
        ({"status_code": 1.5}, "data.status_code"),
        ({"disposition_id": True}, "data.disposition_id"),
        ({"is_anonymous": 2}, "data.is_anonymous"),
        ({"complaint_id": None}, "data.complaint_id"),
    ],
)
def test_fields_that_drive_decisions_are_strict(changes: dict[str, object], field: str) -> None:
    with pytest.raises(MalformedRecordError) as caught:
        wire.read_complaint_detail(detail(**changes), 1916449)
    assert caught.value.reason.startswith(field)
    assert caught.value.complaint_id == 1916449
    expected = detail(**changes)
    expected["data"]["user"] = {key: "(removed)" for key in expected["data"]["user"]}  # type: ignore[index]
    assert caught.value.raw == expected  # kept for inspection, without the reporter's identity


def test_missing_disposition_key_is_malformed_not_forwarded() -> None:
    results = detail()
    del results["data"]["disposition_id"]  # type: ignore[attr-defined]
    with pytest.raises(MalformedRecordError, match="disposition_id"):
        wire.read_complaint_detail(results, 1916449)


def test_malformed_reason_never_quotes_personal_data() -> None:
    bad_user = {"name": {"first": REPORTER_NAME}, "email": REPORTER_EMAIL, "phone": REPORTER_PHONE}
    with pytest.raises(MalformedRecordError) as caught:
        wire.read_complaint_detail(detail(user=bad_user, updated_at=REPORTER_PHONE), 1916449)
    reason = caught.value.reason
    assert "data.user.name" in reason and "data.updated_at" in reason
    for value in (REPORTER_NAME, REPORTER_EMAIL, REPORTER_PHONE):
        assert value not in reason and value not in str(caught.value)


def test_detail_of_another_complaint_is_malformed() -> None:
    with pytest.raises(MalformedRecordError, match="not the complaint asked for"):
        wire.read_complaint_detail(detail(), 42)


def test_inbox_rows_are_read_or_set_aside() -> None:
    good = wire.read_inbox_row({"complaint_id": "12", "updated_at": "31-10-2024 23:59:59", "title": "x"})
    bad = wire.read_inbox_row({"complaint_id": 13, "updated_at": "yesterday"})
    garbage = wire.read_inbox_row("<tr>")

    assert good == InboxItem(complaint_id=12, updated_at=datetime(2024, 10, 31, 16, 59, 59, tzinfo=UTC))
    assert isinstance(bad, MalformedRecord) and bad.complaint_id == 13
    assert "updated_at" in bad.reason and bad.raw == {"complaint_id": 13, "updated_at": "yesterday"}
    assert isinstance(garbage, MalformedRecord) and garbage.complaint_id is None


def test_followups_are_sorted_by_time_then_id() -> None:
    rows = [
        followup(9, "01-11-2024 10:00:00"),
        followup(3, "01-11-2024 10:00:00", "pelapor"),
        followup(5, "31-10-2024 10:00:00"),
    ]
    thread = wire.read_followups(rows, 1916449)

    assert [entry.national_id for entry in thread] == [5, 3, 9]
    assert thread[1].author_type is AuthorType.REPORTER
    assert thread[0].rating == 0 and thread[0].is_secret is False
    assert thread[0].created_at == datetime(2024, 10, 31, 3, 0, tzinfo=UTC)


def test_a_bad_followup_names_its_index_and_field() -> None:
    rows = [followup(1, "01-11-2024 10:00:00"), followup(2, "01-11-2024 10:00:00", "robot")]
    with pytest.raises(MalformedRecordError, match=r"followups\.1\.user_type"):
        wire.read_followups(rows, 1916449)


def test_envelope_and_error_bodies() -> None:
    assert wire.unwrap_envelope(b'{"results": {"data": []}}') == {"data": []}
    for body in (b"<html>Bad Gateway</html>", b"", b'{"results": null, "message": "oops"}', b"[1]"):
        with pytest.raises(ValueError, match=r"not JSON|no 'results'"):
            wire.unwrap_envelope(body)
    assert (
        wire.error_message(b'{"message": "Invalid", "errors": {"content": ["required"]}}')
        == "Invalid (fields: content)"
    )
    assert wire.error_message(b"<html>") is None


def test_paginator_and_plain_lists() -> None:
    page = wire.read_page({"current_page": 2, "last_page": 3, "next_page_url": "http://x/?page=3", "data": [1]})
    assert (page.current_page, page.next_page_url, page.data) == (2, "http://x/?page=3", [1])
    assert wire.read_page([{"id": 1}]).next_page_url is None
    with pytest.raises(ValueError, match="not a paginator"):
        wire.read_page({"items": []})


def test_categories_accept_the_old_field_names() -> None:
    categories = wire.read_categories(
        [{"id": 1, "name": "Agama", "parent_id": 0}, {"id": "2", "topic_name": "Bantuan Masyarakat", "parent": None}]
    )
    assert categories == [wire.Category(1, "Agama", 0), wire.Category(2, "Bantuan Masyarakat", 0)]
