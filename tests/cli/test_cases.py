"""The ``case`` group: listing, showing (with personal data only on request) and the agency actions."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, update

from lapor_sync.adapters.city.builtin import CaseNotFound
from lapor_sync.domain.actions import ActionRefused
from lapor_sync.storage.models import Case
from tests.support.cli import (
    PERSONAL,
    SECRET_CONTENT,
    SECRET_TITLE,
    Seeded,
    cli_env,
    invoke,
    invoke_json,
    outbox_row,
    seeded,
)

__all__ = ["cli_env", "seeded"]  # fixtures


def test_list_newest_first_with_filters_and_secret_titles_hidden(seeded: Seeded) -> None:
    cases = invoke_json("case", "list")

    assert [c["id"] for c in cases] == [seeded.triage_case, seeded.secret_case, seeded.public_case]
    secret = cases[1]
    assert (secret["is_secret"], secret["title"], secret["agency_code"]) == (True, None, "DINKES")
    assert cases[2]["title"] == "Bantuan sosial"
    assert [c["id"] for c in invoke_json("case", "list", "--agency", "dinsos")] == [seeded.public_case]
    assert [c["id"] for c in invoke_json("case", "list", "--state", "new")] == [seeded.secret_case]
    assert len(invoke_json("case", "list", "--open")) == 3
    assert len(invoke_json("case", "list", "--limit", "1")) == 1
    table = invoke("case", "list")
    assert "(rahasia)" in table.stdout and "#1900002" in table.stdout


def test_list_searches_words_and_tracking_ids_never_reporters_or_confidential_text(seeded: Seeded) -> None:
    # the title of one case, the content of two (the triage case kept the factory's content)
    assert [c["id"] for c in invoke_json("case", "list", "--search", "SOSIAL")] == [seeded.public_case]
    assert [c["id"] for c in invoke_json("case", "list", "--search", "belum diterima")] == [
        seeded.triage_case,
        seeded.public_case,
    ]
    assert [c["id"] for c in invoke_json("case", "list", "--tracking-id", "#1900002")] == [seeded.secret_case]
    assert invoke_json("case", "list", "--search", "pungli") == []  # the confidential title's word
    for personal in PERSONAL:
        assert invoke_json("case", "list", "--search", personal) == []


def test_show_hides_reporter_and_confidential_text_unless_asked(seeded: Seeded) -> None:
    plain = invoke("case", "show", str(seeded.secret_case))
    assert plain.exit_code == 0
    for hidden in (*PERSONAL, SECRET_TITLE, SECRET_CONTENT):
        assert hidden not in plain.stdout
    assert "--show-reporter" in plain.stdout and "--show-confidential" in plain.stdout

    detail = invoke_json("case", "show", "#1900002")
    assert (detail["reporter"], detail["case"]["title"], detail["case"]["content"]) == (None, None, None)

    full = invoke_json("case", "show", "--complaint-id", "3100002", "--show-reporter", "--show-confidential")
    assert full["reporter"] == {"name": "Siti Rahasia", "email": "siti@contoh.id", "phone": "0813-9999-0000"}
    assert (full["case"]["title"], full["case"]["content"]) == (SECRET_TITLE, SECRET_CONTENT)


def test_show_gives_fields_thread_and_outbox_in_utc(seeded: Seeded) -> None:
    detail = invoke_json("case", "show", "--tracking-id", "1900001")

    case = detail["case"]
    assert (case["id"], case["agency_code"], case["agency_name"]) == (seeded.public_case, "DINSOS", "Dinas Sosial")
    assert case["routing_rule"] == "institution:627104"
    assert case["dispositioned_at"] == "2024-07-01T02:00:00+00:00"
    assert [(e["origin"], e["author_type"]) for e in detail["thread"]] == [
        ("national", "pelapor"),
        ("agency", "instansi"),
    ]
    assert detail["thread"][1]["content"] == "Petugas akan survei lokasi."
    assert [(o["id"], o["kind"], o["state"]) for o in detail["outbox"]] == [
        (seeded.pending_outbox, "followup", "pending")
    ]
    table = invoke("case", "show", "1")
    assert "2024-07-01 09:00 WIB" in table.stdout and "(hidden: add --show-reporter)" in table.stdout


def test_show_of_an_anonymous_case_has_no_reporter_even_when_asked(seeded: Seeded) -> None:
    detail = invoke_json("case", "show", str(seeded.triage_case), "--show-reporter")

    assert detail["reporter"] is None and detail["case"]["is_anonymous"] is True
    assert "(anonim)" in invoke("case", "show", str(seeded.triage_case), "--show-reporter").stdout


def test_show_needs_exactly_one_way_to_name_the_case(seeded: Seeded) -> None:
    assert invoke("case", "show").exit_code == 2
    assert invoke("case", "show", "1", "--complaint-id", "3100001").exit_code == 2
    assert invoke("case", "show", "abc").exit_code == 2
    assert isinstance(invoke("case", "show", "999").exception, CaseNotFound)


def test_followup_then_complete_queue_outbox_rows_as_the_agency_sub_unit(seeded: Seeded) -> None:
    result = invoke("case", "followup", "#1900002", "--text", "Sedang ditinjau.", "--secret")

    assert result.exit_code == 0, result.output
    assert "queued as outbox #" in result.stdout and "next `lapor-sync sync`" in result.stdout
    followup_id = int(result.stdout.split("outbox #")[1].split(";")[0])
    row = outbox_row(seeded.url, followup_id)
    assert (row.kind, row.state, row.payload["institution_id"], row.payload["is_secret"]) == (
        "followup",
        "pending",
        627111,
        True,
    )  # DINKES's national sub-unit
    assert invoke_json("case", "show", "2")["case"]["state"] == "in_progress"

    done = invoke("case", "complete", "2", "--note", "Sudah ditangani.")
    assert done.exit_code == 0
    completed = outbox_row(seeded.url, followup_id + 1)
    assert (completed.kind, completed.payload["status_code"], completed.payload["note"]) == (
        "complete",
        3,
        "Sudah ditangani.",
    )
    assert invoke_json("case", "show", "2")["case"]["state"] == "completed"


@pytest.mark.parametrize(
    ("ref", "flag", "confidential"),
    [
        ("#1900002", None, True),  # the confidential complaint: its follow-up too, unless asked
        ("#1900002", "--public", False),
        ("#1900001", None, False),  # a public complaint
        ("#1900001", "--secret", True),
    ],
)
def test_a_followup_is_as_confidential_as_its_complaint_unless_told(
    seeded: Seeded, ref: str, flag: str | None, confidential: bool
) -> None:
    result = invoke("case", "followup", ref, "--text", "Sedang ditinjau.", *([flag] if flag else []))

    assert result.exit_code == 0, result.output
    row = outbox_row(seeded.url, int(result.stdout.split("outbox #")[1].split(";")[0]))
    assert row.payload["is_secret"] is confidential


def test_complete_without_followup_and_actions_on_closed_cases_are_refused(seeded: Seeded) -> None:
    db_rows_before = invoke_json("outbox")
    refused = invoke("case", "complete", str(seeded.secret_case), "--note", "x")

    assert isinstance(refused.exception, ActionRefused)
    assert invoke_json("outbox") == db_rows_before  # nothing queued

    invoke("case", "followup", "2", "--text", "Ditangani.")
    invoke("case", "complete", "2", "--note", "Selesai.")
    closed = invoke("case", "followup", "2", "--text", "Lagi.")
    assert isinstance(closed.exception, ActionRefused) and "completed" in str(closed.exception)


def test_return_queues_a_reject_request_and_leaves_the_case_open(seeded: Seeded) -> None:
    result = invoke("case", "return", "#1900001", "--reason", "Mohon lampirkan foto lokasi.")

    assert result.exit_code == 0
    assert "stays open" in result.stdout
    row = invoke_json("outbox")[-1]
    stored = outbox_row(seeded.url, row["id"])
    assert (stored.kind, stored.payload["not_authority"], stored.payload["reason"]) == (
        "return",
        False,
        "Mohon lampirkan foto lokasi.",
    )
    assert invoke_json("case", "show", "1")["case"]["state"] == "in_progress"


def test_forward_to_a_known_outside_institution(seeded: Seeded) -> None:
    result = invoke("case", "forward", "1", "--to", "9001", "--reason", "Tindak pidana.")

    assert result.exit_code == 0 and "warning" not in result.output
    stored = outbox_row(seeded.url, invoke_json("outbox")[-1]["id"])
    assert (stored.kind, stored.payload["not_authority"], stored.payload["target_institution_id"]) == (
        "forward",
        True,
        9001,
    )


def test_forward_to_an_unknown_institution_warns_and_to_the_city_is_refused(seeded: Seeded) -> None:
    unknown = invoke("case", "forward", "1", "--to", "1234", "--reason", "Wewenang instansi lain.")
    assert unknown.exit_code == 0
    assert "not an outside institution" in unknown.stderr

    for city in ("6271", "627103"):
        refused = invoke("case", "forward", "1", "--to", city, "--reason", "x")
        assert isinstance(refused.exception, ActionRefused)


@pytest.mark.parametrize(
    "args",
    [
        ["case", "followup", "1", "--text", "   "],
        ["case", "return", "abc", "--reason", "x"],
        ["case", "forward", "1", "--to", "0", "--reason", "x"],
        ["case", "complete", "1"],
    ],
)
def test_bad_arguments_exit_2_before_anything_is_queued(seeded: Seeded, args: list[str]) -> None:
    before = invoke_json("outbox")
    assert invoke(*args).exit_code == 2
    assert invoke_json("outbox") == before


def test_review_case_list_and_log_keep_tracking_ids_whole_at_80_columns(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    listing = invoke("case", "list")
    log = invoke("log")

    assert listing.exit_code == 0 and log.exit_code == 0
    tracking_ids = {
        line.split("│")[2].strip()
        for line in listing.stdout.splitlines()
        if line.startswith("│") and line.split("│")[1].strip()
    }
    assert tracking_ids and all(t.startswith("#") and "…" not in t for t in tracking_ids)
    assert all(f" {t} " in log.stdout for t in tracking_ids)


def test_a_tracking_id_typed_without_hash_finds_its_case_when_no_case_has_that_id(seeded: Seeded) -> None:
    result = invoke("case", "show", "1900002", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["case"]["id"] == seeded.secret_case
    assert "taking the case of tracking id #1900002" in result.stderr


def test_a_number_that_is_neither_id_says_how_a_tracking_id_is_written(seeded: Seeded) -> None:
    result = invoke("case", "show", "1916449")

    assert isinstance(result.exception, CaseNotFound)
    assert "a tracking id is written '#1916449'" in str(result.exception)


def test_a_number_that_is_both_a_case_id_and_a_tracking_id_is_the_case_id_with_a_note(seeded: Seeded) -> None:
    engine = create_engine(seeded.url)
    with engine.begin() as connection:
        connection.execute(
            update(Case).where(Case.id == seeded.triage_case).values(tracking_id=str(seeded.public_case))
        )
    engine.dispose()

    result = invoke("case", "show", str(seeded.public_case), "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["case"]["id"] == seeded.public_case
    assert f"for the case of tracking id #{seeded.public_case}, write '#{seeded.public_case}'" in result.stderr
